//! Validation and evaluation: losses, per-image maps and segmentation maps, and
//! the metrics over a whole split (method.md, "Evaluation").
//!
//! - [`evaluate`]: the training loop's validation (any loader with label
//!   maps, batched): losses, maps at one threshold, metrics, a callback per image.
//! - [`run::evaluate_split`]: `eader evaluate`'s pass (batch 1, original
//!   size): multi-scale + flip maps ([`maps`]), a threshold sweep in one pass
//!   ([`sweep`]), pseudo-label PNGs, `.npz` maps and visuals ([`outputs`]),
//!   resume, and the time split ([`run::Timing`]).
//! - [`protocol`]: the named protocols (`eader`, `wsss`) and their one-line card.
//! - [`load`]: a trained localizer back from a checkpoint or a weights file.
//!
//! The networks run in eval mode with the ground-truth image labels choosing
//! the maps. Each image's maps and prediction go to a callback or to a
//! post-processing pool, so no split's maps are held in memory.

pub mod load;
pub mod maps;
pub mod outputs;
pub mod protocol;
pub mod run;
pub mod sweep;

pub use load::{
    load_adversarial, load_localizer, load_localizer_checkpoint, load_weights, LoadedLocalizer,
};
pub use maps::{image_maps, MapClasses, MapConfig};
pub use outputs::{Existing, SaveDirs, VisualStyle};
pub use protocol::{LabelSource, Protocol, ProtocolCard};
pub use run::{evaluate_split, EvalReport, EvalSettings, Timing};
pub use sweep::{merge_thresholds, parse_thresholds, SweepReport};

use candle::DType;
use eader_dataset::Loader;
use eader_metrics::{AverageMeter, ConfusionMatrix, SegmentationMetrics};
use eader_models::Classifier;

use crate::error::{Error, Result};
use crate::segmentation::segmentation_map;
use crate::step::{forward, Eraser, StepConfig};

/// One image's attention maps and segmentation map.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// The image id.
    pub id: String,
    /// The normalised input image `(3, H, W)`, a view of the batch on its device.
    pub image: candle::Tensor,
    /// Width of the maps (the network input's).
    pub width: usize,
    /// Height of the maps.
    pub height: usize,
    /// The ground-truth classes whose maps were computed, ascending.
    pub classes: Vec<usize>,
    /// One normalised map `(H, W)` per class, row-major.
    pub maps: Vec<Vec<f32>>,
    /// The segmentation map `(H, W)`: 0 background, class `c` -> `c + 1`.
    pub prediction: Vec<u8>,
    /// The ground-truth label map `(H, W)` (255 = void).
    pub ground_truth: Vec<u8>,
}

/// What a pass over a split gives.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// Mean localizer BCE over batches.
    pub loss_cls: f64,
    /// Mean adversarial BCE on erased images (with an adversarial).
    pub loss_adv: Option<f64>,
    /// Metrics of the predicted segmentation maps.
    pub metrics: SegmentationMetrics,
    /// Metrics of predicting background everywhere (the floor to beat).
    pub baseline: SegmentationMetrics,
    /// Images scored.
    pub images: usize,
}

/// Runs `localizer` (and `adversarial`, for its loss) over every batch of
/// `loader` (a `Val` or `Eval` loader: batches carry label maps), thresholds
/// the maps at `threshold`, scores them, and hands every image to `on_image`.
pub fn evaluate(
    localizer: &Classifier,
    adversarial: Option<&Classifier>,
    loader: &Loader,
    cfg: &StepConfig,
    threshold: f32,
    mut on_image: impl FnMut(&ImageResult) -> Result<()>,
) -> Result<EvalResult> {
    let names = loader.dataset().classes().with_background();
    let mut confusion = ConfusionMatrix::new(names.len()).map_err(metrics_error)?;
    let mut baseline = ConfusionMatrix::new(names.len()).map_err(metrics_error)?;
    let (mut loss_cls, mut loss_adv) = (AverageMeter::new(), AverageMeter::new());
    let eraser = adversarial.map_or(Eraser::None, Eraser::Adversarial);
    let mut images = 0;
    for batch in loader.epoch(0) {
        let batch = batch?;
        let b = batch.ids.len();
        if batch.masks.len() != b {
            return Err(Error::option(
                "val-split",
                "evaluation needs label maps: use a Val or Eval loader",
            ));
        }
        let fwd = forward(
            localizer,
            eraser,
            &batch.images,
            &batch.labels,
            cfg,
            true,
            false,
        )?;
        loss_cls.update(fwd.loss_cls.to_dtype(DType::F64)?.to_scalar()?, b as u64);
        if let Some(l) = &fwd.loss_adv {
            loss_adv.update(l.to_dtype(DType::F64)?.to_scalar()?, b as u64);
        }
        let (_, _, height, width) = batch.images.dims4()?;
        let maps: Vec<Vec<Vec<f32>>> = fwd.maps.to_dtype(DType::F32)?.to_vec3()?;
        for (i, mask) in batch.masks.iter().enumerate() {
            let mut classes = Vec::new();
            let mut image_maps = Vec::new();
            for (p, (&img, &class)) in fwd.pairs.image.iter().zip(&fwd.pairs.class).enumerate() {
                if img == i {
                    classes.push(class);
                    image_maps.push(maps[p].concat());
                }
            }
            let refs: Vec<&[f32]> = image_maps.iter().map(Vec::as_slice).collect();
            let prediction = segmentation_map(&refs, &classes, height, width, threshold)
                .map_err(|m| Error::option("segmentation-map-threshold", m))?;
            if (mask.width as usize, mask.height as usize) != (width, height) {
                return Err(Error::option(
                    "val-split",
                    format!(
                        "image {} is {width}x{height} but its label map is {}x{}",
                        batch.ids[i], mask.width, mask.height
                    ),
                ));
            }
            confusion
                .update(&prediction, &mask.data)
                .map_err(metrics_error)?;
            baseline
                .update(&vec![0u8; prediction.len()], &mask.data)
                .map_err(metrics_error)?;
            images += 1;
            on_image(&ImageResult {
                id: batch.ids[i].clone(),
                image: batch.images.get(i)?,
                width,
                height,
                classes,
                maps: image_maps,
                prediction,
                ground_truth: mask.data.clone(),
            })?;
        }
    }
    Ok(EvalResult {
        loss_cls: loss_cls.mean(),
        loss_adv: adversarial.map(|_| loss_adv.mean()),
        metrics: confusion.metrics(&names).map_err(metrics_error)?,
        baseline: baseline.metrics(&names).map_err(metrics_error)?,
        images,
    })
}

fn metrics_error(e: eader_metrics::Error) -> Error {
    Error::option("val-split", e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AttentionType;
    use candle::Device;
    use candle_nn::{VarBuilder, VarMap};
    use eader_dataset::demo::{ensure, DemoConfig};
    use eader_dataset::{LoaderConfig, VocDataset};
    use eader_models::Architecture;

    #[test]
    fn evaluates_the_demo_val_split() {
        let dir = tempfile::tempdir().unwrap();
        let demo = DemoConfig {
            n_train: 4,
            n_val: 6,
            image_size: 64,
            ..DemoConfig::default()
        };
        let root = ensure(dir.path(), &demo).unwrap();
        let dataset = VocDataset::open(&root, "val").unwrap();
        let k = dataset.classes().len();
        let loader = Loader::new(dataset, LoaderConfig::val(64, 4), &Device::Cpu).unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let localizer = Classifier::new(Architecture::Resnet18, k, vb).unwrap();
        localizer.init_seeded(0).unwrap();
        let cfg = StepConfig {
            alpha: 0.05,
            beta: 1e-5,
            omega: 100.0,
            sigma: 0.5,
            attention: AttentionType::Gcam,
        };
        let mut seen = Vec::new();
        let result = evaluate(&localizer, None, &loader, &cfg, 0.3, |img| {
            assert_eq!(img.maps.len(), img.classes.len());
            assert_eq!(img.image.dims(), &[3, 64, 64]);
            assert_eq!(img.prediction.len(), 64 * 64);
            assert!(img
                .prediction
                .iter()
                .all(|&l| l == 0 || img.classes.contains(&(l as usize - 1))));
            seen.push(img.id.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(result.images, 6);
        assert_eq!(seen.len(), 6);
        assert!(result.loss_cls.is_finite() && result.loss_cls > 0.0);
        assert!(result.loss_adv.is_none());
        // The all-background baseline scores background IoU only.
        let bg = result.baseline.classes[0].iou;
        assert!((result.baseline.miou - bg / (k + 1) as f64).abs() < 1e-12);
        assert!(result.metrics.miou >= 0.0 && result.metrics.miou <= 1.0);
    }
}
