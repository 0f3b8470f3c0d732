//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong between files on disk and batches.
///
/// Every variant about a file carries its path, so a message alone tells the
/// user which file to look at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The folder is not in VOC layout.
    #[error("{}: not a VOC dataset folder (expected VOCdevkit/VOC2012, VOC2012, or a folder with JPEGImages/ and ImageSets/Segmentation/)", path.display())]
    NotVocLayout {
        /// The folder given.
        path: PathBuf,
    },
    /// The split list `ImageSets/Segmentation/<split>.txt` does not exist.
    #[error("{}: split file not found (available splits: {available})", path.display())]
    MissingSplit {
        /// The expected split file.
        path: PathBuf,
        /// The split files that do exist, comma separated.
        available: String,
    },
    /// The split list names no image.
    #[error("{}: split lists no image", path.display())]
    EmptySplit {
        /// The split file.
        path: PathBuf,
    },
    /// A file listed by the split is missing.
    #[error("{}: {kind} not found ({missing} of {listed} listed {kind}s are missing)", path.display())]
    MissingFile {
        /// The first missing file.
        path: PathBuf,
        /// `"image"` or `"mask"`.
        kind: &'static str,
        /// How many files of this kind are missing in total.
        missing: usize,
        /// How many ids the split lists.
        listed: usize,
    },
    /// A file exists but cannot be decoded.
    #[error("{}: cannot decode {kind}: {message}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// `"image"` or `"mask"`.
        kind: &'static str,
        /// The decoder's explanation.
        message: String,
    },
    /// A label PNG is neither a palette PNG nor a single-channel 8-bit PNG.
    #[error("{}: label PNG must be a palette or single-channel 8-bit PNG, found {found}", path.display())]
    UnsupportedLabelPng {
        /// The file.
        path: PathBuf,
        /// The colour type and bit depth found.
        found: String,
    },
    /// Image and mask of one sample differ in size.
    #[error("{}: mask is {mask_width}x{mask_height} but its image {} is {image_width}x{image_height}", mask_path.display(), image_path.display())]
    SizeMismatch {
        /// The image file.
        image_path: PathBuf,
        /// The mask file.
        mask_path: PathBuf,
        /// Image width.
        image_width: u32,
        /// Image height.
        image_height: u32,
        /// Mask width.
        mask_width: u32,
        /// Mask height.
        mask_height: u32,
    },
    /// A mask holds a label that is neither a class index nor 255 (void).
    #[error("{}: label {label} at pixel ({x}, {y}) is above the class count (classes 0..={n_classes}, 255 = void)", path.display())]
    LabelOutOfRange {
        /// The mask file.
        path: PathBuf,
        /// The offending label.
        label: u8,
        /// Column of its first occurrence.
        x: u32,
        /// Row of its first occurrence.
        y: u32,
        /// Number of foreground classes (labels 1..=n_classes are classes).
        n_classes: usize,
    },
    /// `classes.txt` is unusable.
    #[error("{}: {message}", path.display())]
    InvalidClassList {
        /// The class list file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Every image of a training split lacks a foreground class.
    #[error("{}: no image of split {split:?} has a foreground class, nothing to train on", root.display())]
    NoForeground {
        /// The dataset folder.
        root: PathBuf,
        /// The split.
        split: String,
    },
    /// A sample index past the end of the dataset.
    #[error("sample index {index} is out of range for a dataset of {len} images")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A label map handed to a function has the wrong number of pixels.
    #[error("label map of {width}x{height} needs {expected} pixels, got {actual}")]
    LabelMapSize {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// `width * height`.
        expected: usize,
        /// Pixels given.
        actual: usize,
    },
    /// The background loader thread stopped unexpectedly.
    #[error("loader worker thread panicked")]
    WorkerPanicked,
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle::Error),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
