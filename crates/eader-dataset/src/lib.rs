//! Everything between files on disk and normalised image batches: the first
//! stage of eader's flow (**dataset** → models → attention maps → erasing →
//! losses; evaluation: **dataset** → models → maps → metrics).
//!
//! - [`VocDataset`] reads a split of a dataset in PASCAL VOC layout
//!   (`JPEGImages/`, `SegmentationClass/` palette PNGs,
//!   `SegmentationClassAug/` single-channel PNGs, `ImageSets/Segmentation/`),
//!   checks that every listed file exists, and decodes [`Sample`]s (RGB image,
//!   [`LabelMap`], [`MultiHot`] image-level targets). [`VocDataset::for_training`]
//!   leaves out images without a foreground class and reports them.
//! - [`transforms`] has torchvision's transforms on PIL images:
//!   `RandomResizedCrop`, flips, `Resize`, `CenterCrop`, `ToTensor` +
//!   `Normalize`. Resizing is Pillow's bilinear filter with antialiasing,
//!   reproduced bit for bit (fixtures from Pillow, `max |diff| = 0`).
//! - [`Loader`] turns a dataset into epochs of [`Batch`]es (`(B, 3, H, W)`
//!   `f32` candle tensors + `(B, K)` multi-hot targets) with parallel decoding
//!   (rayon) and a bounded prefetch; batches depend only on `(seed, epoch)`,
//!   never on the thread count.
//! - [`demo`] generates the built-in demo dataset in exact VOC layout.
//! - [`voc_palette`], [`write_palette_png`], [`read_label_png`]: VOC's colour
//!   map and label PNG I/O.
//!
//! Class order is VOC's ([`VOC_CLASSES`]), replaced by a `classes.txt` in the
//! dataset folder when present ([`ClassList`]). Labels: 0 background,
//! `1..=K` classes, 255 void.
//!
//! The demo dataset is described in the [`demo`] module; here is what it
//! looks like (images above, label maps in VOC colours below, void in cream):
//!
//! ![demo samples](https://raw.githubusercontent.com/eader-rs/eader/main/assets/demo-samples.png)
#![warn(missing_docs)]

mod classes;
pub mod demo;
mod error;
mod label;
mod loader;
mod rng;
pub mod transforms;
mod voc;

pub use classes::{ClassList, CLASSES_FILE, MAX_CLASSES, VOC_CLASSES};
pub use error::{Error, Result};
pub use label::{
    decode_label_png, encode_palette_png, read_label_png, voc_palette, write_index_png,
    write_palette_png, LabelMap, MultiHot, BACKGROUND_LABEL, VOID_LABEL,
};
pub use loader::{Batch, EpochIter, Loader, LoaderConfig, LoaderMode};
pub use rng::{sample_rng, shuffle_rng};
pub use voc::{
    decode_image, has_split, ForegroundReport, Sample, VocDataset, AUG_MASKS_DIR, IMAGES_DIR,
    MASKS_DIR, SPLITS_DIR,
};
