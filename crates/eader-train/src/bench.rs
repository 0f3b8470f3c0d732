//! Timing and cross-device checks of the training step on synthetic batches
//! (`eader bench train`), shaped like `scripts/bench_reference_step.py` so
//! the two can be compared side by side: the same networks, a 20-class head,
//! `1 + b mod 3` positive classes for image `b`, SGD (momentum 0.9, weight
//! decay 1e-4, learning rate 0.01), both networks in training mode, and each
//! phase timed on its own.

use std::time::Instant;

use candle::{DType, Device, Tensor};
use eader_models::{Architecture, Classifier};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerKind};
use crate::schedule::Phase;
use crate::step::{forward, localizer_loss, train_step, Eraser, StepConfig};
use crate::trainer::seeded_network;
use eader_models::AttentionKind;

/// Classes of the synthetic batches (VOC's).
pub const NUM_CLASSES: usize = 20;

/// What to time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Localizer architecture.
    pub localizer: Architecture,
    /// Adversarial architecture (none: the localizer alone, or shared weights).
    pub adversarial: Option<Architecture>,
    /// The localizer classifies its own erased images.
    pub share_weights: bool,
    /// Images per batch.
    pub batch_size: usize,
    /// Side of the square images.
    pub resolution: usize,
    /// Timed steps per phase.
    pub steps: usize,
    /// Untimed steps per phase before timing.
    pub warmup: usize,
    /// CAM or Grad-CAM.
    pub attention: AttentionKind,
}

/// Timings of one [`BenchConfig`] on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// `"eader"`.
    pub implementation: String,
    /// The device, as `describe` prints it.
    pub device: String,
    /// The configuration timed.
    pub config: BenchConfig,
    /// (image, class) pairs per batch.
    pub pairs: usize,
    /// Seconds per localizer step.
    pub localizer_step_s: f64,
    /// Seconds per adversarial step (with an adversarial network).
    pub adversarial_step_s: Option<f64>,
    /// Images per second of the localizer phase.
    pub localizer_images_per_s: f64,
    /// Images per second of the adversarial phase.
    pub adversarial_images_per_s: Option<f64>,
    /// Images per second over a cycle with as many steps of each phase (the
    /// reference's default `L = A`).
    pub images_per_s: f64,
    /// Peak resident memory of the process in MiB (CPU; Linux `VmHWM`).
    pub peak_rss_mib: Option<f64>,
}

/// Localizer losses and gradients of one step computed on two devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceComparison {
    /// The localizer loss on each device.
    pub loss: (f64, f64),
    /// Largest `|a - b| / max(|a|, |b|, 1e-6)` over the localizer loss terms.
    pub loss_rel_err: f64,
    /// Largest relative gradient difference over the localizer's parameters,
    /// each measured as `max|ga - gb| / max|ga|` (so tiny entries do not
    /// dominate), and the parameter it belongs to.
    pub grad_rel_err: f64,
    /// The parameter with the largest gradient difference.
    pub worst_param: String,
}

/// Gradients by parameter name, flattened.
type NamedGrads = Vec<(String, Vec<f32>)>;

/// A batch of `batch` standard-normal images `(B, 3, R, R)` and labels with
/// `1 + b mod 3` random positive classes for image `b`, drawn from `seed`.
pub fn synthetic_batch(
    batch: usize,
    resolution: usize,
    device: &Device,
    seed: u64,
) -> Result<(Tensor, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = rand_distr::StandardNormal;
    let n = batch * 3 * resolution * resolution;
    let values: Vec<f32> = (0..n)
        .map(|_| rand::Rng::sample::<f32, _>(&mut rng, normal))
        .collect();
    let images = Tensor::from_vec(values, (batch, 3, resolution, resolution), device)?;
    let mut labels = vec![0f32; batch * NUM_CLASSES];
    let mut classes: Vec<usize> = (0..NUM_CLASSES).collect();
    for b in 0..batch {
        classes.shuffle(&mut rng);
        for &c in &classes[..1 + b % 3] {
            labels[b * NUM_CLASSES + c] = 1.0;
        }
    }
    let labels = Tensor::from_vec(labels, (batch, NUM_CLASSES), device)?;
    Ok((images, labels))
}

/// The step of the reference's defaults with `cfg`'s attention type.
fn step_config(cfg: &BenchConfig) -> StepConfig {
    TrainConfig {
        attention_type: cfg.attention,
        ..TrainConfig::default()
    }
    .step_config()
}

fn sgd(model: &Classifier) -> Result<Optimizer> {
    Optimizer::new(OptimizerKind::Sgd, 0.01, model.trainable())
}

/// Peak resident set size of this process in MiB (Linux), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times the training step of `cfg` on `device`.
pub fn bench_step(cfg: &BenchConfig, device: &Device, device_name: &str) -> Result<BenchResult> {
    if cfg.share_weights && cfg.adversarial.is_some() {
        return Err(Error::option(
            "share-weights",
            "cannot be combined with --adversarial-model",
        ));
    }
    if cfg.steps == 0 {
        return Err(Error::option("steps", "must be at least 1"));
    }
    let localizer = seeded_network(cfg.localizer, NUM_CLASSES, device, 0)?;
    let adversarial = match cfg.adversarial {
        Some(arch) => Some(seeded_network(arch, NUM_CLASSES, device, 1)?),
        None => None,
    };
    let mut opt_l = sgd(&localizer)?;
    let mut opt_a = adversarial.as_ref().map(sgd).transpose()?;
    let eraser = Eraser::new(adversarial.as_ref(), cfg.share_weights);
    let (images, labels) = synthetic_batch(cfg.batch_size, cfg.resolution, device, 1)?;
    let step_cfg = step_config(cfg);
    let mut time_phase = |phase: Phase| -> Result<f64> {
        let mut run = || {
            train_step(
                &localizer,
                eraser,
                &mut opt_l,
                opt_a.as_mut(),
                &images,
                &labels,
                phase,
                &step_cfg,
            )
            .map(|_| ())
        };
        for _ in 0..cfg.warmup {
            run()?;
        }
        device.synchronize()?;
        let start = Instant::now();
        for _ in 0..cfg.steps {
            run()?;
        }
        device.synchronize()?;
        Ok(start.elapsed().as_secs_f64() / cfg.steps as f64)
    };
    let localizer_step_s = time_phase(Phase::Localizer)?;
    let adversarial_step_s = match adversarial {
        Some(_) => Some(time_phase(Phase::Adversarial)?),
        None => None,
    };
    let b = cfg.batch_size as f64;
    let mean_step = match adversarial_step_s {
        Some(a) => (localizer_step_s + a) / 2.0,
        None => localizer_step_s,
    };
    let pairs = labels.sum_all()?.to_scalar::<f32>()? as usize;
    Ok(BenchResult {
        implementation: "eader".to_owned(),
        device: device_name.to_owned(),
        config: cfg.clone(),
        pairs,
        localizer_step_s,
        adversarial_step_s,
        localizer_images_per_s: b / localizer_step_s,
        adversarial_images_per_s: adversarial_step_s.map(|s| b / s),
        images_per_s: b / mean_step,
        peak_rss_mib: device.is_cpu().then(peak_rss_mib).flatten(),
    })
}

/// One localizer step's loss and gradients of `cfg` on `a` and on `b`, from
/// the same initial weights and batch, and how far they differ.
pub fn compare_devices(cfg: &BenchConfig, a: &Device, b: &Device) -> Result<DeviceComparison> {
    let run = |device: &Device| -> Result<(Vec<f64>, NamedGrads)> {
        let localizer = seeded_network(cfg.localizer, NUM_CLASSES, device, 0)?;
        let adversarial = match cfg.adversarial {
            Some(arch) => Some(seeded_network(arch, NUM_CLASSES, device, 1)?),
            None => None,
        };
        let eraser = Eraser::new(adversarial.as_ref(), cfg.share_weights);
        let (images, labels) = synthetic_batch(cfg.batch_size, cfg.resolution, device, 1)?;
        let step_cfg = step_config(cfg);
        let fwd = forward(&localizer, eraser, &images, &labels, &step_cfg, false, true)?;
        let loss = localizer_loss(&fwd, &step_cfg)?;
        let scalar = |t: &Tensor| -> Result<f64> { Ok(t.to_dtype(DType::F64)?.to_scalar()?) };
        let mut terms = vec![scalar(&loss)?, scalar(&fwd.loss_cls)?, scalar(&fwd.reg)?];
        if let Some(am) = &fwd.am {
            terms.push(scalar(am)?);
        }
        let grads = loss.backward()?;
        let mut out = Vec::new();
        for (name, var) in localizer.trainable() {
            if let Some(g) = grads.get(var.as_tensor()) {
                out.push((
                    name,
                    g.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?,
                ));
            }
        }
        Ok((terms, out))
    };
    let (ta, ga) = run(a)?;
    let (tb, gb) = run(b)?;
    let loss_rel_err = ta
        .iter()
        .zip(&tb)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-6))
        .fold(0.0, f64::max);
    let mut grad_rel_err = 0.0;
    let mut worst_param = String::new();
    for ((name, x), (_, y)) in ga.iter().zip(&gb) {
        let scale = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
        let diff = x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        let rel = f64::from(diff / scale);
        if rel > grad_rel_err {
            grad_rel_err = rel;
            worst_param = name.clone();
        }
    }
    Ok(DeviceComparison {
        loss: (ta[0], tb[0]),
        loss_rel_err,
        grad_rel_err,
        worst_param,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> BenchConfig {
        BenchConfig {
            localizer: Architecture::Resnet18,
            adversarial: Some(Architecture::Resnet18),
            share_weights: false,
            batch_size: 3,
            resolution: 32,
            steps: 1,
            warmup: 0,
            attention: AttentionKind::GradCam,
        }
    }

    #[test]
    fn synthetic_labels_follow_the_reference_script() {
        let (images, labels) = synthetic_batch(5, 8, &Device::Cpu, 1).unwrap();
        assert_eq!(images.dims(), &[5, 3, 8, 8]);
        let per_image: Vec<f32> = labels.sum(1).unwrap().to_vec1().unwrap();
        assert_eq!(per_image, [1.0, 2.0, 3.0, 1.0, 2.0]);
    }

    #[test]
    fn bench_times_both_phases_and_rejects_bad_configs() {
        let r = bench_step(&tiny(), &Device::Cpu, "cpu").unwrap();
        assert_eq!(r.pairs, 6);
        assert!(r.localizer_step_s > 0.0 && r.adversarial_step_s.unwrap() > 0.0);
        assert!(r.images_per_s > 0.0);
        let shared = BenchConfig {
            adversarial: None,
            share_weights: true,
            ..tiny()
        };
        let r = bench_step(&shared, &Device::Cpu, "cpu").unwrap();
        assert!(r.adversarial_step_s.is_none());
        let both = BenchConfig {
            share_weights: true,
            ..tiny()
        };
        assert!(bench_step(&both, &Device::Cpu, "cpu").is_err());
    }

    #[test]
    fn the_same_device_compares_exactly() {
        let c = compare_devices(&tiny(), &Device::Cpu, &Device::Cpu).unwrap();
        assert_eq!(c.loss.0, c.loss.1);
        assert_eq!((c.loss_rel_err, c.grad_rel_err), (0.0, 0.0));
    }
}
