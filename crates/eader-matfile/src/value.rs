//! The values a MAT-file holds: one Rust type per MATLAB array class.
//!
//! MATLAB stores arrays in column-major order (the first dimension varies
//! fastest); every `Vec` here keeps that order. [`NumericArray::to_matrix`]
//! gives a 2-D array in row-major order.

/// A parsed MAT-file: its header text and its variables, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// The descriptive text of the header (e.g. `MATLAB 5.0 MAT-file, ...`),
    /// trailing spaces and NULs removed.
    pub header_text: String,
    /// The variables, in the order they are stored.
    pub variables: Vec<Variable>,
}

impl MatFile {
    /// The value of the first variable called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.variables
            .iter()
            .find(|variable| variable.name == name)
            .map(|variable| &variable.value)
    }
}

/// A named top-level array.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// The variable's name.
    pub name: String,
    /// Whether MATLAB marked it global.
    pub global: bool,
    /// Its value.
    pub value: Value,
}

/// One MATLAB array.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A numeric or logical array (`double`, `single`, `int8` ... `uint64`, `logical`).
    Numeric(NumericArray),
    /// A character array.
    Char(CharArray),
    /// A cell array.
    Cell(CellArray),
    /// A structure array.
    Struct(StructArray),
    /// An object of a MATLAB class (stored like a structure, with a class name).
    Object(ObjectArray),
    /// A sparse matrix.
    Sparse(SparseArray),
    /// An array of a class this reader skips (function handles, opaque objects);
    /// holds the class number (`mxCLASS`) found in the file.
    Unsupported {
        /// The `mx*_CLASS` number.
        class: u8,
    },
}

impl Value {
    /// The MATLAB class name (`"uint8"`, `"struct"`, `"cell"`, ...), for messages.
    pub fn class_name(&self) -> &'static str {
        match self {
            Value::Numeric(array) if array.logical => "logical",
            Value::Numeric(array) => array.real.class().name(),
            Value::Char(_) => "char",
            Value::Cell(_) => "cell",
            Value::Struct(_) => "struct",
            Value::Object(_) => "object",
            Value::Sparse(_) => "sparse",
            Value::Unsupported { .. } => "unsupported",
        }
    }

    /// The field `name` of a 1x1 structure (or object); `None` for anything else.
    pub fn field(&self, name: &str) -> Option<&Value> {
        let fields = match self {
            Value::Struct(fields) => fields,
            Value::Object(object) => &object.fields,
            _ => return None,
        };
        if fields.numel() != 1 {
            return None;
        }
        fields.field(0, name)
    }

    /// The numeric array, if this is one.
    pub fn as_numeric(&self) -> Option<&NumericArray> {
        match self {
            Value::Numeric(array) => Some(array),
            _ => None,
        }
    }

    /// The character array, if this is one.
    pub fn as_char(&self) -> Option<&CharArray> {
        match self {
            Value::Char(array) => Some(array),
            _ => None,
        }
    }

    /// The cell array, if this is one.
    pub fn as_cell(&self) -> Option<&CellArray> {
        match self {
            Value::Cell(array) => Some(array),
            _ => None,
        }
    }

    /// The structure array, if this is one.
    pub fn as_struct(&self) -> Option<&StructArray> {
        match self {
            Value::Struct(array) => Some(array),
            _ => None,
        }
    }

    /// The sparse matrix, if this is one.
    pub fn as_sparse(&self) -> Option<&SparseArray> {
        match self {
            Value::Sparse(array) => Some(array),
            _ => None,
        }
    }
}

/// The class of a numeric array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumericClass {
    /// `double` (f64).
    Double,
    /// `single` (f32).
    Single,
    /// `int8`.
    Int8,
    /// `uint8` (also the storage of `logical`).
    UInt8,
    /// `int16`.
    Int16,
    /// `uint16`.
    UInt16,
    /// `int32`.
    Int32,
    /// `uint32`.
    UInt32,
    /// `int64`.
    Int64,
    /// `uint64`.
    UInt64,
}

impl NumericClass {
    /// MATLAB's name of the class.
    pub fn name(self) -> &'static str {
        match self {
            NumericClass::Double => "double",
            NumericClass::Single => "single",
            NumericClass::Int8 => "int8",
            NumericClass::UInt8 => "uint8",
            NumericClass::Int16 => "int16",
            NumericClass::UInt16 => "uint16",
            NumericClass::Int32 => "int32",
            NumericClass::UInt32 => "uint32",
            NumericClass::Int64 => "int64",
            NumericClass::UInt64 => "uint64",
        }
    }
}

/// The elements of a numeric array, in the array's class, column-major.
///
/// Files may store elements in a smaller type than the class (MATLAB saves a
/// `double` array of small integers as `miUINT8`); the reader converts them
/// to the class, so the variant always says the class.
#[derive(Debug, Clone, PartialEq)]
pub enum NumericData {
    /// `double` elements.
    Double(Vec<f64>),
    /// `single` elements.
    Single(Vec<f32>),
    /// `int8` elements.
    Int8(Vec<i8>),
    /// `uint8` (and `logical`) elements.
    UInt8(Vec<u8>),
    /// `int16` elements.
    Int16(Vec<i16>),
    /// `uint16` elements.
    UInt16(Vec<u16>),
    /// `int32` elements.
    Int32(Vec<i32>),
    /// `uint32` elements.
    UInt32(Vec<u32>),
    /// `int64` elements.
    Int64(Vec<i64>),
    /// `uint64` elements.
    UInt64(Vec<u64>),
}

impl NumericData {
    /// The class these elements belong to.
    pub fn class(&self) -> NumericClass {
        match self {
            NumericData::Double(_) => NumericClass::Double,
            NumericData::Single(_) => NumericClass::Single,
            NumericData::Int8(_) => NumericClass::Int8,
            NumericData::UInt8(_) => NumericClass::UInt8,
            NumericData::Int16(_) => NumericClass::Int16,
            NumericData::UInt16(_) => NumericClass::UInt16,
            NumericData::Int32(_) => NumericClass::Int32,
            NumericData::UInt32(_) => NumericClass::UInt32,
            NumericData::Int64(_) => NumericClass::Int64,
            NumericData::UInt64(_) => NumericClass::UInt64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NumericData::Double(values) => values.len(),
            NumericData::Single(values) => values.len(),
            NumericData::Int8(values) => values.len(),
            NumericData::UInt8(values) => values.len(),
            NumericData::Int16(values) => values.len(),
            NumericData::UInt16(values) => values.len(),
            NumericData::Int32(values) => values.len(),
            NumericData::UInt32(values) => values.len(),
            NumericData::Int64(values) => values.len(),
            NumericData::UInt64(values) => values.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, if the class is `uint8`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match self {
            NumericData::UInt8(values) => Some(values),
            _ => None,
        }
    }

    /// The elements as `f64` (exact except for 64-bit integers beyond 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            NumericData::Double(values) => values.clone(),
            NumericData::Single(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::Int8(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::UInt8(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::Int16(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::UInt16(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::Int32(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::UInt32(values) => values.iter().map(|&v| f64::from(v)).collect(),
            NumericData::Int64(values) => values.iter().map(|&v| v as f64).collect(),
            NumericData::UInt64(values) => values.iter().map(|&v| v as f64).collect(),
        }
    }
}

/// A dense numeric or logical array.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericArray {
    /// Dimensions, at least two (`[rows, cols, ...]`).
    pub dims: Vec<usize>,
    /// Whether MATLAB marked it `logical` (then the class is `uint8`).
    pub logical: bool,
    /// Real parts, column-major; as many as the product of `dims`.
    pub real: NumericData,
    /// Imaginary parts of a complex array, same length as `real`.
    pub imag: Option<NumericData>,
}

impl NumericArray {
    /// A real, non-logical array; `dims` must multiply to `real.len()`
    /// (the writer checks it).
    pub fn new(dims: Vec<usize>, real: NumericData) -> Self {
        Self {
            dims,
            logical: false,
            real,
            imag: None,
        }
    }

    /// Number of elements (product of the dimensions).
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The class of the elements.
    pub fn class(&self) -> NumericClass {
        self.real.class()
    }

    /// A real 2-D `uint8` array in row-major order; `None` for any other
    /// class, shape or a complex array.
    pub fn to_matrix_u8(&self) -> Option<Matrix<u8>> {
        if self.imag.is_some() || self.dims.len() != 2 {
            return None;
        }
        let data = self.real.as_u8()?;
        let (rows, cols) = (self.dims[0], self.dims[1]);
        if rows.checked_mul(cols) != Some(data.len()) {
            return None;
        }
        Some(Matrix {
            rows,
            cols,
            data: column_to_row_major(data, rows, cols),
        })
    }

    /// A real 2-D array of any class as `f64`, in row-major order; `None` for
    /// other shapes or a complex array.
    pub fn to_matrix(&self) -> Option<Matrix<f64>> {
        if self.imag.is_some() || self.dims.len() != 2 {
            return None;
        }
        let (rows, cols) = (self.dims[0], self.dims[1]);
        let data = self.real.to_f64();
        if rows.checked_mul(cols) != Some(data.len()) {
            return None;
        }
        Some(Matrix {
            rows,
            cols,
            data: column_to_row_major(&data, rows, cols),
        })
    }
}

/// A 2-D array in row-major order: element `(r, c)` is `data[r * cols + c]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix<T> {
    /// Number of rows (the image height for a label map).
    pub rows: usize,
    /// Number of columns (the image width).
    pub cols: usize,
    /// `rows * cols` elements, row after row.
    pub data: Vec<T>,
}

/// Reorders a column-major `rows x cols` array (MATLAB's order) into row-major order.
///
/// Panics if `data.len()` is not `rows * cols` (the accessors of this crate
/// check it first).
pub fn column_to_row_major<T: Copy>(data: &[T], rows: usize, cols: usize) -> Vec<T> {
    assert_eq!(data.len(), rows * cols, "column_to_row_major: wrong length");
    let Some(&first) = data.first() else {
        return Vec::new();
    };
    // A transpose in 32x32 tiles: reading columns one element per row would
    // touch a new cache line for nearly every element of a 500x375 map.
    const TILE: usize = 32;
    let mut out = vec![first; data.len()];
    for col_start in (0..cols).step_by(TILE) {
        let col_end = (col_start + TILE).min(cols);
        for row_start in (0..rows).step_by(TILE) {
            let row_end = (row_start + TILE).min(rows);
            for col in col_start..col_end {
                let column = &data[col * rows..(col + 1) * rows];
                for row in row_start..row_end {
                    out[row * cols + col] = column[row];
                }
            }
        }
    }
    out
}

/// A character array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharArray {
    /// Dimensions, at least two.
    pub dims: Vec<usize>,
    /// Characters, column-major.
    pub chars: Vec<char>,
}

impl CharArray {
    /// A 1xN character array holding `text`.
    pub fn from_text(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        Self {
            dims: vec![1, chars.len()],
            chars,
        }
    }

    /// The rows of a 2-D character array as strings (one string for a 1xN array).
    pub fn rows(&self) -> Vec<String> {
        let rows = self.dims.first().copied().unwrap_or(0);
        if rows == 0 {
            return Vec::new();
        }
        let cols = self.chars.len() / rows;
        (0..rows)
            .map(|row| (0..cols).map(|col| self.chars[row + col * rows]).collect())
            .collect()
    }
}

/// A cell array.
#[derive(Debug, Clone, PartialEq)]
pub struct CellArray {
    /// Dimensions, at least two.
    pub dims: Vec<usize>,
    /// The cells, column-major.
    pub cells: Vec<Value>,
}

/// A structure array: every element has the same fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StructArray {
    /// Dimensions, at least two (`[1, 1]` for a single structure).
    pub dims: Vec<usize>,
    /// Field names, in file order.
    pub field_names: Vec<String>,
    /// Field values, element after element (column-major): the value of field
    /// `f` of element `e` is `values[e * field_names.len() + f]`.
    pub values: Vec<Value>,
}

impl StructArray {
    /// Number of elements (product of the dimensions).
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The value of field `name` of element `element`.
    pub fn field(&self, element: usize, name: &str) -> Option<&Value> {
        let index = self.field_names.iter().position(|field| field == name)?;
        self.values
            .get(element.checked_mul(self.field_names.len())? + index)
    }
}

/// An object array: a structure array with a class name.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectArray {
    /// The MATLAB class of the object.
    pub class_name: String,
    /// Its properties, stored like a structure.
    pub fields: StructArray,
}

/// A sparse matrix in compressed-column form.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseArray {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Whether MATLAB marked it `logical`.
    pub logical: bool,
    /// Row of each stored element; column `c` owns
    /// `row_indices[col_starts[c]..col_starts[c + 1]]`.
    pub row_indices: Vec<usize>,
    /// `cols + 1` offsets into `row_indices` and `real`, starting at 0.
    pub col_starts: Vec<usize>,
    /// Real parts of the stored elements.
    pub real: NumericData,
    /// Imaginary parts of a complex matrix.
    pub imag: Option<NumericData>,
}

impl SparseArray {
    /// Number of stored elements.
    pub fn nnz(&self) -> usize {
        self.col_starts.last().copied().unwrap_or(0)
    }

    /// The real parts as a dense row-major `f64` matrix; `None` when the
    /// matrix is inconsistent (never for one the reader returned) or has more
    /// than `usize::MAX` elements.
    pub fn to_dense(&self) -> Option<Matrix<f64>> {
        let mut data = vec![0.0; self.rows.checked_mul(self.cols)?];
        let values = self.real.to_f64();
        for col in 0..self.cols {
            let (start, end) = (*self.col_starts.get(col)?, *self.col_starts.get(col + 1)?);
            for k in start..end {
                let row = *self.row_indices.get(k)?;
                if row >= self.rows {
                    return None;
                }
                data[row * self.cols + col] = *values.get(k)?;
            }
        }
        Some(Matrix {
            rows: self.rows,
            cols: self.cols,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transpose_matches_the_definition() {
        for (rows, cols) in [(0, 0), (1, 1), (1, 70), (70, 1), (33, 65), (375, 500)] {
            let data: Vec<u32> = (0..(rows * cols) as u32).collect();
            let out = column_to_row_major(&data, rows, cols);
            for row in 0..rows {
                for col in 0..cols {
                    assert_eq!(
                        out[row * cols + col],
                        data[row + col * rows],
                        "{rows}x{cols}"
                    );
                }
            }
        }
    }

    #[test]
    fn sparse_to_dense_refuses_inconsistent_matrices() {
        let mut sparse = SparseArray {
            rows: 2,
            cols: 2,
            logical: false,
            row_indices: vec![1],
            col_starts: vec![0, 0, 1],
            real: NumericData::Double(vec![5.0]),
            imag: None,
        };
        assert_eq!(sparse.to_dense().unwrap().data, [0.0, 0.0, 0.0, 5.0]);
        sparse.row_indices = vec![2];
        assert!(sparse.to_dense().is_none());
    }
}
