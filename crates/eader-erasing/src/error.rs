//! The crate's error type.

use candle::DType;

/// What can go wrong when calling the erasing ops.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor does not have the shape the op needs.
    #[error("{op}: {name} should have shape {expected}, got {actual:?}")]
    Shape {
        /// The op that was called.
        op: &'static str,
        /// Which argument.
        name: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape received.
        actual: Vec<usize>,
    },
    /// The ops run on f32 and f64 only.
    #[error("{op}: {name} has dtype {dtype:?}, expected f32 or f64")]
    DType {
        /// The op that was called.
        op: &'static str,
        /// Which argument.
        name: &'static str,
        /// The dtype received.
        dtype: DType,
    },
    /// Two arguments do not share a dtype or a device.
    #[error("{op}: {what}")]
    Mismatch {
        /// The op that was called.
        op: &'static str,
        /// What differs.
        what: String,
    },
    /// A size or parameter is out of range.
    #[error("{op}: {what}")]
    InvalidArgument {
        /// The op that was called.
        op: &'static str,
        /// What is wrong.
        what: String,
    },
    /// An error from candle, including the ops' own kernels (a CUDA launch, NVRTC).
    #[error(transparent)]
    Candle(#[from] candle::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
