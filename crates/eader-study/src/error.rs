//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while planning a study, reading its runs or writing its
/// reports; each variant names its culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A grid option (`--alpha`, `--seeds`) is empty, unparsable or repeats a value.
    #[error("--{option}: {message}")]
    InvalidList {
        /// The option, kebab-case as on the command line.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A run folder of the study holds a run that does not fit the study
    /// (trained with other options).
    #[error("{path}: {message}")]
    ForeignRun {
        /// The run folder.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A results file (`summary.json`, `metrics.json`) is missing or unreadable.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Writing a report failed.
    #[error("{path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading a run's configuration or drawing a plot failed.
    #[error(transparent)]
    Train(Box<eader_train::Error>),
}

impl From<eader_train::Error> for Error {
    fn from(e: eader_train::Error) -> Self {
        Self::Train(Box::new(e))
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
