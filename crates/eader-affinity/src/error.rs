//! The crate's error type.

/// What can go wrong building a neighbourhood or a random walk; each variant
/// names its culprit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A setting (radius, beta) the walk cannot use.
    #[error("invalid {setting}: {message}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An input array does not fit its stated shape or holds values out of range.
    #[error("{input}: {message}")]
    BadInput {
        /// The input (`boundary`, `maps`).
        input: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
