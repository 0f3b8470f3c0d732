//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while evaluating: each variant names its culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle::Error),
    /// Reading the dataset failed.
    #[error(transparent)]
    Dataset(#[from] eader_dataset::Error),
    /// Building or running a network failed.
    #[error(transparent)]
    Models(#[from] eader_models::Error),
    /// An erasing op failed.
    #[error(transparent)]
    Erasing(#[from] eader_erasing::Error),
    /// Computing metrics failed.
    #[error(transparent)]
    Metrics(#[from] eader_metrics::Error),
    /// Reading or writing a file or folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting of the evaluation is unusable; `setting` is the option that
    /// sets it, kebab-case as on the command line (`scales`, `select-on`).
    #[error("invalid option --{setting}: {message}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Inputs that must fit each other do not (maps and image sizes, a label
    /// map and its image, a network's classes and the dataset's).
    #[error("{what}: {message}")]
    Mismatch {
        /// The input at fault (an image id, a split).
        what: String,
        /// What does not fit.
        message: String,
    },
    /// A file of an earlier pass (maps `.npz`, a saved prediction) cannot be used.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An output file or folder cannot be written.
    #[error("{path}: {message}")]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An image could not be decoded or encoded.
    #[error("image {path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the codec said.
        message: String,
    },
    /// A worker of the pass failed without an error of its own (a panic, a
    /// closed channel): a bug, not bad input.
    #[error("internal error: {0}")]
    Internal(String),
    /// The caller's [`crate::PassObserver`] failed; its error, unchanged.
    #[error(transparent)]
    Observer(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidSetting`].
    pub fn setting(setting: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidSetting {
            setting,
            message: message.into(),
        }
    }

    /// An [`Error::Mismatch`].
    pub fn mismatch(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Mismatch {
            what: what.into(),
            message: message.into(),
        }
    }

    /// An [`Error::BadFile`].
    pub fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<eader_fs::WriteError> for Error {
    fn from(e: eader_fs::WriteError) -> Self {
        Self::io(e.path, e.source)
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
