//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when building or running a dense CRF, or reading its inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An array does not have the shape the CRF expects.
    #[error("{name} has shape {actual:?} but {expected:?} was expected")]
    ShapeMismatch {
        /// The array at fault (`"probabilities"`, `"unary"`, `"rgb image"`, ...).
        name: String,
        /// The shape the CRF needs.
        expected: Vec<usize>,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// A value is NaN or infinite.
    #[error("{name} has a non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The array at fault.
        name: String,
        /// Position in the flattened array.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A probability is below zero.
    #[error("{name} has a negative probability {value} at flat index {index}")]
    NegativeProbability {
        /// The array at fault.
        name: String,
        /// Position in the flattened array.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A CRF needs at least two labels.
    #[error("a dense CRF needs at least 2 labels, got {0}")]
    TooFewLabels(usize),
    /// The image has no pixels.
    #[error("a dense CRF needs a non-empty image, got {width}x{height}")]
    EmptyImage {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// A kernel parameter is out of its range.
    #[error("{name} must be {requirement}, got {value}")]
    InvalidParameter {
        /// The parameter (`"gaussian sxy"`, `"gt_prob"`, ...).
        name: &'static str,
        /// What it must satisfy.
        requirement: &'static str,
        /// The value given.
        value: f32,
    },
    /// Lattice coordinates would not fit the lattice keys (a tiny standard deviation
    /// on a large image).
    #[error("{kernel} kernel features reach {max_feature} (position or colour over its standard deviation), lattice coordinates would overflow; use a larger standard deviation")]
    LatticeOverflow {
        /// The kernel at fault.
        kernel: &'static str,
        /// Largest absolute scaled feature.
        max_feature: f32,
    },
    /// A hard label is not below the number of labels.
    #[error("label {label} at pixel {pixel} is outside 0..{n_labels}")]
    LabelOutOfRange {
        /// The label.
        label: u32,
        /// Its position in the flattened map.
        pixel: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A preset name that is not one of [`crate::Preset::NAMES`].
    #[error("unknown CRF preset {name:?} (known: psa, irn, deeplab)")]
    UnknownPreset {
        /// The name given.
        name: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `.npy` file is malformed or holds something other than a float array.
    #[error("{path} is not a float32/float64 .npy array: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An image could not be decoded.
    #[error("cannot read image {path}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: image::ImageError,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
