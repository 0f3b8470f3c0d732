//! Inference without labels: `eader infer`.
//!
//! Each image runs at its original size (ImageNet-normalised, batch 1); the
//! classes with a predicted probability above [`InferConfig::min_prob`] get
//! attention maps (single or multi-scale, see [`crate::maps`]) and
//! the segmentation map follows from them as in evaluation (threshold,
//! background score, argmax).

use std::path::{Path, PathBuf};

use candle::{DType, Device, Tensor};
use eader_dataset::transforms::Normalize;
use eader_models::Classifier;
use image::RgbImage;

use crate::error::{Error, Result};
use crate::maps::{image_maps, MapClasses, MapConfig};
use crate::segmentation::BestLabels;

/// File extensions taken from folders (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// How images are turned into maps and segmentation maps.
#[derive(Debug, Clone, PartialEq)]
pub struct InferConfig {
    /// A class gets a map when its probability exceeds this.
    pub min_prob: f32,
    /// Threshold of the segmentation map.
    pub threshold: f32,
    /// Attention type, scales and flip.
    pub maps: MapConfig,
}

/// What one image gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// Width of the image.
    pub width: usize,
    /// Height of the image.
    pub height: usize,
    /// Sigmoid probability of every class `(K,)`.
    pub probabilities: Vec<f32>,
    /// Classes above `min_prob`, ascending.
    pub classes: Vec<usize>,
    /// Their normalised maps `(P, H, W)`, row-major.
    pub maps: Vec<f32>,
    /// The segmentation map `(H, W)`: 0 background, class `c` -> `c + 1`.
    pub prediction: Vec<u8>,
}

/// The images `inputs` designate: files as given, folders' image files
/// ([`IMAGE_EXTENSIONS`], not recursive) sorted by name. Errors name a
/// missing input or a folder without images.
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::io(input, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                            IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                        })
                })
                .collect();
            if found.is_empty() {
                return Err(Error::BadFile {
                    path: input.clone(),
                    message: format!("holds no image ({})", IMAGE_EXTENSIONS.join(", ")),
                });
            }
            found.sort();
            out.extend(found);
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            return Err(Error::bad_file(input, "no such file or folder"));
        }
    }
    Ok(out)
}

/// Decodes an image file to RGB, naming the file on failure.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    Ok(eader_dataset::decode_image(path)?)
}

/// Runs `localizer` (eval mode) on one image; see the module docs.
pub fn infer_image(
    localizer: &Classifier,
    image: &RgbImage,
    device: &Device,
    cfg: &InferConfig,
) -> Result<Inference> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let chw = Normalize::imagenet().to_chw(image);
    let x = Tensor::from_vec(chw, (1, 3, h, w), device)?;
    let out = image_maps(
        localizer,
        &x,
        MapClasses::Predicted(cfg.min_prob),
        &cfg.maps,
    )?;
    let probabilities: Vec<f32> = candle_nn::ops::sigmoid(&out.logits)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    let maps: Vec<f32> = out.maps.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let classes = out.pairs.class.clone();
    let prediction = BestLabels::new(&maps, &classes, w * h)?.prediction(cfg.threshold);
    Ok(Inference {
        width: w,
        height: h,
        probabilities,
        classes,
        maps,
        prediction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarBuilder;
    use eader_models::Architecture;

    #[test]
    fn predicted_classes_get_maps_and_a_segmentation_map() {
        let m = Classifier::new(
            Architecture::Resnet18,
            6,
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        m.init_seeded(9).unwrap();
        let img = RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
        });
        let cfg = InferConfig {
            min_prob: 0.0,
            threshold: 0.3,
            maps: MapConfig::single_scale(eader_models::AttentionKind::GradCam),
        };
        let r = infer_image(&m, &img, &Device::Cpu, &cfg).unwrap();
        assert_eq!((r.width, r.height), (40, 30));
        assert_eq!(r.probabilities.len(), 6);
        // min_prob 0: every class.
        assert_eq!(r.classes, (0..6).collect::<Vec<_>>());
        assert_eq!(r.maps.len(), 6 * 40 * 30);
        // Each pixel: the first class with the largest map value, if it reaches 0.3.
        for (px, &label) in r.prediction.iter().enumerate() {
            let (mut best, mut value) = (0u8, 1e-5f32);
            for c in 0..6 {
                if r.maps[c * 1200 + px] > value {
                    (best, value) = (c as u8 + 1, r.maps[c * 1200 + px]);
                }
            }
            assert_eq!(label, if value >= 0.3 { best } else { 0 }, "pixel {px}");
        }
        // Classes above a probability only.
        let cut = r.probabilities.iter().cloned().fold(f32::NAN, f32::min);
        let some = infer_image(
            &m,
            &img,
            &Device::Cpu,
            &InferConfig {
                min_prob: cut,
                ..cfg.clone()
            },
        )
        .unwrap();
        let want: Vec<usize> = (0..6).filter(|&c| r.probabilities[c] > cut).collect();
        assert_eq!(some.classes, want);
        let none = infer_image(
            &m,
            &img,
            &Device::Cpu,
            &InferConfig {
                min_prob: 1.0,
                ..cfg
            },
        )
        .unwrap();
        assert!(none.classes.is_empty() && none.prediction.iter().all(|&l| l == 0));
    }

    #[test]
    fn inputs_expand_folders_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jpg", "a.PNG", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let found = collect_images(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.PNG", "b.jpg"]);
        let err = collect_images(&[dir.path().join("nope.jpg")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.jpg") && err.contains("no such"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = collect_images(&[empty]).unwrap_err().to_string();
        assert!(err.contains("empty") && err.contains("no image"), "{err}");
        let err = load_image(&dir.path().join("b.jpg"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.jpg"), "{err}");
    }
}
