//! One EADER training step (method.md, "Losses" and "Training schedule").
//!
//! The forward pass is shared by both phases: localizer features and logits,
//! BCE, the (image, positive class) pairs, attention maps (Grad-CAM via the
//! no-backward path for GAP + linear heads, CAM through the head's weight),
//! upsampling and min-max normalisation, the soft mask and the erased images,
//! and the classifier of the erased images (the adversarial, or the localizer
//! itself with shared weights). Both networks run in training mode in every
//! step, so both update their BatchNorm statistics whichever one is optimized.
//!
//! - Localizer phase: `loss = BCE + beta * mean(g) + alpha * am`; one backward
//!   pass carries the gradient of `am` through the adversarial and the mask
//!   into the localizer; only the localizer's optimizer steps (the adversarial
//!   runs frozen, `Classifier::frozen`: its weight gradients are not computed).
//! - Adversarial phase: the localizer's outputs are detached before the maps
//!   are built, so no graph reaches the localizer; `loss = BCE(adversarial on
//!   erased images, the images' full labels)`; only the adversarial steps.

use candle::{DType, Tensor};
use eader_models::attention::{attention_maps, Pairs};
use eader_models::AttentionKind;
use eader_models::Classifier;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::losses::{attention_mining, bce_with_logits};
use crate::optim::Optimizer;
use crate::schedule::Phase;

/// The loss weights and mask parameters of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepConfig {
    /// Weight of the attention-mining loss.
    pub alpha: f64,
    /// Weight of the area regularization.
    pub beta: f64,
    /// Steepness of the soft mask.
    pub omega: f64,
    /// Threshold of the soft mask.
    pub sigma: f64,
    /// CAM or Grad-CAM.
    pub attention: AttentionKind,
}

/// Who classifies the erased images.
#[derive(Debug, Clone, Copy)]
pub enum Eraser<'a> {
    /// Nobody: the localizer trains on BCE + beta reg alone.
    None,
    /// A separate adversarial network.
    Adversarial(&'a Classifier),
    /// The localizer itself (`share_weights`).
    SharedWeights,
}

/// The scalar results of a step; logged as part of
/// [`crate::logging::StepRecord`] under the same keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// The network that was updated.
    pub phase: Phase,
    /// Localizer BCE.
    pub loss_cls: f64,
    /// Mean of the normalised maps (before its weight beta).
    pub loss_reg: f64,
    /// Attention-mining loss, when erased images were classified.
    pub loss_am: Option<f64>,
    /// Adversarial BCE on the erased images, with an adversarial network.
    pub loss_adv: Option<f64>,
    /// The optimized loss.
    pub loss: f64,
    /// Number of (image, class) pairs (not logged).
    #[serde(skip)]
    pub pairs: usize,
}

impl StepOutput {
    /// The named terms, for the NaN guard and logs.
    pub fn terms(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![("loss_cls", self.loss_cls), ("loss_reg", self.loss_reg)];
        if let Some(am) = self.loss_am {
            out.push(("loss_am", am));
        }
        if let Some(adv) = self.loss_adv {
            out.push(("loss_adv", adv));
        }
        out.push(("loss", self.loss));
        out
    }
}

/// Everything the forward pass of a batch produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Localizer logits `(B, K)`.
    pub logits: Tensor,
    /// Localizer BCE (scalar).
    pub loss_cls: Tensor,
    /// The batch's (image, class) pairs.
    pub pairs: Pairs,
    /// Normalised attention maps `(P, H, W)`.
    pub maps: Tensor,
    /// `mean(maps)` (scalar).
    pub reg: Tensor,
    /// Soft masks `(P, H, W)`, when erased images were built.
    pub masks: Option<Tensor>,
    /// Erased images `(P, 3, H, W)`, when built.
    pub erased: Option<Tensor>,
    /// Logits of the erased images `(P, K)`, when classified.
    pub erased_logits: Option<Tensor>,
    /// Attention-mining loss (scalar), when erased images were classified.
    pub am: Option<Tensor>,
    /// Adversarial BCE against the pairs' full labels (scalar), with an adversarial.
    pub loss_adv: Option<Tensor>,
}

impl<'a> Eraser<'a> {
    /// The eraser of a run: its adversarial network when it has one, else the
    /// localizer itself with `share_weights`, else nobody.
    pub fn new(adversarial: Option<&'a Classifier>, share_weights: bool) -> Self {
        match (adversarial, share_weights) {
            (Some(adv), _) => Eraser::Adversarial(adv),
            (None, true) => Eraser::SharedWeights,
            (None, false) => Eraser::None,
        }
    }
}

/// Erased images and what a classifier makes of them.
#[derive(Debug, Clone)]
pub struct Erased {
    /// Soft masks `(P, H, W)`.
    pub masks: Tensor,
    /// Erased images `(P, 3, H, W)`.
    pub images: Tensor,
    /// The classifier's logits of the erased images `(P, K)`.
    pub logits: Tensor,
}

/// Erases each pair's normalised map `maps` `(P, H, W)` from its image of
/// `images` `(B, 3, H, W)` (soft mask with `cfg`'s omega and sigma) and
/// classifies the erased images with `classifier` (`train`: training-mode
/// BatchNorm). Training's step and validation's adversarial loss share it.
pub fn erase_and_classify(
    classifier: &Classifier,
    images: &Tensor,
    pairs: &Pairs,
    maps: &Tensor,
    cfg: &StepConfig,
    train: bool,
) -> Result<Erased> {
    let images_p = pairs.select(images)?;
    let (masks, erased) = eader_erasing::mask_and_erase(maps, &images_p, cfg.omega, cfg.sigma)?;
    let logits = classifier.forward(&erased, train)?;
    Ok(Erased {
        masks,
        images: erased,
        logits,
    })
}

/// The shared forward pass over images `(B, 3, H, W)` and multi-hot labels
/// `(B, K)`. `detach_localizer` cuts the graph after the localizer (the
/// adversarial phase); `train` selects training-mode BatchNorm.
pub fn forward(
    localizer: &Classifier,
    eraser: Eraser<'_>,
    images: &Tensor,
    labels: &Tensor,
    cfg: &StepConfig,
    detach_localizer: bool,
    train: bool,
) -> Result<Forward> {
    let (_, _, height, width) = images.dims4()?;
    let (features, logits) = localizer.forward_features(images, train)?;
    let (features, logits) = if detach_localizer {
        (features.detach(), logits.detach())
    } else {
        (features, logits)
    };
    let labels = labels.to_dtype(logits.dtype())?;
    let loss_cls = bce_with_logits(&logits, &labels)?;
    let pairs = Pairs::from_labels(&labels)?;
    if pairs.is_empty() {
        let maps = Tensor::zeros((0, height, width), images.dtype(), images.device())?;
        let reg = Tensor::zeros((), images.dtype(), images.device())?;
        return Ok(Forward {
            logits,
            loss_cls,
            pairs,
            maps,
            reg,
            masks: None,
            erased: None,
            erased_logits: None,
            am: None,
            loss_adv: None,
        });
    }
    let low = attention_maps(localizer, cfg.attention, &features, &pairs, train)?;
    let low = if detach_localizer { low.detach() } else { low };
    let maps = eader_erasing::upsample_normalize(&low, height, width)?;
    let reg = maps.mean_all()?;
    let classifier = match eraser {
        Eraser::None => None,
        Eraser::Adversarial(adv) => Some(adv),
        Eraser::SharedWeights => Some(localizer),
    };
    let Some(classifier) = classifier else {
        return Ok(Forward {
            logits,
            loss_cls,
            pairs,
            maps,
            reg,
            masks: None,
            erased: None,
            erased_logits: None,
            am: None,
            loss_adv: None,
        });
    };
    let Erased {
        masks,
        images: erased,
        logits: erased_logits,
    } = erase_and_classify(classifier, images, &pairs, &maps, cfg, train)?;
    let am = attention_mining(&erased_logits, &pairs.class_idx)?;
    let loss_adv = match eraser {
        Eraser::Adversarial(_) => {
            let labels_p = pairs.select(&labels)?;
            Some(bce_with_logits(&erased_logits, &labels_p)?)
        }
        _ => None,
    };
    Ok(Forward {
        logits,
        loss_cls,
        pairs,
        maps,
        reg,
        masks: Some(masks),
        erased: Some(erased),
        erased_logits: Some(erased_logits),
        am: Some(am),
        loss_adv,
    })
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The localizer's loss `BCE + beta * reg + alpha * am` of a forward pass.
pub fn localizer_loss(fwd: &Forward, cfg: &StepConfig) -> Result<Tensor> {
    let mut loss = (&fwd.loss_cls + fwd.reg.affine(cfg.beta, 0.0)?)?;
    if let Some(am) = &fwd.am {
        loss = (loss + am.affine(cfg.alpha, 0.0)?)?;
    }
    Ok(loss)
}

/// Runs one training step in `phase` and updates that phase's network.
///
/// `adversarial_optimizer` must be given with `Eraser::Adversarial`; an
/// adversarial phase without an adversarial network is an error.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    localizer: &Classifier,
    eraser: Eraser<'_>,
    localizer_optimizer: &mut Optimizer,
    adversarial_optimizer: Option<&mut Optimizer>,
    images: &Tensor,
    labels: &Tensor,
    phase: Phase,
    cfg: &StepConfig,
) -> Result<StepOutput> {
    let detach = phase == Phase::Adversarial;
    // The localizer phase steps the localizer alone: the adversarial runs frozen, so the
    // backward computes the gradient through it but not its weight gradients.
    let frozen;
    let eraser = match (phase, eraser) {
        (Phase::Localizer, Eraser::Adversarial(adv)) => {
            frozen = adv.frozen();
            Eraser::Adversarial(&frozen)
        }
        _ => eraser,
    };
    let fwd = forward(localizer, eraser, images, labels, cfg, detach, true)?;
    let mut out = StepOutput {
        phase,
        loss_cls: scalar(&fwd.loss_cls)?,
        loss_reg: scalar(&fwd.reg)?,
        loss_am: fwd.am.as_ref().map(scalar).transpose()?,
        loss_adv: fwd.loss_adv.as_ref().map(scalar).transpose()?,
        loss: 0.0,
        pairs: fwd.pairs.len(),
    };
    match phase {
        Phase::Localizer => {
            let loss = localizer_loss(&fwd, cfg)?;
            out.loss = scalar(&loss)?;
            let grads = loss.backward()?;
            drop(fwd);
            localizer_optimizer.step(&grads)?;
        }
        Phase::Adversarial => {
            let (Some(loss), Some(opt)) = (&fwd.loss_adv, adversarial_optimizer) else {
                return Err(Error::option(
                    "adversarial-model",
                    "an adversarial phase needs an adversarial network and its optimizer",
                ));
            };
            out.loss = scalar(loss)?;
            let grads = loss.backward()?;
            opt.step(&grads)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
