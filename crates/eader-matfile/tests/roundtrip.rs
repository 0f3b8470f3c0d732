//! Writer and reader agree (property tests), and bad input gives errors,
//! never panics.

use std::path::PathBuf;

use eader_matfile::{
    CellArray, CharArray, Error, MatFile, NumericArray, NumericData, ObjectArray, SparseArray,
    StructArray, Value, Variable, WriteOptions, MAX_DEPTH,
};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

fn file_of(variables: Vec<(String, Value)>) -> MatFile {
    MatFile {
        header_text: "MATLAB 5.0 MAT-file, eader-matfile test".to_owned(),
        variables: variables
            .into_iter()
            .map(|(name, value)| Variable {
                name,
                global: false,
                value,
            })
            .collect(),
    }
}

fn numeric_data(len: usize) -> impl Strategy<Value = NumericData> {
    prop_oneof![
        prop::collection::vec(-1e6f64..1e6, len).prop_map(NumericData::Double),
        prop::collection::vec(-1e3f32..1e3, len).prop_map(NumericData::Single),
        prop::collection::vec(any::<i8>(), len).prop_map(NumericData::Int8),
        prop::collection::vec(any::<u8>(), len).prop_map(NumericData::UInt8),
        prop::collection::vec(any::<i16>(), len).prop_map(NumericData::Int16),
        prop::collection::vec(any::<u16>(), len).prop_map(NumericData::UInt16),
        prop::collection::vec(any::<i32>(), len).prop_map(NumericData::Int32),
        prop::collection::vec(any::<u32>(), len).prop_map(NumericData::UInt32),
        prop::collection::vec(any::<i64>(), len).prop_map(NumericData::Int64),
        prop::collection::vec(any::<u64>(), len).prop_map(NumericData::UInt64),
    ]
}

fn dims() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (0usize..4, 0usize..5).prop_map(|(r, c)| vec![r, c]),
        (1usize..3, 1usize..3, 1usize..3).prop_map(|(a, b, c)| vec![a, b, c]),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        dims().prop_flat_map(|dims| {
            let n = dims.iter().product();
            (Just(dims), numeric_data(n), any::<bool>()).prop_map(|(dims, real, complex)| {
                let imag = complex.then(|| real.clone());
                Value::Numeric(NumericArray {
                    dims,
                    logical: false,
                    real,
                    imag,
                })
            })
        }),
        (0usize..3, 0usize..4).prop_flat_map(|(r, c)| {
            prop::collection::vec(any::<bool>(), r * c).prop_map(move |bits| {
                Value::Numeric(NumericArray {
                    dims: vec![r, c],
                    logical: true,
                    real: NumericData::UInt8(bits.into_iter().map(u8::from).collect()),
                    imag: None,
                })
            })
        }),
        "[a-zA-Zé€ ]{0,12}".prop_map(|text| Value::Char(CharArray::from_text(&text))),
        (1usize..5, 1usize..5).prop_flat_map(|(rows, cols)| {
            prop::collection::vec(prop::option::of(-9.0f64..9.0), rows * cols).prop_map(
                move |cells| {
                    // Build a column-compressed matrix from a dense pattern.
                    let (mut row_indices, mut col_starts, mut values) = (vec![], vec![0], vec![]);
                    for col in 0..cols {
                        for row in 0..rows {
                            if let Some(v) = cells[row + col * rows] {
                                row_indices.push(row);
                                values.push(v);
                            }
                        }
                        col_starts.push(row_indices.len());
                    }
                    Value::Sparse(SparseArray {
                        rows,
                        cols,
                        logical: false,
                        row_indices,
                        col_starts,
                        real: NumericData::Double(values),
                        imag: None,
                    })
                },
            )
        }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|cells| {
                Value::Cell(CellArray {
                    dims: vec![1, cells.len()],
                    cells,
                })
            }),
            (1usize..3, prop::collection::vec(inner.clone(), 1..4)).prop_map(|(n, fields)| {
                let field_names: Vec<String> =
                    (0..fields.len()).map(|i| format!("field_{i}")).collect();
                let values = (0..n).flat_map(|_| fields.clone()).collect();
                Value::Struct(StructArray {
                    dims: vec![n, 1],
                    field_names,
                    values,
                })
            }),
            inner.prop_map(|value| Value::Object(ObjectArray {
                class_name: "myclass".to_owned(),
                fields: StructArray {
                    dims: vec![1, 1],
                    field_names: vec!["inner".to_owned()],
                    values: vec![value],
                },
            })),
        ]
    })
}

proptest! {
    #[test]
    fn write_then_read_gives_the_same_values(
        values in prop::collection::vec(value(), 1..4),
        compress in any::<bool>(),
    ) {
        let file = file_of(
            values.into_iter().enumerate().map(|(i, v)| (format!("var{i}"), v)).collect(),
        );
        let bytes = file.to_bytes(WriteOptions { compress }).unwrap();
        let read = MatFile::parse(&bytes).unwrap();
        prop_assert_eq!(read, file);
    }

    #[test]
    fn corrupted_bytes_give_errors_not_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        name in prop::sample::select(vec!["gtcls.mat", "assorted.mat", "gtcls_compressed.mat"]),
    ) {
        let mut bytes = fixture(name);
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        // Any outcome but a panic is fine; an Ok must still be a well-formed value.
        if let Ok(file) = MatFile::parse(&bytes) {
            let _ = file.to_bytes(WriteOptions::default());
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    for name in [
        "gtcls.mat",
        "gtcls_compressed.mat",
        "assorted.mat",
        "assorted_compressed.mat",
    ] {
        let bytes = fixture(name);
        let full = MatFile::parse(&bytes).unwrap();
        for len in 0..bytes.len() {
            // A cut between two variables (or inside the last one's padding)
            // leaves a valid file holding the first variables; any other cut
            // must fail.
            if let Ok(file) = MatFile::parse(&bytes[..len]) {
                assert!(
                    full.variables.starts_with(&file.variables),
                    "{name} cut at {len} parsed to other variables"
                );
                assert!(len >= 128, "{name} cut at {len} parsed without a header");
            }
        }
        let error = MatFile::parse(&bytes[..bytes.len() - 20]).unwrap_err();
        assert!(
            matches!(error, Error::Truncated { .. } | Error::Decompress { .. }),
            "{name}: {error}"
        );
    }
}

#[test]
fn truncated_message_says_what_and_where() {
    let bytes = fixture("gtcls.mat");
    let error = MatFile::parse(&bytes[..1000]).unwrap_err().to_string();
    assert!(
        error.starts_with("truncated top-level element at byte 128"),
        "{error}"
    );
}

#[test]
fn open_names_the_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.mat");
    std::fs::write(&path, b"not a mat file").unwrap();
    let error = MatFile::open(&path).unwrap_err().to_string();
    assert!(error.contains("broken.mat"), "{error}");
    assert!(error.contains("not a MATLAB v5 MAT-file"), "{error}");

    let missing = MatFile::open(dir.path().join("missing.mat"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.mat"), "{missing}");
}

#[test]
fn v73_and_foreign_headers_are_refused_with_reasons() {
    let mut header = fixture("gtcls.mat");
    header[124] = 0x00;
    header[125] = 0x02;
    assert!(matches!(
        MatFile::parse(&header),
        Err(Error::UnsupportedV73)
    ));

    let mut bad_endian = fixture("gtcls.mat");
    bad_endian[126..128].copy_from_slice(b"XX");
    let error = MatFile::parse(&bad_endian).unwrap_err().to_string();
    assert!(error.contains("endian indicator"), "{error}");

    let error = MatFile::parse(&[0; 64]).unwrap_err().to_string();
    assert!(
        error.contains("shorter than the 128-byte header"),
        "{error}"
    );
}

#[test]
fn big_endian_files_are_read() {
    // A uint16 1x2 array x = [1, 513], written by hand in big-endian order.
    let mut bytes = vec![b' '; 116];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x0100u16.to_be_bytes());
    bytes.extend_from_slice(b"MI");
    let mut matrix = Vec::new();
    let word = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_be_bytes());
    word(&mut matrix, 6); // miUINT32 array flags
    word(&mut matrix, 8);
    word(&mut matrix, 11); // mxUINT16_CLASS
    word(&mut matrix, 0);
    word(&mut matrix, 5); // miINT32 dimensions
    word(&mut matrix, 8);
    word(&mut matrix, 1);
    word(&mut matrix, 2);
    word(&mut matrix, (1 << 16) | 1); // small miINT8 name "x"
    matrix.extend_from_slice(b"x\0\0\0");
    word(&mut matrix, (4 << 16) | 4); // small miUINT16 data
    matrix.extend_from_slice(&1u16.to_be_bytes());
    matrix.extend_from_slice(&513u16.to_be_bytes());
    word(&mut bytes, 14);
    word(&mut bytes, matrix.len() as u32);
    bytes.extend_from_slice(&matrix);

    let file = MatFile::parse(&bytes).unwrap();
    let x = file.get("x").unwrap().as_numeric().unwrap();
    assert_eq!(x.dims, [1, 2]);
    assert_eq!(x.real, NumericData::UInt16(vec![1, 513]));
}

#[test]
fn nesting_beyond_the_limit_is_an_error() {
    let mut value = Value::Numeric(NumericArray::new(
        vec![1, 1],
        NumericData::Double(vec![1.0]),
    ));
    for _ in 0..MAX_DEPTH + 2 {
        value = Value::Cell(CellArray {
            dims: vec![1, 1],
            cells: vec![value],
        });
    }
    let bytes = file_of(vec![("deep".to_owned(), value)])
        .to_bytes(WriteOptions::default())
        .unwrap();
    assert!(matches!(
        MatFile::parse(&bytes),
        Err(Error::TooDeep(MAX_DEPTH))
    ));
}

#[test]
fn writer_refuses_inconsistent_values() {
    let bad = Value::Numeric(NumericArray::new(
        vec![2, 2],
        NumericData::UInt8(vec![1, 2, 3]),
    ));
    let error = file_of(vec![("bad".to_owned(), bad)])
        .to_bytes(WriteOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "cannot write variable \"bad\": 3 values for 4 elements"
    );
}

#[test]
fn stored_type_is_converted_to_the_class() {
    // MATLAB stores a double array of small integers as miUINT8; the reader
    // must give doubles. Patch a written uint8 array's class byte to double.
    let array = Value::Numeric(NumericArray::new(
        vec![1, 3],
        NumericData::UInt8(vec![0, 7, 255]),
    ));
    let mut bytes = file_of(vec![("x".to_owned(), array)])
        .to_bytes(WriteOptions::default())
        .unwrap();
    // header (128) + miMATRIX tag (8) + flags tag (8): the class byte.
    assert_eq!(bytes[144], 9);
    bytes[144] = 6;
    let file = MatFile::parse(&bytes).unwrap();
    assert_eq!(
        file.get("x").unwrap().as_numeric().unwrap().real,
        NumericData::Double(vec![0.0, 7.0, 255.0])
    );
}
