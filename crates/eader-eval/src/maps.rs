//! Attention maps at evaluation: single scale (the method's own path) or
//! multi-scale and flip-averaged (`--scales`, `--flip`, the usual WSSS protocol).
//!
//! Multi-scale: the image `(B, 3, H, W)` is resized (bilinear,
//! `align_corners=false`, like `F.interpolate`) to `round(s H) x round(s W)`
//! for each scale `s`, and with `flip` also mirrored left-right; each pass
//! gives raw maps `(P, h_s, w_s)` (CAM or Grad-CAM, ReLU included for
//! Grad-CAM), mirrored back when flipped, resized to `(H, W)` and summed; the
//! sum is then min-max normalised per map. With the single scale 1 and no flip
//! this is exactly the training path (`upsample_normalize` of the raw maps).

use candle::{DType, Tensor};
use eader_models::attention::{attention_maps, AttentionKind, Pairs};
use eader_models::Classifier;

use crate::error::{Error, Result};

/// How the maps of an image are computed at evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct MapConfig {
    /// CAM or Grad-CAM.
    pub attention: AttentionKind,
    /// Resize factors, each > 0; `[1.0]` is the method's single scale.
    pub scales: Vec<f64>,
    /// Also run every scale on the mirrored image.
    pub flip: bool,
}

impl MapConfig {
    /// One scale, no flip.
    pub fn single_scale(attention: AttentionKind) -> Self {
        Self {
            attention,
            scales: vec![1.0],
            flip: false,
        }
    }

    /// Whether this is the method's own single-scale path.
    pub fn is_single_scale(&self) -> bool {
        !self.flip && self.scales.len() == 1 && self.scales[0] == 1.0
    }

    /// Checks that there is at least one scale and every scale is finite and positive.
    pub fn validate(&self) -> Result<()> {
        if self.scales.is_empty() {
            return Err(Error::setting("scales", "needs at least one scale"));
        }
        if let Some(s) = self.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::setting(
                "scales",
                format!("every scale must be a finite number > 0, got {s}"),
            ));
        }
        Ok(())
    }

    /// Forward passes per image.
    pub fn passes(&self) -> usize {
        self.scales.len() * if self.flip { 2 } else { 1 }
    }
}

/// Which classes get maps.
#[derive(Debug, Clone, Copy)]
pub enum MapClasses<'a> {
    /// Multi-hot labels `(B, K)` (ground truth): every entry > 0.5.
    Labels(&'a Tensor),
    /// The classes the localizer predicts with probability above the value
    /// (from the first pass: scale 1 when listed, else the first scale).
    Predicted(f32),
}

/// The maps of a batch.
#[derive(Debug, Clone)]
pub struct ImageMaps {
    /// Localizer logits `(B, K)` of the original image (scale 1, not mirrored)
    /// when scale 1 is listed, else of the first scale.
    pub logits: Tensor,
    /// The (image, class) pairs, ordered by image then class.
    pub pairs: Pairs,
    /// Normalised maps `(P, H, W)` in `[0, 1]`.
    pub maps: Tensor,
}

/// `(H, W)` scaled by `s`, rounded, at least 1.
pub fn scaled_size(height: usize, width: usize, s: f64) -> (usize, usize) {
    let f = |x: usize| ((x as f64 * s).round() as usize).max(1);
    (f(height), f(width))
}

/// Attention maps of images `(B, 3, H, W)` (eval-mode networks) for the
/// classes `classes` asks for; see the module docs.
pub fn image_maps(
    localizer: &Classifier,
    images: &Tensor,
    classes: MapClasses<'_>,
    cfg: &MapConfig,
) -> Result<ImageMaps> {
    cfg.validate()?;
    let (_, _, height, width) = images.dims4()?;
    let kind = cfg.attention;
    // The first pass is scale 1 when listed, so the logits are the image's own.
    let mut order: Vec<f64> = cfg.scales.clone();
    if let Some(i) = order.iter().position(|&s| s == 1.0) {
        order.swap(0, i);
    }
    let mut first: Option<(Tensor, Pairs)> = None;
    let mut sum: Option<Tensor> = None;
    for &s in &order {
        let scaled = if s == 1.0 {
            images.clone()
        } else {
            let (h, w) = scaled_size(height, width, s);
            images.upsample_bilinear2d(h, w, false)?
        };
        let mirrors: &[bool] = if cfg.flip { &[false, true] } else { &[false] };
        for &flipped in mirrors {
            let x = if flipped {
                scaled.flip(&[3])?
            } else {
                scaled.clone()
            };
            let (features, pass_logits) = localizer.forward_features(&x, false)?;
            let pairs = match &first {
                Some((_, pairs)) => pairs.clone(),
                None => {
                    let pairs = match classes {
                        MapClasses::Labels(labels) => Pairs::from_labels(labels)?,
                        MapClasses::Predicted(min_prob) => {
                            let probs = candle_nn::ops::sigmoid(&pass_logits)?;
                            let chosen = probs.gt(min_prob as f64)?.to_dtype(DType::F32)?;
                            Pairs::from_labels(&chosen)?
                        }
                    };
                    if pairs.is_empty() {
                        let maps =
                            Tensor::zeros((0, height, width), images.dtype(), images.device())?;
                        return Ok(ImageMaps {
                            logits: pass_logits,
                            pairs,
                            maps,
                        });
                    }
                    first = Some((pass_logits, pairs.clone()));
                    pairs
                }
            };
            let low = attention_maps(localizer, kind, &features, &pairs, false)?;
            if cfg.is_single_scale() {
                let maps = eader_erasing::upsample_normalize(&low, height, width)?;
                let (logits, pairs) =
                    first.ok_or_else(|| Error::Internal("no forward pass ran".into()))?;
                return Ok(ImageMaps {
                    logits,
                    pairs,
                    maps,
                });
            }
            let low = if flipped { low.flip(&[2])? } else { low };
            let up = low
                .unsqueeze(1)?
                .upsample_bilinear2d(height, width, false)?
                .squeeze(1)?;
            sum = Some(match sum {
                None => up,
                Some(acc) => (acc + up)?,
            });
        }
    }
    match (first, sum) {
        (Some((logits, pairs)), Some(sum)) => Ok(ImageMaps {
            logits,
            pairs,
            maps: eader_erasing::upsample_normalize(&sum.contiguous()?, height, width)?,
        }),
        _ => Err(Error::Internal("no forward pass ran".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::Device;
    use candle_nn::VarBuilder;
    use eader_models::Architecture;

    fn model() -> Classifier {
        let m = Classifier::new(
            Architecture::Resnet18,
            4,
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        m.init_seeded(5).unwrap();
        m
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn single_scale_is_the_methods_own_path() {
        // What the training step computes (eader-train tests it against its forward).
        let m = model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 40, 56), &dev).unwrap();
        let labels = Tensor::new(&[[1f32, 0., 1., 0.], [0., 0., 0., 1.]], &dev).unwrap();
        for attention in [AttentionKind::GradCam, AttentionKind::Cam] {
            let cfg = MapConfig::single_scale(attention);
            let got = image_maps(&m, &x, MapClasses::Labels(&labels), &cfg).unwrap();
            let (features, logits) = m.forward_features(&x, false).unwrap();
            let pairs = Pairs::from_labels(&labels).unwrap();
            let low = attention_maps(&m, attention, &features, &pairs, false).unwrap();
            let want = eader_erasing::upsample_normalize(&low, 40, 56).unwrap();
            assert_eq!(got.pairs.image, vec![0, 0, 1]);
            assert_eq!(got.pairs.class, vec![0, 2, 3]);
            assert_eq!(max_abs_diff(&got.maps, &want), 0.0);
            assert_eq!(max_abs_diff(&got.logits, &logits), 0.0);
        }
    }

    #[test]
    fn multi_scale_sums_resized_maps_before_normalising() {
        let m = model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 48, 64), &dev).unwrap();
        let labels = Tensor::new(&[[0f32, 1., 1., 0.]], &dev).unwrap();
        let cfg = MapConfig {
            attention: AttentionKind::GradCam,
            scales: vec![0.5, 1.0, 1.5],
            flip: true,
        };
        let got = image_maps(&m, &x, MapClasses::Labels(&labels), &cfg).unwrap();
        assert_eq!(got.maps.dims(), &[2, 48, 64]);
        // By hand: each pass's raw Grad-CAM, mirrored back, resized, summed, normalised.
        let pairs = Pairs::from_labels(&labels).unwrap();
        let mut sum = Tensor::zeros((2, 48, 64), DType::F32, &dev).unwrap();
        for s in [0.5, 1.0, 1.5] {
            let (h, w) = scaled_size(48, 64, s);
            let xs = x.upsample_bilinear2d(h, w, false).unwrap();
            for flip in [false, true] {
                let xi = if flip {
                    xs.flip(&[3]).unwrap()
                } else {
                    xs.clone()
                };
                let (f, _) = m.forward_features(&xi, false).unwrap();
                let mut g = attention_maps(&m, AttentionKind::GradCam, &f, &pairs, false).unwrap();
                if flip {
                    g = g.flip(&[2]).unwrap();
                }
                let up = g
                    .unsqueeze(1)
                    .unwrap()
                    .upsample_bilinear2d(48, 64, false)
                    .unwrap()
                    .squeeze(1)
                    .unwrap();
                sum = (sum + up).unwrap();
            }
        }
        let flat = sum.reshape((2, 48 * 64)).unwrap();
        let min = flat.min_keepdim(1).unwrap();
        let shifted = flat.broadcast_sub(&min).unwrap();
        let max = shifted.max_keepdim(1).unwrap();
        let want = shifted
            .broadcast_div(&max)
            .unwrap()
            .reshape((2, 48, 64))
            .unwrap();
        assert!(max_abs_diff(&got.maps, &want) < 1e-6);
        // Logits are the original image's.
        let direct = m.forward(&x, false).unwrap();
        assert_eq!(max_abs_diff(&got.logits, &direct), 0.0);
        // A mirrored image gives mirrored flip-averaged maps.
        let mirrored = image_maps(
            &m,
            &x.flip(&[3]).unwrap(),
            MapClasses::Labels(&labels),
            &cfg,
        )
        .unwrap();
        assert!(max_abs_diff(&mirrored.maps.flip(&[2]).unwrap(), &got.maps) < 1e-5);
    }

    #[test]
    fn predicted_classes_and_bad_scales() {
        let m = model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 32, 32), &dev).unwrap();
        let cfg = MapConfig::single_scale(AttentionKind::GradCam);
        let probs: Vec<f32> = candle_nn::ops::sigmoid(&m.forward(&x, false).unwrap())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let got = image_maps(&m, &x, MapClasses::Predicted(0.5), &cfg).unwrap();
        let want: Vec<usize> = (0..4).filter(|&c| probs[c] > 0.5).collect();
        assert_eq!(got.pairs.class, want);
        let none = image_maps(&m, &x, MapClasses::Predicted(1.0), &cfg).unwrap();
        assert!(none.pairs.is_empty());
        assert_eq!(none.maps.dims(), &[0, 32, 32]);
        let bad = MapConfig {
            scales: vec![1.0, -0.5],
            ..cfg
        };
        let err = image_maps(&m, &x, MapClasses::Predicted(0.5), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--scales"), "{err}");
    }
}
