//! The crate's error type.

/// What can go wrong when calling a kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from candle (inside a composed op, or while building a tensor).
    #[error(transparent)]
    Candle(#[from] candle::Error),
    /// An input does not have the shape the op needs.
    #[error("{op}: {what} has shape {actual:?}, expected {expected}")]
    Shape {
        /// The op that refused the input.
        op: &'static str,
        /// Which input (`input`, `weight`, `bias`, ...).
        what: &'static str,
        /// What was expected, in words (e.g. `(N, C, H, W)` or `(64,)`).
        expected: String,
        /// The shape given.
        actual: Vec<usize>,
    },
    /// A configuration value the op cannot run with.
    #[error("{op}: {message}")]
    Config {
        /// The op that refused the configuration.
        op: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// Inputs of one call have different dtypes or devices.
    #[error("{op}: {what} has dtype {actual:?}, expected {expected:?} like the input")]
    DType {
        /// The op that refused the input.
        op: &'static str,
        /// Which input.
        what: &'static str,
        /// The dtype of the main input.
        expected: candle::DType,
        /// The dtype given.
        actual: candle::DType,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for candle::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Candle(e) => e,
            other => candle::Error::wrap(other),
        }
    }
}

/// A shape error for `op`'s input `what`.
pub(crate) fn shape_error(
    op: &'static str,
    what: &'static str,
    expected: impl Into<String>,
    actual: &[usize],
) -> Error {
    Error::Shape {
        op,
        what,
        expected: expected.into(),
        actual: actual.to_vec(),
    }
}

/// A configuration error for `op`.
pub(crate) fn config_error(op: &'static str, message: impl Into<String>) -> Error {
    Error::Config {
        op,
        message: message.into(),
    }
}
