//! Per-image files of `eader evaluate`: pseudo labels, maps for refinement,
//! and visuals.
//!
//! - predictions: `<dir>/<id>.png`, an 8-bit palette PNG with VOC's colour
//!   map, the same size as the image; its palette indices are the labels
//!   (0 background, class `c` -> `c + 1`), as in VOC's `SegmentationClass`.
//! - maps: `<dir>/<id>.npz` (numpy, uncompressed) with `maps` `(P, H, W)`
//!   float32, the normalised per-class maps in `[0, 1]`, and `classes` `(P,)`
//!   int64, their 0-based foreground class indices (segmentation label =
//!   index + 1), ascending. Written with candle's npy/npz support.
//! - visuals: the files of [`crate::visuals::ImageVisuals`] (the image, per
//!   class the heatmap over the image, the raw heatmap, the soft mask and the
//!   erased image, and the segmentation over the image and raw), as training
//!   writes them.
//!
//! Every file is written to `<name>.tmp` and renamed into place, so a file
//! that exists is complete; an image whose files all exist is complete and
//! a resumed run skips it.

use std::path::{Path, PathBuf};

use candle::{Device, Tensor};
use eader_dataset::LabelMap;
use eader_fs::Durability;
use image::RgbImage;

use crate::error::{Error, Result};
pub use crate::visuals::file_safe;
use crate::visuals::ImageVisuals;

/// What to do with output folders that already hold files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Refuse to start.
    #[default]
    Refuse,
    /// Write over the files (others are left alone).
    Overwrite,
    /// Keep complete images' files and skip those images' writes.
    Resume,
}

/// The optional per-image output folders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SaveDirs {
    /// Palette PNG predictions.
    pub predictions: Option<PathBuf>,
    /// `.npz` maps.
    pub maps: Option<PathBuf>,
    /// Visuals.
    pub visuals: Option<PathBuf>,
}

/// Everything written for one image.
#[derive(Debug, Clone, Copy)]
pub struct ImageOutput<'a> {
    /// Image id (file stem).
    pub id: &'a str,
    /// Width of the image.
    pub width: usize,
    /// Height of the image.
    pub height: usize,
    /// Classes of the maps (0-based, ascending).
    pub classes: &'a [usize],
    /// Normalised maps `(P, H, W)`, row-major.
    pub maps: &'a [f32],
    /// Segmentation map `(H, W)` at the reported threshold.
    pub prediction: &'a [u8],
    /// The normalised image `(3, H, W)`, needed for visuals.
    pub image: Option<&'a [f32]>,
}

/// How visuals are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualStyle {
    /// Steepness of the soft mask of erased images.
    pub omega: f64,
    /// Threshold of the soft mask.
    pub sigma: f64,
    /// Name of every foreground class (for file names).
    pub class_names: Vec<String>,
}

impl VisualStyle {
    /// The names of `classes` (0-based foreground indices), `class` past the list.
    fn names_of(&self, classes: &[usize]) -> Vec<&str> {
        classes
            .iter()
            .map(|&c| self.class_names.get(c).map_or("class", String::as_str))
            .collect()
    }
}

/// PNG bytes of an RGB image.
pub fn png_bytes(image: &RgbImage, path: &Path) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Image {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// Writes an RGB image as a PNG, atomically.
pub fn write_png(image: &RgbImage, path: &Path) -> Result<()> {
    let bytes = png_bytes(image, path)?;
    Ok(eader_fs::write_bytes(path, &bytes, Durability::Renamed)?)
}

/// Writes a label map as a VOC palette PNG, atomically.
pub fn write_prediction(path: &Path, width: usize, height: usize, labels: &[u8]) -> Result<()> {
    let map = LabelMap::new(width as u32, height as u32, labels.to_vec())?;
    let bytes = eader_dataset::encode_palette_png(&map)?;
    Ok(eader_fs::write_bytes(path, &bytes, Durability::Renamed)?)
}

/// Writes `maps` `(P, H, W)` and `classes` `(P,)` as an `.npz`, atomically.
pub fn write_maps(
    path: &Path,
    width: usize,
    height: usize,
    classes: &[usize],
    maps: &[f32],
) -> Result<()> {
    let p = classes.len();
    let maps = Tensor::from_slice(maps, (p, height, width), &Device::Cpu)?;
    let classes: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    let classes = Tensor::from_vec(classes, p, &Device::Cpu)?;
    eader_fs::write_with(path, Durability::Renamed, |tmp| {
        Tensor::write_npz(&[("maps", &maps), ("classes", &classes)], tmp)
            .map_err(|e| std::io::Error::other(format!("cannot write maps: {e}")))?;
        // candle finishes the archive when its writer drops: reading the
        // central directory back proves it is complete.
        candle::npy::NpzTensors::new(tmp)
            .map(drop)
            .map_err(|e| std::io::Error::other(format!("incomplete npz: {e}")))
    })?;
    Ok(())
}

/// Reads maps written by [`write_maps`]: `(classes, maps)` with the maps'
/// `(H, W)` checked against `width` x `height`.
pub fn read_maps(path: &Path, width: usize, height: usize) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |m: String| Error::bad_file(path, m);
    let tensors = Tensor::read_npz(path).map_err(|e| bad(format!("cannot read maps: {e}")))?;
    let get = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| bad(format!("no array `{name}`")))
    };
    let (maps, classes) = (get("maps")?, get("classes")?);
    let (p, h, w) = maps.dims3().map_err(|_| {
        bad(format!(
            "`maps` has shape {:?}, expected (P, H, W)",
            maps.dims()
        ))
    })?;
    if (h, w) != (height, width) || classes.dims() != [p] {
        return Err(bad(format!(
            "`maps` {:?} and `classes` {:?} do not fit a {width}x{height} image",
            maps.dims(),
            classes.dims()
        )));
    }
    let classes: Vec<usize> = classes
        .to_dtype(candle::DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|c| c.max(0) as usize)
        .collect();
    let maps = maps
        .to_dtype(candle::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((classes, maps))
}

impl SaveDirs {
    /// Whether no output is asked for.
    pub fn is_empty(&self) -> bool {
        self.predictions.is_none() && self.maps.is_none() && self.visuals.is_none()
    }

    fn named(&self) -> Vec<(&'static str, &Path)> {
        [
            ("save-predictions", &self.predictions),
            ("save-maps", &self.maps),
            ("save-visuals", &self.visuals),
        ]
        .into_iter()
        .filter_map(|(o, d)| d.as_deref().map(|d| (o, d)))
        .collect()
    }

    /// Creates the folders; a folder that holds files is an error under
    /// [`Existing::Refuse`]. Leftover `*.tmp` files of an interrupted run are removed.
    pub fn prepare(&self, existing: Existing) -> Result<()> {
        for (option, dir) in self.named() {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::setting(
                    option,
                    format!("{} exists and is not a folder", dir.display()),
                ));
            }
            let entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(_) => Vec::new(),
            };
            if !entries.is_empty() && existing == Existing::Refuse {
                return Err(Error::setting(
                    option,
                    format!(
                        "{} already holds files: pass --resume to complete an interrupted run \
                         (images whose files are complete are skipped) or --overwrite to write over them",
                        dir.display()
                    ),
                ));
            }
            for tmp in entries
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            {
                std::fs::remove_file(tmp).map_err(|e| Error::io(tmp, e))?;
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }

    /// The prediction file of `id`.
    pub fn prediction_path(&self, id: &str) -> Option<PathBuf> {
        self.predictions
            .as_ref()
            .map(|d| d.join(format!("{id}.png")))
    }

    /// The maps file of `id`.
    pub fn maps_path(&self, id: &str) -> Option<PathBuf> {
        self.maps.as_ref().map(|d| d.join(format!("{id}.npz")))
    }

    /// Every file written for image `id` with maps of `classes`.
    pub fn expected_files(&self, id: &str, classes: &[usize], style: &VisualStyle) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .prediction_path(id)
            .into_iter()
            .chain(self.maps_path(id))
            .collect();
        if let Some(dir) = &self.visuals {
            let names = style.names_of(classes);
            out.extend(
                ImageVisuals::file_names(id, &names)
                    .into_iter()
                    .map(|f| dir.join(f)),
            );
        }
        out
    }

    /// Whether every file of image `id` exists.
    pub fn complete(&self, id: &str, classes: &[usize], style: &VisualStyle) -> bool {
        !self.is_empty()
            && self
                .expected_files(id, classes, style)
                .iter()
                .all(|p| p.is_file())
    }

    /// Writes every asked-for file of one image.
    pub fn write(&self, out: &ImageOutput<'_>, style: &VisualStyle) -> Result<()> {
        let (w, h) = (out.width, out.height);
        let plane = w * h;
        if out.maps.len() != out.classes.len() * plane || out.prediction.len() != plane {
            return Err(Error::mismatch(
                format!("image {}", out.id),
                format!(
                    "{} map values and {} labels for {} classes of {w}x{h}",
                    out.maps.len(),
                    out.prediction.len(),
                    out.classes.len()
                ),
            ));
        }
        if let Some(path) = self.prediction_path(out.id) {
            write_prediction(&path, w, h, out.prediction)?;
        }
        if let Some(path) = self.maps_path(out.id) {
            write_maps(&path, w, h, out.classes, out.maps)?;
        }
        if let Some(dir) = &self.visuals {
            let Some(chw) = out.image else {
                return Err(Error::mismatch(
                    format!("image {}", out.id),
                    "visuals need the image",
                ));
            };
            let names = style.names_of(out.classes);
            let visuals = ImageVisuals {
                id: out.id,
                image: chw,
                width: w,
                height: h,
                maps: out.maps,
                class_names: &names,
                prediction: out.prediction,
                omega: style.omega,
                sigma: style.sigma,
            };
            for (name, img) in visuals.render()? {
                write_png(&img, &dir.join(name))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style() -> VisualStyle {
        VisualStyle {
            omega: 100.0,
            sigma: 0.5,
            class_names: vec!["a b".into(), "dog".into(), "cat".into()],
        }
    }

    #[test]
    fn writes_every_output_and_knows_when_an_image_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let save = SaveDirs {
            predictions: Some(dir.path().join("pred")),
            maps: Some(dir.path().join("maps")),
            visuals: Some(dir.path().join("vis")),
        };
        save.prepare(Existing::Refuse).unwrap();
        let (w, h) = (4, 2);
        let classes = [0usize, 2];
        let maps: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
        let prediction = [0u8, 1, 1, 3, 3, 3, 0, 255];
        let image = vec![0.25f32; 3 * 8];
        assert!(!save.complete("im1", &classes, &style()));
        let out = ImageOutput {
            id: "im1",
            width: w,
            height: h,
            classes: &classes,
            maps: &maps,
            prediction: &prediction,
            image: Some(&image),
        };
        save.write(&out, &style()).unwrap();
        assert!(save.complete("im1", &classes, &style()));
        let files = save.expected_files("im1", &classes, &style());
        // Prediction, maps, the image, 4 files per class, 2 segmentations.
        assert_eq!(files.len(), 2 + 1 + 4 * 2 + 2);
        assert!(files.iter().any(|p| p.ends_with("im1_a_b_erased.png")));
        assert!(files.iter().any(|p| p.ends_with("im1_a_b_mask.png")));
        // The prediction reads back with its labels intact.
        let back = eader_dataset::read_label_png(&save.prediction_path("im1").unwrap()).unwrap();
        assert_eq!((back.width, back.height), (4, 2));
        assert_eq!(back.data, prediction);
        let (c, m) = read_maps(&save.maps_path("im1").unwrap(), w, h).unwrap();
        assert_eq!((c, m), (classes.to_vec(), maps.clone()));
        assert!(read_maps(&save.maps_path("im1").unwrap(), 3, 2).is_err());
        // Removing one visual makes the image incomplete again.
        std::fs::remove_file(&files[4]).unwrap();
        assert!(!save.complete("im1", &classes, &style()));
        // The folders now hold files: refused unless resuming or overwriting.
        let err = save.prepare(Existing::Refuse).unwrap_err().to_string();
        assert!(
            err.contains("--save-predictions") && err.contains("--resume"),
            "{err}"
        );
        std::fs::write(dir.path().join("pred").join("x.png.tmp"), b"partial").unwrap();
        save.prepare(Existing::Resume).unwrap();
        assert!(!dir.path().join("pred").join("x.png.tmp").exists());
        // A missing image for visuals, or maps of the wrong size, are errors.
        let err = save
            .write(&ImageOutput { image: None, ..out }, &style())
            .unwrap_err()
            .to_string();
        assert!(err.contains("im1"), "{err}");
        assert!(save
            .write(
                &ImageOutput {
                    maps: &[0.0; 3],
                    ..out
                },
                &style()
            )
            .is_err());
    }

    #[test]
    fn pngs_are_written_whole_and_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage::from_pixel(2, 1, image::Rgb([170, 30, 30]));
        let path = dir.path().join("x.png");
        write_png(&img, &path).unwrap();
        assert_eq!(image::open(&path).unwrap().to_rgb8(), img);
        let err = write_png(&img, &dir.path().join("no/x.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.png.tmp"), "{err}");
    }

    #[test]
    fn erasing_on_the_host_follows_the_soft_mask() {
        use crate::visuals::{erase_host, soft_mask_host};
        let image = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let map = [0.0f32, 1.0];
        let e = erase_host(&image, &soft_mask_host(&map, 100.0, 0.5));
        // g = 0 keeps the pixel, g = 1 erases it.
        assert!((e[0] - 1.0).abs() < 1e-6 && e[1].abs() < 1e-6);
        assert!((e[4] - 5.0).abs() < 1e-6 && e[5].abs() < 1e-6);
        assert_eq!(file_safe("potted plant/x"), "potted_plant_x");
        assert_eq!(file_safe(""), "_");
    }
}
