//! The crate's error type.

/// What can go wrong when feeding label maps to a [`crate::ConfusionMatrix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Prediction and ground truth have a different number of pixels.
    #[error("prediction has {prediction} pixels but ground truth has {ground_truth}")]
    LengthMismatch {
        /// Pixels in the prediction.
        prediction: usize,
        /// Pixels in the ground truth.
        ground_truth: usize,
    },
    /// A predicted label is not a class index.
    #[error("prediction label {label} at pixel {pixel} is outside 0..{n_classes}")]
    PredictionOutOfRange {
        /// The offending label.
        label: u8,
        /// Its position in the flattened map.
        pixel: usize,
        /// Number of classes of the matrix.
        n_classes: usize,
    },
    /// A ground-truth label is neither a class index nor the ignore index.
    #[error("ground-truth label {label} at pixel {pixel} is outside 0..{n_classes} and is not the ignore index 255")]
    GroundTruthOutOfRange {
        /// The offending label.
        label: u8,
        /// Its position in the flattened map.
        pixel: usize,
        /// Number of classes of the matrix.
        n_classes: usize,
    },
    /// Two matrices over a different number of classes cannot be merged.
    #[error("cannot merge a confusion matrix over {left} classes with one over {right}")]
    ClassCountMismatch {
        /// Classes of the receiving matrix.
        left: usize,
        /// Classes of the other matrix.
        right: usize,
    },
    /// The number of classes must be in 1..=255 (255 is the ignore index).
    #[error("a confusion matrix needs 1..=255 classes, got {0}")]
    InvalidClassCount(usize),
    /// Class names given for a report do not match the matrix.
    #[error("{names} class names given for a confusion matrix over {n_classes} classes")]
    ClassNamesMismatch {
        /// Names given.
        names: usize,
        /// Classes of the matrix.
        n_classes: usize,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
