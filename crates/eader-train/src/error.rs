//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while configuring, running or checkpointing a training run;
/// each variant names its culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde_json said.
        message: String,
    },
    /// A TOML configuration file could not be parsed or written.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// An option has a value the run cannot use, or two options contradict each other.
    #[error("invalid option --{option}: {message}")]
    InvalidOption {
        /// The option, kebab-case as on the command line.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An input file (a batch for `eader inspect`) is not what it should be.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A checkpoint is missing, incomplete, or does not fit the run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Optimizer state does not match the parameters it is loaded into.
    #[error("optimizer state {name}: {message}")]
    OptimizerState {
        /// The offending state tensor.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// A loss became NaN or infinite.
    #[error(
        "loss term {term} is {value} at epoch {epoch}, batch {batch} (global step {global_step})"
    )]
    NonFiniteLoss {
        /// The loss term (`loss_cls`, `loss_reg`, `loss_am`, `loss_adv`, `loss`).
        term: String,
        /// Its value.
        value: f64,
        /// Epoch, counted from 1.
        epoch: usize,
        /// Batch index within the epoch, from 0.
        batch: usize,
        /// Global step (method.md's `s`).
        global_step: u64,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// What plotters said.
        message: String,
    },
    /// The device asked for cannot be used (`--device cuda:N`).
    #[error("device {device}: {message}")]
    Device {
        /// The device as `--device` names it (`cuda:0`).
        device: String,
        /// Why it cannot be used, and what to do.
        message: String,
    },
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
    /// The evaluation pass (validation) failed.
    #[error(transparent)]
    Eval(#[from] eader_eval::Error),
}

impl From<eader_fs::WriteError> for Error {
    fn from(e: eader_fs::WriteError) -> Self {
        Self::io(e.path, e.source)
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::InvalidOption`].
    pub fn option(option: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidOption {
            option,
            message: message.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
