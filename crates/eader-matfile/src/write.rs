//! A minimal writer: [`MatFile`] to v5 bytes, compressed or not.
//!
//! It exists so tests can build MAT-files without MATLAB or SciPy (the
//! `prepare-voc` tests pack SBD-like `.mat` files into archives) and so the
//! reader can be round-trip tested. Elements are stored in their class's own
//! type, little-endian, with the small-element format for short data, as
//! MATLAB does.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{flag, mi, mx, HEADER_LEN, VERSION_5};
use crate::value::{MatFile, NumericData, StructArray, Value};

/// How to write a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Wrap each variable in a zlib-compressed element (MATLAB's `-v7`, SciPy's
    /// `do_compression=True`).
    pub compress: bool,
}

impl MatFile {
    /// Encodes the file; errors when a value is inconsistent (element counts
    /// that do not match the dimensions, unsupported classes, ...).
    pub fn to_bytes(&self, options: WriteOptions) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut text: Vec<u8> = self
            .header_text
            .bytes()
            .map(|b| if b.is_ascii() { b } else { b'?' })
            .take(116)
            .collect();
        text.resize(116, b' ');
        out.extend_from_slice(&text);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&VERSION_5.to_le_bytes());
        out.extend_from_slice(b"IM");
        debug_assert_eq!(out.len(), HEADER_LEN);

        for variable in &self.variables {
            let invalid = |message: String| Error::InvalidValue {
                name: variable.name.clone(),
                message,
            };
            let mut matrix = Vec::new();
            encode_matrix(
                &mut matrix,
                &variable.name,
                variable.global,
                &variable.value,
            )
            .map_err(invalid)?;
            let mut element = Vec::new();
            push_element(&mut element, mi::MATRIX, &matrix);
            if options.compress {
                let mut encoder =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                let compressed = encoder
                    .write_all(&element)
                    .and_then(|()| encoder.finish())
                    .map_err(|error| invalid(format!("compression failed: {error}")))?;
                push_tag(&mut out, mi::COMPRESSED, compressed.len());
                out.extend_from_slice(&compressed);
            } else {
                out.extend_from_slice(&element);
            }
        }
        Ok(out)
    }

    /// Encodes the file and writes it to `path`.
    pub fn save(&self, path: impl AsRef<Path>, options: WriteOptions) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes(options)?;
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
    }
}

fn push_tag(out: &mut Vec<u8>, data_type: u32, len: usize) {
    out.extend_from_slice(&data_type.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

/// Appends one data element, small format when 1 to 4 bytes, padded to 8.
fn push_element(out: &mut Vec<u8>, data_type: u32, data: &[u8]) {
    if (1..=4).contains(&data.len()) && data_type != mi::MATRIX {
        let word = ((data.len() as u32) << 16) | data_type;
        out.extend_from_slice(&word.to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + 4 - data.len(), 0);
        return;
    }
    push_tag(out, data_type, data.len());
    out.extend_from_slice(data);
    out.resize(out.len() + (8 - data.len() % 8) % 8, 0);
}

fn i32_bytes(values: &[usize]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for &value in values {
        let value =
            i32::try_from(value).map_err(|_| format!("{value} does not fit in an int32"))?;
        out.extend_from_slice(&value.to_le_bytes());
    }
    Ok(out)
}

/// The data type a class's elements are written as, and their bytes.
fn numeric_bytes(data: &NumericData) -> (u32, Vec<u8>) {
    macro_rules! bytes {
        ($values:expr, $data_type:expr) => {
            (
                $data_type,
                $values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        };
    }
    match data {
        NumericData::Double(values) => bytes!(values, mi::DOUBLE),
        NumericData::Single(values) => bytes!(values, mi::SINGLE),
        NumericData::Int8(values) => bytes!(values, mi::INT8),
        NumericData::UInt8(values) => (mi::UINT8, values.clone()),
        NumericData::Int16(values) => bytes!(values, mi::INT16),
        NumericData::UInt16(values) => bytes!(values, mi::UINT16),
        NumericData::Int32(values) => bytes!(values, mi::INT32),
        NumericData::UInt32(values) => bytes!(values, mi::UINT32),
        NumericData::Int64(values) => bytes!(values, mi::INT64),
        NumericData::UInt64(values) => bytes!(values, mi::UINT64),
    }
}

fn class_number(data: &NumericData) -> u8 {
    match data {
        NumericData::Double(_) => mx::DOUBLE,
        NumericData::Single(_) => mx::SINGLE,
        NumericData::Int8(_) => mx::INT8,
        NumericData::UInt8(_) => mx::UINT8,
        NumericData::Int16(_) => mx::INT16,
        NumericData::UInt16(_) => mx::UINT16,
        NumericData::Int32(_) => mx::INT32,
        NumericData::UInt32(_) => mx::UINT32,
        NumericData::Int64(_) => mx::INT64,
        NumericData::UInt64(_) => mx::UINT64,
    }
}

fn numel(dims: &[usize]) -> std::result::Result<usize, String> {
    if dims.len() < 2 {
        return Err(format!("{} dimensions, at least 2 needed", dims.len()));
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))
}

fn check_len(what: &str, len: usize, expected: usize) -> std::result::Result<(), String> {
    if len == expected {
        Ok(())
    } else {
        Err(format!("{len} {what} for {expected} elements"))
    }
}

/// Appends the contents of a miMATRIX element (without its tag).
fn encode_matrix(
    out: &mut Vec<u8>,
    name: &str,
    global: bool,
    value: &Value,
) -> std::result::Result<(), String> {
    let mut flags = if global { flag::GLOBAL } else { 0 };
    let mut nzmax = 0u32;
    let (class, dims) = match value {
        Value::Numeric(array) => {
            check_len("values", array.real.len(), numel(&array.dims)?)?;
            if array.logical {
                flags |= flag::LOGICAL;
            }
            if let Some(imag) = &array.imag {
                flags |= flag::COMPLEX;
                check_len("imaginary values", imag.len(), array.real.len())?;
                if imag.class() != array.real.class() {
                    return Err("real and imaginary parts of different classes".to_owned());
                }
            }
            (class_number(&array.real), array.dims.clone())
        }
        Value::Char(array) => {
            check_len("characters", array.chars.len(), numel(&array.dims)?)?;
            (mx::CHAR, array.dims.clone())
        }
        Value::Cell(array) => {
            check_len("cells", array.cells.len(), numel(&array.dims)?)?;
            (mx::CELL, array.dims.clone())
        }
        Value::Struct(array) => {
            check_struct(array)?;
            (mx::STRUCT, array.dims.clone())
        }
        Value::Object(object) => {
            check_struct(&object.fields)?;
            (mx::OBJECT, object.fields.dims.clone())
        }
        Value::Sparse(array) => {
            if array.logical {
                flags |= flag::LOGICAL;
            }
            if array.imag.is_some() {
                flags |= flag::COMPLEX;
            }
            check_sparse(array)?;
            nzmax = u32::try_from(array.nnz().max(1)).map_err(|_| "too many elements")?;
            (mx::SPARSE, vec![array.rows, array.cols])
        }
        Value::Unsupported { class } => {
            return Err(format!("arrays of class {class} cannot be written"));
        }
    };
    let mut flag_bytes = (u32::from(class) | flags).to_le_bytes().to_vec();
    flag_bytes.extend_from_slice(&nzmax.to_le_bytes());
    push_element(out, mi::UINT32, &flag_bytes);
    push_element(out, mi::INT32, &i32_bytes(&dims)?);
    push_element(out, mi::INT8, name.as_bytes());

    match value {
        Value::Numeric(array) => {
            let (data_type, bytes) = numeric_bytes(&array.real);
            push_element(out, data_type, &bytes);
            if let Some(imag) = &array.imag {
                let (data_type, bytes) = numeric_bytes(imag);
                push_element(out, data_type, &bytes);
            }
        }
        Value::Char(array) => {
            let mut bytes = Vec::with_capacity(array.chars.len() * 2);
            for &c in &array.chars {
                let unit = u16::try_from(u32::from(c))
                    .map_err(|_| format!("character {c:?} is outside UTF-16's basic plane"))?;
                bytes.extend_from_slice(&unit.to_le_bytes());
            }
            push_element(out, mi::UINT16, &bytes);
        }
        Value::Cell(array) => {
            for cell in &array.cells {
                push_nested(out, cell)?;
            }
        }
        Value::Struct(array) => encode_fields(out, array)?,
        Value::Object(object) => {
            push_element(out, mi::INT8, object.class_name.as_bytes());
            encode_fields(out, &object.fields)?;
        }
        Value::Sparse(array) => {
            push_element(out, mi::INT32, &i32_bytes(&array.row_indices)?);
            push_element(out, mi::INT32, &i32_bytes(&array.col_starts)?);
            let (data_type, bytes) = numeric_bytes(&array.real);
            push_element(out, data_type, &bytes);
            if let Some(imag) = &array.imag {
                let (data_type, bytes) = numeric_bytes(imag);
                push_element(out, data_type, &bytes);
            }
        }
        Value::Unsupported { .. } => {}
    }
    Ok(())
}

fn push_nested(out: &mut Vec<u8>, value: &Value) -> std::result::Result<(), String> {
    let mut matrix = Vec::new();
    encode_matrix(&mut matrix, "", false, value)?;
    push_element(out, mi::MATRIX, &matrix);
    Ok(())
}

fn check_struct(array: &StructArray) -> std::result::Result<(), String> {
    let expected = numel(&array.dims)?
        .checked_mul(array.field_names.len())
        .ok_or("too many field values")?;
    check_len("field values", array.values.len(), expected)?;
    if let Some(name) = array
        .field_names
        .iter()
        .find(|name| name.is_empty() || name.contains('\0'))
    {
        return Err(format!("invalid field name {name:?}"));
    }
    Ok(())
}

fn check_sparse(array: &crate::value::SparseArray) -> std::result::Result<(), String> {
    let starts = &array.col_starts;
    if starts.len() != array.cols + 1
        || starts.first() != Some(&0)
        || starts.windows(2).any(|pair| pair[0] > pair[1])
    {
        return Err("sparse column starts must be cols + 1 non-decreasing offsets from 0".into());
    }
    let nnz = array.nnz();
    check_len("row indices", array.row_indices.len(), nnz)?;
    check_len("sparse values", array.real.len(), nnz)?;
    if let Some(imag) = &array.imag {
        check_len("sparse imaginary values", imag.len(), nnz)?;
    }
    if array.row_indices.iter().any(|&row| row >= array.rows) {
        return Err("sparse row index outside the matrix".into());
    }
    let expected = if array.logical {
        crate::NumericClass::UInt8
    } else {
        crate::NumericClass::Double
    };
    if array.real.class() != expected {
        return Err(format!(
            "sparse values must be {} for a {}logical matrix",
            expected.name(),
            if array.logical { "" } else { "non-" }
        ));
    }
    Ok(())
}

fn encode_fields(out: &mut Vec<u8>, array: &StructArray) -> std::result::Result<(), String> {
    let name_len = array
        .field_names
        .iter()
        .map(|name| name.len() + 1)
        .max()
        .unwrap_or(1);
    let name_len_i32 = i32::try_from(name_len).map_err(|_| "field name too long")?;
    push_element(out, mi::INT32, &name_len_i32.to_le_bytes());
    let mut names = Vec::with_capacity(name_len * array.field_names.len());
    for name in &array.field_names {
        names.extend_from_slice(name.as_bytes());
        names.resize(names.len() + name_len - name.len(), 0);
    }
    push_element(out, mi::INT8, &names);
    for value in &array.values {
        push_nested(out, value)?;
    }
    Ok(())
}
