//! One batch through the method with every intermediate kept: `eader
//! inspect`, for debugging and for parity with the reference.
//!
//! The batch file holds `images` `(B, 3, H, W)` (normalised) and `labels`
//! `(B, K)` (multi-hot). [`inspect`] runs the step's shared forward pass
//! ([`crate::step::forward`]) once, in eval or training mode, then the
//! localizer's loss `BCE + beta * reg + alpha * am` backwards, and returns
//! (pairs ordered by image then class):
//!
//! | name | shape | what |
//! |---|---|---|
//! | `probs` | `(B, K)` | localizer sigmoid outputs |
//! | `maps` | `(P, H, W)` | normalised attention maps |
//! | `masks` | `(P, H, W)` | `sigmoid(omega (maps - sigma))` |
//! | `erased` | `(P, 3, H, W)` | `images[pair] * (1 - masks)` |
//! | `adv_probs` | `(P, K)` | the adversarial's sigmoid outputs on `erased` (with one) |
//! | `pair_image`, `pair_class` | `(P,)` | the pairs, as f32 |
//! | `loss_cls`, `loss_reg` | `()` | BCE, `mean(maps)` (before `beta`) |
//! | `loss_am`, `loss_adv` | `()` | attention mining, adversarial BCE (with an adversarial) |
//! | `loss` | `()` | the localizer's loss |
//! | `grad.<name>` | parameter's | its gradient, for every trainable localizer parameter |

use std::collections::HashMap;
use std::path::Path;

use candle::{DType, Device, Tensor};
use eader_models::Classifier;

use crate::error::{Error, Result};
use crate::step::{forward, localizer_loss, Eraser, StepConfig};

/// The tensors `eader inspect` needs from a batch file.
#[derive(Debug, Clone)]
pub struct InspectBatch {
    /// Normalised images `(B, 3, H, W)` f32.
    pub images: Tensor,
    /// Multi-hot labels `(B, K)` f32.
    pub labels: Tensor,
}

fn batch_error(path: &Path, message: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads and checks a batch file: `images` `(B, 3, H, W)` and `labels`
/// `(B, num_classes)`, floating point (converted to f32), finite.
pub fn read_batch(path: &Path, num_classes: usize, device: &Device) -> Result<InspectBatch> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut tensors: HashMap<String, Tensor> = candle::safetensors::load_buffer(&bytes, device)
        .map_err(|e| batch_error(path, format!("not a safetensors file: {e}")))?;
    let mut take = |name: &str| {
        let t = tensors
            .remove(name)
            .ok_or_else(|| batch_error(path, format!("missing tensor `{name}`")))?;
        if !t.dtype().is_float() {
            return Err(batch_error(
                path,
                format!("`{name}` has dtype {:?}, expected f32", t.dtype()),
            ));
        }
        let t = t.to_dtype(DType::F32)?;
        let finite = t
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite());
        if !finite {
            return Err(batch_error(
                path,
                format!("`{name}` holds NaN or infinite values"),
            ));
        }
        Ok(t)
    };
    let images = take("images")?;
    let labels = take("labels")?;
    let dims = images.dims().to_vec();
    if dims.len() != 4 || dims[1] != 3 || dims[0] == 0 || dims[2] == 0 || dims[3] == 0 {
        return Err(batch_error(
            path,
            format!("`images` has shape {dims:?}, expected (B, 3, H, W)"),
        ));
    }
    if labels.dims() != [dims[0], num_classes] {
        return Err(batch_error(
            path,
            format!(
                "`labels` has shape {:?}, expected ({}, {num_classes}) for {} images and a {num_classes}-class localizer",
                labels.dims(),
                dims[0],
                dims[0]
            ),
        ));
    }
    Ok(InspectBatch { images, labels })
}

/// Runs one batch through the method (see the module docs) and returns every
/// intermediate by name. `train` selects training-mode BatchNorm for both
/// networks (their running statistics update, as in a training step).
pub fn inspect(
    localizer: &Classifier,
    adversarial: Option<&Classifier>,
    batch: &InspectBatch,
    cfg: &StepConfig,
    train: bool,
) -> Result<Vec<(String, Tensor)>> {
    if let Some(adv) = adversarial {
        if adv.num_classes() != localizer.num_classes() {
            return Err(Error::option(
                "weights-adversarial",
                format!(
                    "the adversarial has {} classes, the localizer {}",
                    adv.num_classes(),
                    localizer.num_classes()
                ),
            ));
        }
    }
    let eraser = adversarial.map_or(Eraser::None, Eraser::Adversarial);
    let (images, labels) = (&batch.images, &batch.labels);
    let fwd = forward(localizer, eraser, images, labels, cfg, false, train)?;
    let (masks, erased) = match (&fwd.masks, &fwd.erased) {
        (Some(m), Some(e)) => (m.clone(), e.clone()),
        _ if fwd.pairs.is_empty() => {
            let (_, c, h, w) = images.dims4()?;
            (
                Tensor::zeros((0, h, w), DType::F32, images.device())?,
                Tensor::zeros((0, c, h, w), DType::F32, images.device())?,
            )
        }
        _ => {
            let images_p = fwd.pairs.select(images)?;
            eader_erasing::mask_and_erase(&fwd.maps, &images_p, cfg.omega, cfg.sigma)?
        }
    };
    let loss = localizer_loss(&fwd, cfg)?;
    let grads = loss.backward()?;
    let to_f32 = |v: &[usize]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let p = fwd.pairs.len();
    let mut out: Vec<(String, Tensor)> = vec![
        ("probs".into(), candle_nn::ops::sigmoid(&fwd.logits)?),
        ("maps".into(), fwd.maps.clone()),
        ("masks".into(), masks),
        ("erased".into(), erased),
        (
            "pair_image".into(),
            Tensor::from_vec(to_f32(&fwd.pairs.image), p, images.device())?,
        ),
        (
            "pair_class".into(),
            Tensor::from_vec(to_f32(&fwd.pairs.class), p, images.device())?,
        ),
        ("loss_cls".into(), fwd.loss_cls.clone()),
        ("loss_reg".into(), fwd.reg.clone()),
        ("loss".into(), loss.clone()),
    ];
    if let Some(logits) = &fwd.erased_logits {
        out.push(("adv_probs".into(), candle_nn::ops::sigmoid(logits)?));
    }
    if let Some(am) = &fwd.am {
        out.push(("loss_am".into(), am.clone()));
    }
    if let Some(adv) = &fwd.loss_adv {
        out.push(("loss_adv".into(), adv.clone()));
    }
    for (name, var) in localizer.trainable() {
        let g = match grads.get(var.as_tensor()) {
            Some(g) => g.clone(),
            None => var.as_tensor().zeros_like()?,
        };
        out.push((format!("grad.{name}"), g));
    }
    out.into_iter()
        .map(|(n, t)| Ok((n, t.detach().to_dtype(DType::F32)?.to_device(&Device::Cpu)?)))
        .collect()
}

/// Writes named tensors to a safetensors file, atomically.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.contiguous()?)))
        .collect::<Result<_>>()?;
    eader_fs::write_with(path, eader_fs::Durability::Renamed, |tmp| {
        safetensors::serialize_to_file(contiguous, None, tmp).map_err(std::io::Error::other)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarBuilder;
    use eader_models::Architecture;
    use eader_models::AttentionKind;

    fn net(k: usize, seed: u64) -> Classifier {
        let m = Classifier::new(
            Architecture::Resnet18,
            k,
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        m.init_seeded(seed).unwrap();
        m
    }

    fn cfg() -> StepConfig {
        StepConfig {
            alpha: 0.05,
            beta: 1e-5,
            omega: 100.0,
            sigma: 0.5,
            attention: AttentionKind::GradCam,
        }
    }

    fn write_batch(path: &Path, tensors: Vec<(&str, Tensor)>) {
        let owned: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| (n.to_owned(), t))
            .collect();
        write_tensors(path, &owned).unwrap();
    }

    #[test]
    fn every_intermediate_with_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.safetensors");
        let dev = Device::Cpu;
        let images = Tensor::randn(0f32, 1.0, (2, 3, 32, 48), &dev).unwrap();
        let labels = Tensor::new(&[[1f32, 0., 1.], [0., 1., 0.]], &dev).unwrap();
        write_batch(&path, vec![("images", images), ("labels", labels)]);
        let batch = read_batch(&path, 3, &dev).unwrap();
        let (loc, adv) = (net(3, 1), net(3, 2));
        let out: HashMap<String, Tensor> = inspect(&loc, Some(&adv), &batch, &cfg(), false)
            .unwrap()
            .into_iter()
            .collect();
        let dims = |n: &str| out[n].dims().to_vec();
        assert_eq!(dims("probs"), [2, 3]);
        assert_eq!(dims("maps"), [3, 32, 48]);
        assert_eq!(dims("masks"), [3, 32, 48]);
        assert_eq!(dims("erased"), [3, 3, 32, 48]);
        assert_eq!(dims("adv_probs"), [3, 3]);
        assert_eq!(out["pair_class"].to_vec1::<f32>().unwrap(), [0., 2., 1.]);
        for s in ["loss_cls", "loss_reg", "loss_am", "loss_adv", "loss"] {
            assert_eq!(dims(s), Vec::<usize>::new(), "{s}");
        }
        let scalar = |n: &str| out[n].to_scalar::<f32>().unwrap() as f64;
        let want = scalar("loss_cls") + 1e-5 * scalar("loss_reg") + 0.05 * scalar("loss_am");
        assert!((scalar("loss") - want).abs() < 1e-6);
        let grads = out.keys().filter(|k| k.starts_with("grad.")).count();
        assert_eq!(grads, loc.trainable().len());
        assert_eq!(dims("grad.fc.weight"), [3, 512]);
        // Written and read back.
        let file = dir.path().join("out.safetensors");
        let list: Vec<(String, Tensor)> = out.into_iter().collect();
        write_tensors(&file, &list).unwrap();
        let back = candle::safetensors::load(&file, &dev).unwrap();
        assert_eq!(back.len(), list.len());
        // Without an adversarial: masks and erased images still, no am/adv.
        let out: HashMap<String, Tensor> = inspect(&loc, None, &batch, &cfg(), true)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(out["erased"].dims(), [3, 3, 32, 48]);
        assert!(!out.contains_key("adv_probs") && !out.contains_key("loss_am"));
    }

    #[test]
    fn bad_batches_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.safetensors");
        let dev = Device::Cpu;
        let images = Tensor::zeros((2, 3, 32, 32), DType::F32, &dev).unwrap();
        let check = |tensors: Vec<(&str, Tensor)>, k: usize, needle: &str| {
            write_batch(&path, tensors);
            let err = read_batch(&path, k, &dev).unwrap_err().to_string();
            assert!(
                err.contains("b.safetensors") && err.contains(needle),
                "{err}"
            );
        };
        let labels = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        check(
            vec![("labels", labels.clone())],
            3,
            "missing tensor `images`",
        );
        check(
            vec![("images", images.clone())],
            3,
            "missing tensor `labels`",
        );
        check(
            vec![("images", images.clone()), ("labels", labels.clone())],
            20,
            "`labels` has shape [2, 3], expected (2, 20)",
        );
        let grey = Tensor::zeros((2, 1, 32, 32), DType::F32, &dev).unwrap();
        check(
            vec![("images", grey), ("labels", labels.clone())],
            3,
            "expected (B, 3, H, W)",
        );
        let ints = Tensor::zeros((2, 3), DType::U8, &dev).unwrap();
        check(
            vec![("images", images.clone()), ("labels", ints)],
            3,
            "dtype",
        );
        let nan = Tensor::new(&[[f32::NAN, 0., 0.], [0., 0., 0.]], &dev).unwrap();
        check(vec![("images", images), ("labels", nan)], 3, "NaN");
        std::fs::write(&path, b"junk").unwrap();
        let err = read_batch(&path, 3, &dev).unwrap_err().to_string();
        assert!(err.contains("not a safetensors file"), "{err}");
    }
}
