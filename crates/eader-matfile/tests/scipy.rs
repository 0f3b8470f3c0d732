//! The reader against files written by `scipy.io.savemat`
//! (`tests/fixtures/make_fixtures.py` writes them and `expected.json`).

use std::path::PathBuf;

use eader_matfile::{MatFile, NumericArray, NumericData, Value};
use serde_json::Value as Json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Json {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f64s(json: &Json) -> Vec<f64> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn i64s(json: &Json) -> Vec<i64> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn numeric<'a>(file: &'a MatFile, name: &str) -> &'a NumericArray {
    file.get(name)
        .and_then(Value::as_numeric)
        .unwrap_or_else(|| panic!("{name} is not a numeric array"))
}

#[test]
fn gtcls_segmentation_matches_scipy_compressed_and_not() {
    let expected = &expected()["gtcls"];
    for name in ["gtcls.mat", "gtcls_compressed.mat"] {
        let file = MatFile::open(fixture(name)).unwrap();
        let gtcls = file.get("GTcls").unwrap();
        assert_eq!(gtcls.class_name(), "struct", "{name}");
        let fields = &gtcls.as_struct().unwrap().field_names;
        assert_eq!(
            fields,
            &["Boundaries", "Segmentation", "CategoriesPresent"],
            "{name}"
        );

        let segmentation = gtcls.field("Segmentation").unwrap().as_numeric().unwrap();
        assert_eq!(segmentation.class().name(), "uint8");
        let dims: Vec<usize> = i64s(&expected["segmentation_dims"])
            .iter()
            .map(|&d| d as usize)
            .collect();
        assert_eq!(segmentation.dims, dims, "{name}");
        let map = segmentation.to_matrix_u8().unwrap();
        let want: Vec<u8> = i64s(&expected["segmentation_row_major"])
            .iter()
            .map(|&v| v as u8)
            .collect();
        assert_eq!((map.rows, map.cols), (dims[0], dims[1]));
        assert_eq!(map.data, want, "{name}");

        let present = gtcls
            .field("CategoriesPresent")
            .unwrap()
            .as_numeric()
            .unwrap();
        let want: Vec<f64> = f64s(&expected["categories_present"]);
        assert_eq!(present.real.to_f64(), want, "{name}");

        let boundaries = gtcls.field("Boundaries").unwrap().as_cell().unwrap();
        assert_eq!(boundaries.dims, [20, 1], "{name}");
        let nnz: Vec<i64> = i64s(&expected["boundaries_nnz"]);
        for (class_idx, cell) in boundaries.cells.iter().enumerate() {
            let sparse = cell.as_sparse().unwrap();
            assert!(sparse.logical, "{name}: class {class_idx}");
            assert_eq!(
                sparse.nnz() as i64,
                nnz[class_idx],
                "{name}: class {class_idx}"
            );
            assert_eq!((sparse.rows, sparse.cols), (dims[0], dims[1]));
            if let Some(dense) = expected["boundaries_dense_row_major"].get(class_idx.to_string()) {
                assert_eq!(
                    sparse.to_dense().unwrap().data,
                    f64s(dense),
                    "{name}: class {class_idx}"
                );
            }
        }
    }
}

#[test]
fn every_class_matches_scipy_compressed_and_not() {
    let expected = &expected()["assorted"];
    for name in ["assorted.mat", "assorted_compressed.mat"] {
        let file = MatFile::open(fixture(name)).unwrap();
        assert!(file.header_text.starts_with("MATLAB 5.0 MAT-file"));
        assert_eq!(file.variables.len(), 19, "{name}");

        let doubles = numeric(&file, "doubles");
        assert_eq!(
            doubles.real,
            NumericData::Double(f64s(&expected["doubles"]))
        );
        assert_eq!(doubles.dims, [2, 4]);
        let singles: Vec<f32> = f64s(&expected["singles"])
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(numeric(&file, "singles").real, NumericData::Single(singles));
        let ints = |key: &str| i64s(&expected[key]);
        assert_eq!(
            numeric(&file, "int8s").real,
            NumericData::Int8(ints("int8s").iter().map(|&v| v as i8).collect())
        );
        assert_eq!(
            numeric(&file, "uint8s").real,
            NumericData::UInt8(ints("uint8s").iter().map(|&v| v as u8).collect())
        );
        assert_eq!(
            numeric(&file, "int16s").real,
            NumericData::Int16(ints("int16s").iter().map(|&v| v as i16).collect())
        );
        assert_eq!(numeric(&file, "int16s").dims, [2, 1]);
        assert_eq!(
            numeric(&file, "uint16s").real,
            NumericData::UInt16(ints("uint16s").iter().map(|&v| v as u16).collect())
        );
        assert_eq!(
            numeric(&file, "int32s").real,
            NumericData::Int32(ints("int32s").iter().map(|&v| v as i32).collect())
        );
        assert_eq!(
            numeric(&file, "uint32s").real,
            NumericData::UInt32(ints("uint32s").iter().map(|&v| v as u32).collect())
        );
        let strings = |key: &str| -> Vec<String> {
            expected[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            numeric(&file, "int64s").real,
            NumericData::Int64(
                strings("int64s")
                    .iter()
                    .map(|v| v.parse().unwrap())
                    .collect()
            )
        );
        assert_eq!(
            numeric(&file, "uint64s").real,
            NumericData::UInt64(
                strings("uint64s")
                    .iter()
                    .map(|v| v.parse().unwrap())
                    .collect()
            )
        );

        let complexes = numeric(&file, "complexes");
        assert_eq!(
            complexes.real,
            NumericData::Double(f64s(&expected["complexes_real"]))
        );
        assert_eq!(
            complexes.imag,
            Some(NumericData::Double(f64s(&expected["complexes_imag"])))
        );

        let logicals = numeric(&file, "logicals");
        assert!(logicals.logical);
        assert_eq!(file.get("logicals").unwrap().class_name(), "logical");
        assert_eq!(
            logicals.real,
            NumericData::UInt8(ints("logicals").iter().map(|&v| v as u8).collect())
        );

        let text = file.get("text").unwrap().as_char().unwrap();
        assert_eq!(text.rows(), [expected["text"].as_str().unwrap()]);
        let lines = file.get("lines").unwrap().as_char().unwrap();
        assert_eq!(lines.rows(), strings("lines"));

        let cell = file.get("cell").unwrap().as_cell().unwrap();
        assert_eq!(cell.dims, [1, 3]);
        assert_eq!(
            cell.cells[0].as_numeric().unwrap().real,
            NumericData::Double(vec![1.5])
        );
        assert_eq!(cell.cells[1].as_char().unwrap().rows(), ["ab"]);
        let inner = cell.cells[2].as_cell().unwrap();
        assert_eq!(
            inner.cells[0].as_numeric().unwrap().real,
            NumericData::Int8(vec![-3, 4])
        );

        let people = file.get("people").unwrap().as_struct().unwrap();
        assert_eq!(people.dims, [1, 2]);
        assert_eq!(people.field_names, ["name", "age"]);
        assert_eq!(
            people.field(1, "name").unwrap().as_char().unwrap().rows(),
            ["bo"]
        );
        assert_eq!(
            people.field(0, "age").unwrap().as_numeric().unwrap().real,
            NumericData::UInt16(vec![31])
        );
        assert!(people.field(2, "age").is_none());
        assert!(
            file.get("people").unwrap().field("age").is_none(),
            "1x2 is not a scalar struct"
        );

        let empty = numeric(&file, "empty");
        assert_eq!(empty.dims, [0, 0]);
        assert!(empty.real.is_empty());

        let cube = numeric(&file, "cube");
        assert_eq!(cube.dims, [2, 3, 4]);
        assert_eq!(cube.real, NumericData::Double(f64s(&expected["cube"])));
        assert!(cube.to_matrix().is_none(), "3-D is not a matrix");

        let sparse = file.get("sparse").unwrap().as_sparse().unwrap();
        assert!(!sparse.logical);
        assert_eq!(sparse.nnz(), 3);
        assert_eq!(
            sparse.to_dense().unwrap().data,
            f64s(&expected["sparse_dense_row_major"])
        );
    }
}
