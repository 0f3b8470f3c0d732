//! Reading a dataset in PASCAL VOC layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;
use rayon::prelude::*;

use crate::classes::{ClassList, CLASSES_FILE};
use crate::error::{Error, Result};
use crate::label::{decode_label_png, LabelMap, MultiHot};

/// Folder of the JPEG images, relative to the dataset folder.
pub const IMAGES_DIR: &str = "JPEGImages";
/// Folder of the palette label PNGs.
pub const MASKS_DIR: &str = "SegmentationClass";
/// Folder of the single-channel label PNGs of the SBD-augmented set.
pub const AUG_MASKS_DIR: &str = "SegmentationClassAug";
/// Folder of the split lists (`<split>.txt`, one id per line).
pub const SPLITS_DIR: &str = "ImageSets/Segmentation";

/// One decoded image with its labels.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The image id (file stem), e.g. `2007_000032`.
    pub id: String,
    /// The RGB image.
    pub image: RgbImage,
    /// The segmentation label map, same size as the image.
    pub mask: LabelMap,
    /// Image-level targets: the classes present in `mask`.
    pub labels: MultiHot,
}

/// What [`VocDataset::for_training`] left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForegroundReport {
    /// Images in the split.
    pub total: usize,
    /// Images without any foreground class, left out of training.
    pub removed: usize,
    /// The first few removed ids (at most [`ForegroundReport::MAX_IDS`]).
    pub first_ids: Vec<String>,
}

impl ForegroundReport {
    /// How many removed ids the report lists.
    pub const MAX_IDS: usize = 10;
}

impl std::fmt::Display for ForegroundReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.removed == 0 {
            return write!(f, "all {} images have a foreground class", self.total);
        }
        write!(
            f,
            "{} of {} images have no foreground class and are left out of training (first: {}{})",
            self.removed,
            self.total,
            self.first_ids.join(", "),
            if self.removed > self.first_ids.len() {
                ", ..."
            } else {
                ""
            }
        )
    }
}

#[derive(Debug)]
struct Entry {
    id: String,
    image: PathBuf,
    mask: PathBuf,
}

/// A split of a dataset in VOC layout: `JPEGImages/<id>.jpg`, labels in
/// `SegmentationClass/<id>.png` (palette) or `SegmentationClassAug/<id>.png`
/// (single channel), ids in `ImageSets/Segmentation/<split>.txt`.
///
/// Cheap to clone (the entries are shared).
#[derive(Debug, Clone)]
pub struct VocDataset {
    root: PathBuf,
    split: String,
    classes: ClassList,
    entries: Arc<[Entry]>,
    /// Image-level labels, when already known (after [`VocDataset::scan_labels`]).
    labels: Option<Arc<[MultiHot]>>,
}

impl VocDataset {
    /// Opens split `split` of the dataset at `root`.
    ///
    /// `root` is the folder holding `VOCdevkit/VOC2012`, the `VOC2012`
    /// folder itself, or any folder in VOC layout. The class list is
    /// `classes.txt` of the dataset folder (else of `root`) when present,
    /// VOC's 20 classes otherwise. Every listed image and mask must exist;
    /// the first missing one is reported with the number missing.
    pub fn open(root: impl AsRef<Path>, split: &str) -> Result<Self> {
        let given = root.as_ref();
        let root = resolve_root(given)?;
        let classes = [root.join(CLASSES_FILE), given.join(CLASSES_FILE)]
            .into_iter()
            .find(|p| p.is_file())
            .map(|p| ClassList::from_file(&p))
            .transpose()?
            .unwrap_or_default();
        let split_path = root.join(SPLITS_DIR).join(format!("{split}.txt"));
        let text = match std::fs::read_to_string(&split_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::MissingSplit {
                    available: available_splits(&root.join(SPLITS_DIR)),
                    path: split_path,
                })
            }
            Err(e) => return Err(Error::io(split_path, e)),
        };
        let ids: Vec<&str> = text
            .lines()
            // VOC's per-class lists have "<id> <flag>"; the id is the first field.
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        if ids.is_empty() {
            return Err(Error::EmptySplit { path: split_path });
        }
        let images_dir = root.join(IMAGES_DIR);
        let masks_dir = root.join(MASKS_DIR);
        let aug_dir = root.join(AUG_MASKS_DIR);
        let entries: Vec<(Entry, bool, bool)> = ids
            .par_iter()
            .map(|id| {
                let image = images_dir.join(format!("{id}.jpg"));
                let mut mask = masks_dir.join(format!("{id}.png"));
                let mut mask_ok = mask.is_file();
                if !mask_ok {
                    let aug = aug_dir.join(format!("{id}.png"));
                    if aug.is_file() {
                        mask = aug;
                        mask_ok = true;
                    }
                }
                let image_ok = image.is_file();
                let entry = Entry {
                    id: id.to_string(),
                    image,
                    mask,
                };
                (entry, image_ok, mask_ok)
            })
            .collect();
        let listed = entries.len();
        for (kind, missing) in [
            ("image", entries.iter().filter(|e| !e.1).collect::<Vec<_>>()),
            ("mask", entries.iter().filter(|e| !e.2).collect::<Vec<_>>()),
        ] {
            if let Some(first) = missing.first() {
                let path = if kind == "image" {
                    first.0.image.clone()
                } else {
                    first.0.mask.clone()
                };
                return Err(Error::MissingFile {
                    path,
                    kind,
                    missing: missing.len(),
                    listed,
                });
            }
        }
        Ok(Self {
            root,
            split: split.to_string(),
            classes,
            entries: entries.into_iter().map(|e| e.0).collect(),
            labels: None,
        })
    }

    /// The dataset folder in VOC layout (holding `JPEGImages/`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The split's name.
    pub fn split(&self) -> &str {
        &self.split
    }

    /// The foreground classes.
    pub fn classes(&self) -> &ClassList {
        &self.classes
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the split is empty (never true for an opened split).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The image ids, in split order.
    pub fn ids(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.id.as_str()).collect()
    }

    /// The id of image `index`.
    pub fn id(&self, index: usize) -> Result<&str> {
        Ok(&self.entry(index)?.id)
    }

    /// Path of image `index`.
    pub fn image_path(&self, index: usize) -> Result<&Path> {
        Ok(&self.entry(index)?.image)
    }

    /// Path of the label PNG of image `index`.
    pub fn mask_path(&self, index: usize) -> Result<&Path> {
        Ok(&self.entry(index)?.mask)
    }

    /// Image-level labels of every image, when known (after
    /// [`VocDataset::scan_labels`] or [`VocDataset::for_training`]).
    pub fn known_labels(&self) -> Option<&[MultiHot]> {
        self.labels.as_deref()
    }

    fn entry(&self, index: usize) -> Result<&Entry> {
        self.entries.get(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.entries.len(),
        })
    }

    /// Decodes image `index` to RGB (grayscale and CMYK JPEGs are converted).
    pub fn load_image(&self, index: usize) -> Result<RgbImage> {
        decode_image(&self.entry(index)?.image)
    }

    /// Decodes the label map of image `index` and checks its labels against
    /// the class count.
    pub fn load_mask(&self, index: usize) -> Result<LabelMap> {
        let path = &self.entry(index)?.mask;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mask = decode_label_png(&bytes, path)?;
        if let Some((x, y, label)) = mask.first_out_of_range(self.classes.len()) {
            return Err(Error::LabelOutOfRange {
                path: path.clone(),
                label,
                x,
                y,
                n_classes: self.classes.len(),
            });
        }
        Ok(mask)
    }

    /// Decodes image `index` and its label map; checks that both have the
    /// same size and that every label is a class, background or void.
    pub fn load(&self, index: usize) -> Result<Sample> {
        let entry = self.entry(index)?;
        let image = self.load_image(index)?;
        let mask = self.load_mask(index)?;
        if image.dimensions() != (mask.width, mask.height) {
            return Err(Error::SizeMismatch {
                image_path: entry.image.clone(),
                mask_path: entry.mask.clone(),
                image_width: image.width(),
                image_height: image.height(),
                mask_width: mask.width,
                mask_height: mask.height,
            });
        }
        let labels = mask.multi_hot(self.classes.len());
        Ok(Sample {
            id: entry.id.clone(),
            image,
            mask,
            labels,
        })
    }

    /// Reads every label map (in parallel) and remembers the image-level
    /// labels, so a training loader need not decode masks again. Also reads
    /// each image's header to check its size against the mask's. Fails on
    /// the first unreadable mask or image header, size mismatch or
    /// out-of-range label (in split order).
    pub fn scan_labels(mut self) -> Result<Self> {
        if self.labels.is_none() {
            let labels: Vec<MultiHot> = (0..self.len())
                .into_par_iter()
                .map(|i| {
                    let mask = self.load_mask(i)?;
                    let entry = &self.entries[i];
                    let (width, height) =
                        image::image_dimensions(&entry.image).map_err(|e| Error::Decode {
                            path: entry.image.clone(),
                            kind: "image",
                            message: e.to_string(),
                        })?;
                    if (width, height) != (mask.width, mask.height) {
                        return Err(Error::SizeMismatch {
                            image_path: entry.image.clone(),
                            mask_path: entry.mask.clone(),
                            image_width: width,
                            image_height: height,
                            mask_width: mask.width,
                            mask_height: mask.height,
                        });
                    }
                    Ok(mask.multi_hot(self.classes.len()))
                })
                // Collect every result first: the error reported is then the
                // first in split order, not the first a thread happened on.
                .collect::<Vec<Result<MultiHot>>>()
                .into_iter()
                .collect::<Result<_>>()?;
            self.labels = Some(labels.into());
        }
        Ok(self)
    }

    /// The training view of this split: labels scanned (see
    /// [`VocDataset::scan_labels`]) and images without any foreground class
    /// left out (they cannot train the method), with a report of what was
    /// removed. Evaluation should use the split as opened, which keeps them.
    pub fn for_training(self) -> Result<(Self, ForegroundReport)> {
        let scanned = self.scan_labels()?;
        let labels = scanned.labels.clone().unwrap_or_else(|| Arc::from(vec![]));
        let keep: Vec<usize> = (0..scanned.len())
            .filter(|&i| labels[i].has_foreground())
            .collect();
        let removed_ids: Vec<&str> = (0..scanned.len())
            .filter(|&i| !labels[i].has_foreground())
            .map(|i| scanned.entries[i].id.as_str())
            .collect();
        let report = ForegroundReport {
            total: scanned.len(),
            removed: removed_ids.len(),
            first_ids: removed_ids
                .iter()
                .take(ForegroundReport::MAX_IDS)
                .map(|s| s.to_string())
                .collect(),
        };
        if keep.is_empty() {
            return Err(Error::NoForeground {
                root: scanned.root.clone(),
                split: scanned.split.clone(),
            });
        }
        if report.removed == 0 {
            return Ok((scanned, report));
        }
        let entries: Vec<Entry> = keep
            .iter()
            .map(|&i| {
                let e = &scanned.entries[i];
                Entry {
                    id: e.id.clone(),
                    image: e.image.clone(),
                    mask: e.mask.clone(),
                }
            })
            .collect();
        let kept_labels: Vec<MultiHot> = keep.iter().map(|&i| labels[i].clone()).collect();
        Ok((
            Self {
                root: scanned.root,
                split: scanned.split,
                classes: scanned.classes,
                entries: entries.into(),
                labels: Some(kept_labels.into()),
            },
            report,
        ))
    }
}

/// Decodes an image file to RGB; errors name the file.
pub fn decode_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes).map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        kind: "image",
        message: e.to_string(),
    })?;
    Ok(img.into_rgb8())
}

/// Finds the folder in VOC layout below `root`.
/// Whether the dataset at `root` (any form [`VocDataset::open`] accepts) has
/// a split file named `split`.
pub fn has_split(root: impl AsRef<Path>, split: &str) -> bool {
    resolve_root(root.as_ref())
        .map(|r| r.join(SPLITS_DIR).join(format!("{split}.txt")).is_file())
        .unwrap_or(false)
}

fn resolve_root(root: &Path) -> Result<PathBuf> {
    let candidates = [
        root.join("VOCdevkit").join("VOC2012"),
        root.join("VOC2012"),
        root.to_path_buf(),
    ];
    candidates
        .into_iter()
        .find(|c| c.join(IMAGES_DIR).is_dir() && c.join(SPLITS_DIR).is_dir())
        .ok_or_else(|| Error::NotVocLayout {
            path: root.to_path_buf(),
        })
}

fn available_splits(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".txt").map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
