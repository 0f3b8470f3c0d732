//! A small reader for MATLAB v5 MAT-files (the format of MATLAB's `-v6` and
//! `-v7` saves and of SciPy's `scipy.io.savemat`), written for the SBD
//! dataset's label files: `cls/*.mat` hold a struct `GTcls` whose field
//! `Segmentation` is a `uint8` class-index map. `cargo xtask prepare-voc`
//! turns them into PNGs with it.
//!
//! - [`MatFile::parse`] / [`MatFile::open`] read a file into [`Variable`]s
//!   holding [`Value`]s: numeric and logical arrays of every class
//!   ([`NumericArray`]), characters, cells, structs, objects and sparse
//!   matrices; elements may be zlib-compressed (`miCOMPRESSED`) and the
//!   file little- or big-endian. MATLAB v7.3 files (HDF5) are refused with
//!   [`Error::UnsupportedV73`].
//! - Arrays keep MATLAB's column-major order; [`NumericArray::to_matrix_u8`]
//!   gives a row-major 2-D label map.
//! - [`MatFile::to_bytes`] writes files back (no compression or zlib, see
//!   [`WriteOptions`]); tests use it to build SBD-like archives.
//!
//! Malformed input is an [`Error`] that says what and where (byte offset),
//! never a panic: the parser checks every length against the bytes present,
//! caps inflated sizes ([`MAX_DECOMPRESSED_LEN`]) and nesting
//! ([`MAX_DEPTH`]), and is fuzzed (`fuzz/`, run with
//! `cargo fuzz run parse` from this crate's directory).
//!
//! Why not a crates.io reader: `matfile` 0.5 reads numeric arrays only and
//! skips structs and cells, which is where SBD keeps its labels.
//!
//! ```
//! use eader_matfile::{MatFile, NumericArray, NumericData, StructArray, Value, Variable, WriteOptions};
//!
//! let segmentation = NumericArray::new(vec![2, 3], NumericData::UInt8(vec![0, 3, 1, 4, 2, 255]));
//! let gtcls = Value::Struct(StructArray {
//!     dims: vec![1, 1],
//!     field_names: vec!["Segmentation".into()],
//!     values: vec![Value::Numeric(segmentation)],
//! });
//! let file = MatFile {
//!     header_text: "MATLAB 5.0 MAT-file".into(),
//!     variables: vec![Variable { name: "GTcls".into(), global: false, value: gtcls }],
//! };
//! let bytes = file.to_bytes(WriteOptions { compress: true })?;
//!
//! let read = MatFile::parse(&bytes)?;
//! let labels = read.get("GTcls").and_then(|v| v.field("Segmentation"))
//!     .and_then(Value::as_numeric).and_then(NumericArray::to_matrix_u8).unwrap();
//! assert_eq!((labels.rows, labels.cols), (2, 3));
//! assert_eq!(labels.data, [0, 1, 2, 3, 4, 255]); // row-major
//! # Ok::<(), eader_matfile::Error>(())
//! ```
#![warn(missing_docs)]

mod error;
mod format;
mod read;
mod value;
mod write;

pub use error::{Error, Result};
pub use read::{MAX_DECOMPRESSED_LEN, MAX_DEPTH};
pub use value::{
    column_to_row_major, CellArray, CharArray, MatFile, Matrix, NumericArray, NumericClass,
    NumericData, ObjectArray, SparseArray, StructArray, Value, Variable,
};
pub use write::WriteOptions;
