//! Attention maps per (image, positive class) pair: CAM and Grad-CAM at the
//! features' resolution `(P, h, w)`.
//!
//! The batch expansion follows `method.md`: a batch of `B` images whose
//! multi-hot labels hold `P` positives in total gives `P` pairs, ordered by
//! image, then by class index ([`Pairs`]). Upsampling to the image and min-max
//! normalisation belong to `eader-erasing`; this module stops at the raw maps.
//!
//! Gradients flow as the method says:
//! - Grad-CAM `g = ReLU(sum_k w_k F_k)` with `w_k = mean_ij dS_c/dF_k(i,j)`
//!   treated as constants: the gradient reaches the features, not the weights.
//! - CAM `g = sum_k W[c,k] F_k` (no ReLU): the gradient reaches the features
//!   and the head's weight `W`.

use std::fmt;
use std::str::FromStr;

use candle::{DType, Tensor, Var};

use crate::classifier::{Classifier, Head};
use crate::error::{bad_input, Error, Result};

/// The (image, class) pairs of a batch's positive labels.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// Image index of each pair (non-decreasing).
    pub image: Vec<usize>,
    /// Class index of each pair (increasing within an image).
    pub class: Vec<usize>,
    /// `image` as a `(P,)` u32 tensor, for `index_select` on the batch.
    pub image_idx: Tensor,
    /// `class` as a `(P,)` u32 tensor.
    pub class_idx: Tensor,
}

impl Pairs {
    /// Pairs from multi-hot labels `(B, K)`: every entry `> 0.5` is positive.
    pub fn from_labels(labels: &Tensor) -> Result<Self> {
        let (_, k) = labels.dims2().map_err(|_| {
            bad_input(
                "Pairs::from_labels",
                format!("expected labels (B, K), got shape {:?}", labels.dims()),
            )
        })?;
        let rows = labels.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut image = Vec::new();
        let mut class = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            for (c, &v) in row.iter().enumerate().take(k) {
                if v > 0.5 {
                    image.push(i);
                    class.push(c);
                }
            }
        }
        Self::new(image, class, labels.device())
    }

    /// Pairs from explicit indices (already ordered as the caller wants).
    pub fn new(image: Vec<usize>, class: Vec<usize>, device: &candle::Device) -> Result<Self> {
        if image.len() != class.len() {
            return Err(bad_input(
                "Pairs::new",
                format!(
                    "{} image indices but {} class indices",
                    image.len(),
                    class.len()
                ),
            ));
        }
        let to_u32 = |v: &[usize]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let image_idx = Tensor::from_vec(to_u32(&image), image.len(), device)?;
        let class_idx = Tensor::from_vec(to_u32(&class), class.len(), device)?;
        Ok(Pairs {
            image,
            class,
            image_idx,
            class_idx,
        })
    }

    /// Number of pairs `P`.
    pub fn len(&self) -> usize {
        self.image.len()
    }

    /// Whether there is no pair (no positive label in the batch).
    pub fn is_empty(&self) -> bool {
        self.image.is_empty()
    }

    /// Picks each pair's row of a per-image tensor `(B, ...) -> (P, ...)`:
    /// the images, their full label vectors, their features.
    pub fn select(&self, per_image: &Tensor) -> Result<Tensor> {
        Ok(per_image.index_select(&self.image_idx, 0)?)
    }

    /// One-hot targets `(P, K)` of the pairs' classes.
    pub fn one_hot(&self, num_classes: usize, dtype: DType) -> Result<Tensor> {
        let mut data = vec![0f32; self.len() * num_classes];
        for (p, &c) in self.class.iter().enumerate() {
            if c >= num_classes {
                return Err(bad_input(
                    "Pairs::one_hot",
                    format!("class {c} is outside 0..{num_classes}"),
                ));
            }
            data[p * num_classes + c] = 1.0;
        }
        Ok(
            Tensor::from_vec(data, (self.len(), num_classes), self.image_idx.device())?
                .to_dtype(dtype)?,
        )
    }
}

/// Which attention map to compute (`gcam` is the reference's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionKind {
    /// Class activation maps from the head's linear weight.
    Cam,
    /// Grad-CAM.
    #[default]
    GradCam,
}

impl fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttentionKind::Cam => "cam",
            AttentionKind::GradCam => "gcam",
        })
    }
}

impl FromStr for AttentionKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cam" => Ok(AttentionKind::Cam),
            "gcam" | "gradcam" | "grad_cam" => Ok(AttentionKind::GradCam),
            _ => Err(bad_input(
                "attention kind",
                format!("unknown attention type `{s}`, expected `cam` or `gcam`"),
            )),
        }
    }
}

fn check_features(
    features: &Tensor,
    pairs: &Pairs,
    op: &'static str,
) -> Result<(usize, usize, usize, usize)> {
    let (b, c, h, w) = features.dims4().map_err(|_| {
        bad_input(
            op,
            format!(
                "expected features (N, C, h, w), got shape {:?}",
                features.dims()
            ),
        )
    })?;
    if let Some(&i) = pairs.image.iter().find(|&&i| i >= b) {
        return Err(bad_input(
            op,
            format!("pair image index {i} is outside the batch of {b}"),
        ));
    }
    Ok((b, c, h, w))
}

fn check_weight(weight: &Tensor, c: usize, pairs: &Pairs, op: &'static str) -> Result<()> {
    let (k, wc) = weight.dims2()?;
    if wc != c {
        return Err(bad_input(
            op,
            format!(
                "head weight {:?} does not match {c} feature channels",
                weight.dims()
            ),
        ));
    }
    if let Some(&cls) = pairs.class.iter().find(|&&cls| cls >= k) {
        return Err(bad_input(
            op,
            format!("pair class {cls} is outside the head's {k} classes"),
        ));
    }
    Ok(())
}

/// `sum_k weights[p, k] * F[image_p, k]`: `(P, C)` weights and `(B, C, h, w)`
/// features to `(P, h, w)` maps.
fn weighted_sum(features: &Tensor, weights: &Tensor, pairs: &Pairs) -> Result<Tensor> {
    let (_, c, h, w) = features.dims4()?;
    let p = pairs.len();
    let selected = pairs.select(features)?.reshape((p, c, h * w))?;
    Ok(weights
        .unsqueeze(1)?
        .matmul(&selected)?
        .reshape((p, h, w))?)
}

/// CAM: `g_p = sum_k W[c_p, k] F[i_p, k]` (no ReLU), `(P, h, w)`, for
/// features `(B, C, h, w)` and the head's linear weight `(K, C)`. Gradients
/// flow into both.
pub fn cam(features: &Tensor, weight: &Tensor, pairs: &Pairs) -> Result<Tensor> {
    let (_, c, _, _) = check_features(features, pairs, "cam")?;
    check_weight(weight, c, pairs, "cam")?;
    let w = weight.index_select(&pairs.class_idx, 0)?;
    weighted_sum(features, &w, pairs)
}

/// Grad-CAM for a global-average-pool + linear head, without a backward
/// pass: `dS_c / dF_k(i, j) = W[c, k] / (h w)`, so `g_p = ReLU(sum_k W[c_p, k]
/// F[i_p, k] / (h w))`, `(P, h, w)`. The weights are detached.
pub fn grad_cam_linear(features: &Tensor, weight: &Tensor, pairs: &Pairs) -> Result<Tensor> {
    let (_, c, h, w) = check_features(features, pairs, "grad_cam")?;
    check_weight(weight, c, pairs, "grad_cam")?;
    let wts = (weight.detach().index_select(&pairs.class_idx, 0)? / (h * w) as f64)?;
    Ok(weighted_sum(features, &wts, pairs)?.relu()?)
}

/// Grad-CAM for any head, with the gradient taken by autograd.
///
/// `head` maps features `(N, C, h, w)` to logits `(N, K)` and must treat the
/// images of a batch independently. It runs once on a detached copy of the
/// pairs' features (one row per pair), and one backward pass of `sum_p
/// S[p, c_p]` gives every pair's `dS_c/dF` at once; the channel weights are
/// their spatial means, as constants. A head with dropout in training mode
/// draws fresh masks for this pass. Returns `(P, h, w)`.
pub fn grad_cam_autograd<F>(features: &Tensor, pairs: &Pairs, head: F) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    let (_, c, h, w) = check_features(features, pairs, "grad_cam")?;
    let p = pairs.len();
    if p == 0 {
        return Ok(Tensor::zeros(
            (0, h, w),
            features.dtype(),
            features.device(),
        )?);
    }
    let probe = Var::from_tensor(&pairs.select(&features.detach())?.contiguous()?)?;
    let logits = head(probe.as_tensor())?;
    let (_, k) = logits.dims2()?;
    let target = pairs.one_hot(k, logits.dtype())?;
    let grads = (logits * target)?.sum_all()?.backward()?;
    let grad = grads.get(&probe).ok_or_else(|| {
        bad_input(
            "grad_cam",
            "the head's logits do not depend on the features",
        )
    })?;
    let weights = grad.reshape((p, c, h * w))?.mean(2)?.detach();
    Ok(weighted_sum(features, &weights, pairs)?.relu()?)
}

/// Grad-CAM for `model`'s head: [`grad_cam_linear`] for GAP + linear heads,
/// [`grad_cam_autograd`] (with the head in mode `train`) otherwise.
pub fn grad_cam(
    model: &Classifier,
    features: &Tensor,
    pairs: &Pairs,
    train: bool,
) -> Result<Tensor> {
    match model.head() {
        Head::GapLinear { weight, .. } => grad_cam_linear(features, &weight, pairs),
        Head::Other => grad_cam_autograd(features, pairs, |f| model.head_forward(f, train)),
    }
}

/// CAM or Grad-CAM for `model` (`(P, h, w)`); CAM needs a GAP + linear head.
pub fn attention_maps(
    model: &Classifier,
    kind: AttentionKind,
    features: &Tensor,
    pairs: &Pairs,
    train: bool,
) -> Result<Tensor> {
    match kind {
        AttentionKind::GradCam => grad_cam(model, features, pairs, train),
        AttentionKind::Cam => match model.head() {
            Head::GapLinear { weight, .. } => cam(features, &weight, pairs),
            Head::Other => Err(bad_input(
                "cam",
                format!(
                    "CAM needs a global-average-pool + linear head, which {} lacks",
                    model.arch()
                ),
            )),
        },
    }
}
