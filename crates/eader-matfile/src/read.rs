//! The reader: MAT-file bytes to [`MatFile`].
//!
//! Every length read from the file is checked against the bytes actually
//! there before it is used, so a truncated or malformed file gives an
//! [`Error`], never a panic or a huge allocation (see the fuzz target in
//! `fuzz/`). Compressed elements inflate up to [`MAX_DECOMPRESSED_LEN`]
//! bytes; arrays nest up to [`MAX_DEPTH`] levels.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{data_type_name, flag, mi, mx, HEADER_LEN, VERSION_5, VERSION_73};
use crate::value::{
    CellArray, CharArray, MatFile, NumericArray, NumericClass, NumericData, ObjectArray,
    SparseArray, StructArray, Value, Variable,
};

/// Largest size a compressed element may inflate to (1 GiB); SBD's label
/// files inflate to a few hundred KB.
pub const MAX_DECOMPRESSED_LEN: usize = 1 << 30;

/// Deepest nesting of arrays (a cell in a cell in ...) the reader accepts.
pub const MAX_DEPTH: usize = 64;

impl MatFile {
    /// Parses a whole MAT-file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<MatFile> {
        parse(bytes)
    }

    /// Reads and parses the MAT-file at `path`; errors name the file.
    pub fn open(path: impl AsRef<Path>) -> Result<MatFile> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        parse(&bytes).map_err(|error| Error::InFile {
            path: path.to_owned(),
            source: Box::new(error),
        })
    }
}

fn parse(bytes: &[u8]) -> Result<MatFile> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::NotMat5(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let big_endian = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        _ => {
            return Err(Error::NotMat5(
                "no endian indicator 'IM' or 'MI' at byte 126".to_owned(),
            ))
        }
    };
    let version_bytes = [bytes[124], bytes[125]];
    let version = if big_endian {
        u16::from_be_bytes(version_bytes)
    } else {
        u16::from_le_bytes(version_bytes)
    };
    if version == VERSION_73 {
        return Err(Error::UnsupportedV73);
    }
    if version != VERSION_5 {
        return Err(Error::NotMat5(format!(
            "version field is {version:#06x}, expected 0x0100"
        )));
    }
    let header_text = String::from_utf8_lossy(&bytes[..116])
        .trim_end_matches([' ', '\0'])
        .to_owned();

    let top = Context {
        big_endian,
        location: String::new(),
    };
    let mut reader = Reader::new(&bytes[HEADER_LEN..], HEADER_LEN, &top);
    let mut variables = Vec::new();
    while !reader.at_end() {
        let element = reader.element("top-level element")?;
        match element.data_type {
            mi::MATRIX => variables.push(top.variable(&element)?),
            mi::COMPRESSED => {
                let inflated = inflate(element.data, element.offset)?;
                let inner = Context {
                    big_endian,
                    location: format!(" in compressed element at byte {}", element.offset),
                };
                let mut inner_reader = Reader::new(&inflated, 0, &inner);
                while !inner_reader.at_end() {
                    let element = inner_reader.element("compressed data element")?;
                    if element.data_type != mi::MATRIX {
                        return Err(inner.malformed(
                            "compressed data element",
                            element.offset,
                            format!(
                                "expected miMATRIX, found {}",
                                data_type_name(element.data_type)
                            ),
                        ));
                    }
                    variables.push(inner.variable(&element)?);
                }
            }
            other => {
                return Err(top.malformed(
                    "top-level element",
                    element.offset,
                    format!(
                        "expected miMATRIX or miCOMPRESSED, found {}",
                        data_type_name(other)
                    ),
                ))
            }
        }
    }
    Ok(MatFile {
        header_text,
        variables,
    })
}

fn inflate(data: &[u8], offset: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_DECOMPRESSED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|source| Error::Decompress { offset, source })?;
    if out.len() > MAX_DECOMPRESSED_LEN {
        return Err(Error::TooLarge {
            offset,
            limit: MAX_DECOMPRESSED_LEN,
        });
    }
    Ok(out)
}

/// What every reader of one stream shares: byte order and where the stream is.
struct Context {
    big_endian: bool,
    /// `""` for the file itself, `" in compressed element at byte N"` inside one.
    location: String,
}

impl Context {
    fn malformed(&self, what: &'static str, offset: usize, message: String) -> Error {
        Error::Malformed {
            what,
            offset,
            message,
            location: self.location.clone(),
        }
    }

    fn u32(&self, bytes: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }

    /// A top-level miMATRIX element as a named variable.
    fn variable(&self, element: &Element<'_>) -> Result<Variable> {
        let matrix = self.matrix(element, 0)?;
        Ok(Variable {
            name: matrix.name,
            global: matrix.global,
            value: matrix.value,
        })
    }

    /// Parses the contents of a miMATRIX element.
    fn matrix(&self, element: &Element<'_>, depth: usize) -> Result<Matrix> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        // An empty element stands for an empty (0x0 double) array.
        if element.data.is_empty() {
            return Ok(Matrix {
                name: String::new(),
                global: false,
                value: Value::Numeric(NumericArray::new(
                    vec![0, 0],
                    NumericData::Double(Vec::new()),
                )),
            });
        }
        let mut reader = Reader::new(element.data, element.offset + 8, self);

        let flags = reader.expect("array flags", &[mi::UINT32])?;
        if flags.data.len() != 8 {
            return Err(self.malformed(
                "array flags",
                flags.offset,
                format!("expected 8 bytes, found {}", flags.data.len()),
            ));
        }
        let word = self.u32([flags.data[0], flags.data[1], flags.data[2], flags.data[3]]);
        let class = (word & 0xff) as u8;
        let complex = word & flag::COMPLEX != 0;
        let global = word & flag::GLOBAL != 0;
        let logical = word & flag::LOGICAL != 0;

        let dims_element = reader.expect("dimensions", &[mi::INT32])?;
        let dims = self.dims(&dims_element)?;
        let numel = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let Some(numel) = numel else {
            return Err(self.malformed(
                "dimensions",
                dims_element.offset,
                format!("{dims:?} has more elements than fit in memory"),
            ));
        };

        let name_element = reader.expect("array name", &[mi::INT8, mi::UINT8, mi::UTF8])?;
        let name = String::from_utf8_lossy(name_element.data).into_owned();

        let value = match class {
            mx::CELL => {
                let mut cells = Vec::new();
                for _ in 0..numel {
                    cells.push(reader.nested_matrix(depth)?.value);
                }
                Value::Cell(CellArray { dims, cells })
            }
            mx::STRUCT => Value::Struct(reader.struct_fields(dims, numel, depth)?),
            mx::OBJECT => {
                let class_element = reader.expect("object class name", &[mi::INT8, mi::UINT8])?;
                let class_name = String::from_utf8_lossy(class_element.data).into_owned();
                let fields = reader.struct_fields(dims, numel, depth)?;
                Value::Object(ObjectArray { class_name, fields })
            }
            mx::CHAR => {
                let chars = if numel == 0 && reader.at_end() {
                    Vec::new()
                } else {
                    let data = reader.element("character data")?;
                    self.chars(&data, numel)?
                };
                Value::Char(CharArray { dims, chars })
            }
            mx::SPARSE => {
                let nzmax = self.u32([flags.data[4], flags.data[5], flags.data[6], flags.data[7]]);
                Value::Sparse(reader.sparse(&dims, &dims_element, logical, complex, nzmax)?)
            }
            mx::DOUBLE..=mx::UINT64 => {
                let class = numeric_class(class);
                let real = reader.numeric_part("real part", class, numel)?;
                let imag = if complex {
                    Some(reader.numeric_part("imaginary part", class, numel)?)
                } else {
                    None
                };
                Value::Numeric(NumericArray {
                    dims,
                    logical,
                    real,
                    imag,
                })
            }
            16 | 17 => Value::Unsupported { class },
            other => {
                return Err(self.malformed(
                    "array flags",
                    flags.offset,
                    format!("unknown array class {other}"),
                ))
            }
        };
        Ok(Matrix {
            name,
            global,
            value,
        })
    }

    fn dims(&self, element: &Element<'_>) -> Result<Vec<usize>> {
        let values = self.i32s(element, "dimensions")?;
        if values.len() < 2 {
            return Err(self.malformed(
                "dimensions",
                element.offset,
                format!("{} dimensions, at least 2 expected", values.len()),
            ));
        }
        values
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| {
                    self.malformed(
                        "dimensions",
                        element.offset,
                        format!("negative dimension {d}"),
                    )
                })
            })
            .collect()
    }

    fn i32s(&self, element: &Element<'_>, what: &'static str) -> Result<Vec<i32>> {
        if !element.data.len().is_multiple_of(4) {
            return Err(self.malformed(
                what,
                element.offset,
                format!(
                    "{} bytes is not a whole number of int32",
                    element.data.len()
                ),
            ));
        }
        Ok(element
            .data
            .chunks_exact(4)
            .map(|chunk| self.u32([chunk[0], chunk[1], chunk[2], chunk[3]]) as i32)
            .collect())
    }

    fn chars(&self, element: &Element<'_>, numel: usize) -> Result<Vec<char>> {
        let data = element.data;
        let chars: Vec<char> = match element.data_type {
            mi::UINT8 | mi::INT8 => data.iter().map(|&b| char::from(b)).collect(),
            mi::UTF8 => String::from_utf8_lossy(data).chars().collect(),
            mi::UINT16 | mi::UTF16 | mi::INT16 => {
                if !data.len().is_multiple_of(2) {
                    return Err(self.malformed(
                        "character data",
                        element.offset,
                        format!("{} bytes of UTF-16", data.len()),
                    ));
                }
                data.chunks_exact(2)
                    .map(|c| {
                        let unit = if self.big_endian {
                            u16::from_be_bytes([c[0], c[1]])
                        } else {
                            u16::from_le_bytes([c[0], c[1]])
                        };
                        char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)
                    })
                    .collect()
            }
            mi::UINT32 | mi::UTF32 | mi::INT32 => self
                .i32s(element, "character data")?
                .into_iter()
                .map(|v| char::from_u32(v as u32).unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
            other => {
                return Err(self.malformed(
                    "character data",
                    element.offset,
                    format!("characters stored as {}", data_type_name(other)),
                ))
            }
        };
        if chars.len() != numel {
            return Err(self.malformed(
                "character data",
                element.offset,
                format!("{} characters for {numel} elements", chars.len()),
            ));
        }
        Ok(chars)
    }

    /// Decodes numeric data stored as `element.data_type` into `class`.
    fn numeric(&self, element: &Element<'_>, class: NumericClass) -> Result<NumericData> {
        let size = element_size(element.data_type).ok_or_else(|| {
            self.malformed(
                "numeric data",
                element.offset,
                format!("numbers stored as {}", data_type_name(element.data_type)),
            )
        })?;
        if !element.data.len().is_multiple_of(size) {
            return Err(self.malformed(
                "numeric data",
                element.offset,
                format!(
                    "{} bytes is not a whole number of {}",
                    element.data.len(),
                    data_type_name(element.data_type)
                ),
            ));
        }
        // The common case (uint8 label maps) needs no conversion.
        if class == NumericClass::UInt8 && element.data_type == mi::UINT8 {
            return Ok(NumericData::UInt8(element.data.to_vec()));
        }
        let decode = Decoder {
            data: element.data,
            data_type: element.data_type,
            big_endian: self.big_endian,
        };
        Ok(match class {
            NumericClass::Double => NumericData::Double(decode.to()),
            NumericClass::Single => NumericData::Single(decode.to()),
            NumericClass::Int8 => NumericData::Int8(decode.to()),
            NumericClass::UInt8 => NumericData::UInt8(decode.to()),
            NumericClass::Int16 => NumericData::Int16(decode.to()),
            NumericClass::UInt16 => NumericData::UInt16(decode.to()),
            NumericClass::Int32 => NumericData::Int32(decode.to()),
            NumericClass::UInt32 => NumericData::UInt32(decode.to()),
            NumericClass::Int64 => NumericData::Int64(decode.to()),
            NumericClass::UInt64 => NumericData::UInt64(decode.to()),
        })
    }
}

/// A parsed miMATRIX: name, global flag, value.
struct Matrix {
    name: String,
    global: bool,
    value: Value,
}

/// One data element: its type, its data (without padding) and where its tag starts.
struct Element<'a> {
    data_type: u32,
    data: &'a [u8],
    offset: usize,
}

/// A cursor over the data elements of one stream (the file, an inflated
/// compressed element, or the inside of a miMATRIX).
struct Reader<'a, 'c> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the stream, for messages.
    base: usize,
    context: &'c Context,
}

impl<'a, 'c> Reader<'a, 'c> {
    fn new(buf: &'a [u8], base: usize, context: &'c Context) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            context,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn truncated(&self, what: &'static str, needed: usize) -> Error {
        Error::Truncated {
            what,
            offset: self.base + self.pos,
            needed,
            available: self.buf.len() - self.pos,
            location: self.context.location.clone(),
        }
    }

    /// Reads the next data element, in the normal or the small format.
    fn element(&mut self, what: &'static str) -> Result<Element<'a>> {
        let rest = &self.buf[self.pos..];
        if rest.len() < 8 {
            return Err(self.truncated(what, 8));
        }
        let offset = self.base + self.pos;
        let first = self.context.u32([rest[0], rest[1], rest[2], rest[3]]);
        if first >> 16 != 0 {
            // Small data element: 2 bytes of length, 2 of type, 4 of data.
            let len = (first >> 16) as usize;
            if len > 4 {
                return Err(self.context.malformed(
                    what,
                    offset,
                    format!("small data element claims {len} bytes, at most 4 fit"),
                ));
            }
            self.pos += 8;
            return Ok(Element {
                data_type: first & 0xffff,
                data: &rest[4..4 + len],
                offset,
            });
        }
        let len = self.context.u32([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() - 8 < len {
            return Err(Error::Truncated {
                what,
                offset,
                needed: len.saturating_add(8),
                available: rest.len(),
                location: self.context.location.clone(),
            });
        }
        let data = &rest[8..8 + len];
        let mut end = self.pos + 8 + len;
        if first != mi::COMPRESSED {
            // Elements are padded to 8 bytes; tolerate a missing final padding.
            end = (end + (8 - len % 8) % 8).min(self.buf.len());
        }
        self.pos = end;
        Ok(Element {
            data_type: first,
            data,
            offset,
        })
    }

    /// Reads the next element and checks its type.
    fn expect(&mut self, what: &'static str, types: &[u32]) -> Result<Element<'a>> {
        let element = self.element(what)?;
        if !types.contains(&element.data_type) {
            return Err(self.context.malformed(
                what,
                element.offset,
                format!("stored as {}", data_type_name(element.data_type)),
            ));
        }
        Ok(element)
    }

    fn nested_matrix(&mut self, depth: usize) -> Result<Matrix> {
        let element = self.expect("nested array", &[mi::MATRIX])?;
        self.context.matrix(&element, depth + 1)
    }

    fn struct_fields(
        &mut self,
        dims: Vec<usize>,
        numel: usize,
        depth: usize,
    ) -> Result<StructArray> {
        let length_element = self.expect("field name length", &[mi::INT32])?;
        let lengths = self.context.i32s(&length_element, "field name length")?;
        let name_len = match lengths.as_slice() {
            [len] if *len > 0 => *len as usize,
            _ => {
                return Err(self.context.malformed(
                    "field name length",
                    length_element.offset,
                    format!("expected one positive int32, found {lengths:?}"),
                ))
            }
        };
        let names_element = self.expect("field names", &[mi::INT8, mi::UINT8])?;
        if !names_element.data.len().is_multiple_of(name_len) {
            return Err(self.context.malformed(
                "field names",
                names_element.offset,
                format!(
                    "{} bytes is not a whole number of {name_len}-byte names",
                    names_element.data.len()
                ),
            ));
        }
        let field_names: Vec<String> = names_element
            .data
            .chunks_exact(name_len)
            .map(|chunk| {
                let end = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
                String::from_utf8_lossy(&chunk[..end]).into_owned()
            })
            .collect();
        let mut values = Vec::new();
        if !field_names.is_empty() {
            for _ in 0..numel {
                for _ in 0..field_names.len() {
                    values.push(self.nested_matrix(depth)?.value);
                }
            }
        }
        Ok(StructArray {
            dims,
            field_names,
            values,
        })
    }

    fn numeric_part(
        &mut self,
        what: &'static str,
        class: NumericClass,
        numel: usize,
    ) -> Result<NumericData> {
        if numel == 0 && self.at_end() {
            return Ok(empty_data(class));
        }
        let element = self.element(what)?;
        let data = self.context.numeric(&element, class)?;
        if data.len() != numel {
            return Err(self.context.malformed(
                what,
                element.offset,
                format!("{} elements for an array of {numel}", data.len()),
            ));
        }
        Ok(data)
    }

    fn sparse(
        &mut self,
        dims: &[usize],
        dims_element: &Element<'_>,
        logical: bool,
        complex: bool,
        _nzmax: u32,
    ) -> Result<SparseArray> {
        let context = self.context;
        let &[rows, cols] = dims else {
            return Err(context.malformed(
                "dimensions",
                dims_element.offset,
                format!("a sparse matrix has 2 dimensions, found {dims:?}"),
            ));
        };
        let ir_element = self.expect("sparse row indices", &[mi::INT32, mi::UINT32])?;
        let jc_element = self.expect("sparse column starts", &[mi::INT32, mi::UINT32])?;
        let to_usize = |values: Vec<i32>, element: &Element<'_>, what: &'static str| {
            values
                .into_iter()
                .map(|v| {
                    usize::try_from(v).map_err(|_| {
                        context.malformed(what, element.offset, format!("negative index {v}"))
                    })
                })
                .collect::<Result<Vec<usize>>>()
        };
        let mut row_indices = to_usize(
            context.i32s(&ir_element, "sparse row indices")?,
            &ir_element,
            "sparse row indices",
        )?;
        let col_starts = to_usize(
            context.i32s(&jc_element, "sparse column starts")?,
            &jc_element,
            "sparse column starts",
        )?;
        if col_starts.len() != cols.saturating_add(1)
            || col_starts.first() != Some(&0)
            || col_starts.windows(2).any(|pair| pair[0] > pair[1])
        {
            return Err(context.malformed(
                "sparse column starts",
                jc_element.offset,
                format!(
                    "expected {} non-decreasing offsets from 0",
                    cols.saturating_add(1)
                ),
            ));
        }
        let nnz = col_starts[cols];
        if row_indices.len() < nnz {
            return Err(context.malformed(
                "sparse row indices",
                ir_element.offset,
                format!("{} row indices for {nnz} elements", row_indices.len()),
            ));
        }
        row_indices.truncate(nnz);
        if let Some(&row) = row_indices.iter().find(|&&row| row >= rows) {
            return Err(context.malformed(
                "sparse row indices",
                ir_element.offset,
                format!("row {row} outside a matrix of {rows} rows"),
            ));
        }
        let class = if logical {
            NumericClass::UInt8
        } else {
            NumericClass::Double
        };
        let mut part = |what: &'static str| -> Result<NumericData> {
            if nnz == 0 && self.at_end() {
                return Ok(empty_data(class));
            }
            let element = self.element(what)?;
            let data = context.numeric(&element, class)?;
            if data.len() < nnz {
                return Err(context.malformed(
                    what,
                    element.offset,
                    format!("{} values for {nnz} elements", data.len()),
                ));
            }
            Ok(truncate(data, nnz))
        };
        let real = part("sparse values")?;
        let imag = if complex {
            Some(part("sparse imaginary values")?)
        } else {
            None
        };
        Ok(SparseArray {
            rows,
            cols,
            logical,
            row_indices,
            col_starts,
            real,
            imag,
        })
    }
}

fn truncate(data: NumericData, len: usize) -> NumericData {
    macro_rules! cut {
        ($($variant:ident),*) => {
            match data {
                $(NumericData::$variant(mut values) => {
                    values.truncate(len);
                    NumericData::$variant(values)
                })*
            }
        };
    }
    cut!(Double, Single, Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64)
}

fn numeric_class(class: u8) -> NumericClass {
    match class {
        mx::DOUBLE => NumericClass::Double,
        mx::SINGLE => NumericClass::Single,
        mx::INT8 => NumericClass::Int8,
        mx::UINT8 => NumericClass::UInt8,
        mx::INT16 => NumericClass::Int16,
        mx::UINT16 => NumericClass::UInt16,
        mx::INT32 => NumericClass::Int32,
        mx::UINT32 => NumericClass::UInt32,
        mx::INT64 => NumericClass::Int64,
        _ => NumericClass::UInt64,
    }
}

/// Bytes per element of a numeric data type; `None` for other types.
fn element_size(data_type: u32) -> Option<usize> {
    match data_type {
        mi::INT8 | mi::UINT8 => Some(1),
        mi::INT16 | mi::UINT16 => Some(2),
        mi::INT32 | mi::UINT32 | mi::SINGLE => Some(4),
        mi::DOUBLE | mi::INT64 | mi::UINT64 => Some(8),
        _ => None,
    }
}

/// An empty array of `class`.
pub(crate) fn empty_data(class: NumericClass) -> NumericData {
    match class {
        NumericClass::Double => NumericData::Double(Vec::new()),
        NumericClass::Single => NumericData::Single(Vec::new()),
        NumericClass::Int8 => NumericData::Int8(Vec::new()),
        NumericClass::UInt8 => NumericData::UInt8(Vec::new()),
        NumericClass::Int16 => NumericData::Int16(Vec::new()),
        NumericClass::UInt16 => NumericData::UInt16(Vec::new()),
        NumericClass::Int32 => NumericData::Int32(Vec::new()),
        NumericClass::UInt32 => NumericData::UInt32(Vec::new()),
        NumericClass::Int64 => NumericData::Int64(Vec::new()),
        NumericClass::UInt64 => NumericData::UInt64(Vec::new()),
    }
}

/// A number as stored, before conversion to the array's class.
#[derive(Clone, Copy)]
enum Stored {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

/// Conversion from a stored number to a class's element type (`as` casts:
/// floats to integers saturate, as MATLAB's own conversion does).
trait FromStored: Copy {
    fn from_stored(value: Stored) -> Self;
}

macro_rules! from_stored {
    ($($t:ty),*) => {$(
        impl FromStored for $t {
            fn from_stored(value: Stored) -> Self {
                match value {
                    Stored::Signed(v) => v as $t,
                    Stored::Unsigned(v) => v as $t,
                    Stored::Float(v) => v as $t,
                }
            }
        }
    )*};
}
from_stored!(f64, f32, i8, u8, i16, u16, i32, u32, i64, u64);

/// Raw bytes of a numeric element; `data.len()` is a multiple of the type's size.
struct Decoder<'a> {
    data: &'a [u8],
    data_type: u32,
    big_endian: bool,
}

impl Decoder<'_> {
    fn to<T: FromStored>(&self) -> Vec<T> {
        macro_rules! decode {
            ($t:ty, $n:literal, $wrap:expr) => {
                self.data
                    .chunks_exact($n)
                    .map(|chunk| {
                        let mut bytes = [0u8; $n];
                        bytes.copy_from_slice(chunk);
                        let value = if self.big_endian {
                            <$t>::from_be_bytes(bytes)
                        } else {
                            <$t>::from_le_bytes(bytes)
                        };
                        T::from_stored($wrap(value))
                    })
                    .collect()
            };
        }
        match self.data_type {
            mi::INT8 => decode!(i8, 1, |v| Stored::Signed(i64::from(v))),
            mi::UINT8 => decode!(u8, 1, |v| Stored::Unsigned(u64::from(v))),
            mi::INT16 => decode!(i16, 2, |v| Stored::Signed(i64::from(v))),
            mi::UINT16 => decode!(u16, 2, |v| Stored::Unsigned(u64::from(v))),
            mi::INT32 => decode!(i32, 4, |v| Stored::Signed(i64::from(v))),
            mi::UINT32 => decode!(u32, 4, |v| Stored::Unsigned(u64::from(v))),
            mi::SINGLE => decode!(f32, 4, |v| Stored::Float(f64::from(v))),
            mi::DOUBLE => decode!(f64, 8, Stored::Float),
            mi::INT64 => decode!(i64, 8, Stored::Signed),
            mi::UINT64 => decode!(u64, 8, Stored::Unsigned),
            // `element_size` admitted only the types above.
            _ => Vec::new(),
        }
    }
}
