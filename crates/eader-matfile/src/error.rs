//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when reading or writing a MAT-file.
///
/// Offsets count bytes from the start of the file, or, for data inside a
/// compressed element, from the start of its decompressed stream (the
/// message then says which compressed element).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An error while reading the file at `path`.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// The file is not a MATLAB v5/v7 MAT-file.
    #[error("not a MATLAB v5 MAT-file: {0}")]
    NotMat5(String),
    /// The file is a MATLAB v7.3 MAT-file, which is HDF5 and not supported.
    #[error("MATLAB v7.3 (HDF5) MAT-files are not supported; save with -v7 or -v6")]
    UnsupportedV73,
    /// The data ends before an element does.
    #[error("truncated {what} at byte {offset}{location}: needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
        /// `""` at top level, or `" in compressed element at byte N"`.
        location: String,
    },
    /// The data is structurally wrong.
    #[error("malformed {what} at byte {offset}{location}: {message}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// What is wrong.
        message: String,
        /// `""` at top level, or `" in compressed element at byte N"`.
        location: String,
    },
    /// A compressed element does not inflate.
    #[error("compressed element at byte {offset} does not decompress: {source}")]
    Decompress {
        /// Where the element starts in the file.
        offset: usize,
        /// The zlib error.
        source: std::io::Error,
    },
    /// A compressed element inflates beyond [`crate::MAX_DECOMPRESSED_LEN`].
    #[error("compressed element at byte {offset} inflates to more than {limit} bytes")]
    TooLarge {
        /// Where the element starts in the file.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// Arrays nested deeper than [`crate::MAX_DEPTH`] (cells in cells ...).
    #[error("arrays nested deeper than {0} levels")]
    TooDeep(usize),
    /// A value given to the writer is inconsistent.
    #[error("cannot write variable {name:?}: {message}")]
    InvalidValue {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
