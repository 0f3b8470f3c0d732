//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when building, running or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from candle (shape mismatch inside an op, unsupported dtype, …).
    #[error(transparent)]
    Candle(#[from] candle::Error),
    /// A fast kernel refused its input (shape, dtype or configuration).
    #[error(transparent)]
    Kernel(#[from] eader_kernels::Error),
    /// An architecture name that is not one of [`crate::Architecture`]'s.
    #[error("unknown architecture `{name}`, expected one of: {valid}")]
    UnknownArchitecture {
        /// The name given.
        name: String,
        /// The accepted names, comma separated.
        valid: String,
    },
    /// A tensor the model needs is not in the weights file.
    #[error("{path}: missing tensor `{name}` (the model expects shape {expected:?})")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The torchvision name of the tensor.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
    },
    /// The weights file holds a tensor the model does not have.
    #[error(
        "{path}: unexpected tensor `{name}` of shape {shape:?} (the model has no such parameter)"
    )]
    UnexpectedTensor {
        /// The weights file.
        path: PathBuf,
        /// The name found in the file.
        name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// A tensor of the weights file has the wrong shape.
    #[error("{path}: tensor `{name}` has shape {actual:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The weights file.
        path: PathBuf,
        /// The torchvision name of the tensor.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor of the weights file is not floating point.
    #[error("{path}: tensor `{name}` has dtype {dtype}, expected a floating-point tensor")]
    NotFloat {
        /// The weights file.
        path: PathBuf,
        /// The name of the tensor.
        name: String,
        /// Its dtype as safetensors names it.
        dtype: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A weights file does not hold a network of the architecture asked for.
    #[error("{path}: does not hold a {arch} network: {reason}")]
    WrongNetwork {
        /// The weights file.
        path: PathBuf,
        /// The architecture asked for.
        arch: crate::Architecture,
        /// The first thing that does not fit.
        reason: String,
    },
    /// A file is not valid safetensors.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// An input tensor has the wrong rank, shape or dtype for an operation.
    #[error("{op}: {msg}")]
    BadInput {
        /// The operation that refused the input.
        op: &'static str,
        /// What is wrong, with expected and actual shapes.
        msg: String,
    },
    /// Fetching weights from the Hugging Face Hub failed.
    #[error("hugging face hub, {repo}: {msg}")]
    Hub {
        /// The repository, e.g. `timm/resnet50.tv_in1k`.
        repo: String,
        /// What went wrong and what to do about it.
        msg: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for [`Error::BadInput`].
pub(crate) fn bad_input(op: &'static str, msg: impl Into<String>) -> Error {
    Error::BadInput {
        op,
        msg: msg.into(),
    }
}
