//! Reading one SBD label file, as `prepare-voc` does 11,355 times: a 500x375
//! `GTcls` (Segmentation uint8 with two objects on background, Boundaries as
//! 20 sparse logical matrices tracing their edges, CategoriesPresent),
//! zlib-compressed like SBD's files and uncompressed.
//!
//! The files are also written to `target/eader-matfile-bench/` so that
//! `benches/scipy_baseline.py` can time `scipy.io.loadmat` (what torchvision's
//! `SBDataset` uses) on the very same bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eader_matfile::{
    CellArray, MatFile, NumericArray, NumericData, SparseArray, StructArray, Value, Variable,
    WriteOptions,
};

const WIDTH: usize = 500;
const HEIGHT: usize = 375;

/// Row-major label map: two ellipses of classes 12 and 15 on background.
fn segmentation() -> Vec<u8> {
    let mut map = vec![0u8; WIDTH * HEIGHT];
    for (class, cx, cy, rx, ry) in [
        (12u8, 180.0, 200.0, 120.0, 90.0),
        (15, 360.0, 170.0, 70.0, 140.0),
    ] {
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let (dx, dy) = ((x as f64 - cx) / rx, (y as f64 - cy) / ry);
                if dx * dx + dy * dy <= 1.0 {
                    map[y * WIDTH + x] = class;
                }
            }
        }
    }
    map
}

fn gtcls(map: &[u8]) -> MatFile {
    let column_major: Vec<u8> = (0..WIDTH)
        .flat_map(|x| (0..HEIGHT).map(move |y| (x, y)))
        .map(|(x, y)| map[y * WIDTH + x])
        .collect();
    let boundaries = (1..=20u8)
        .map(|class| {
            // Pixels of `class` with a 4-neighbour of another class.
            let (mut row_indices, mut col_starts) = (Vec::new(), vec![0]);
            for x in 0..WIDTH {
                for y in 0..HEIGHT {
                    let here = map[y * WIDTH + x];
                    let edge = here == class
                        && [(0i64, 1i64), (1, 0), (0, -1), (-1, 0)]
                            .iter()
                            .any(|(dx, dy)| {
                                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                                nx >= 0
                                    && ny >= 0
                                    && (nx as usize) < WIDTH
                                    && (ny as usize) < HEIGHT
                                    && map[ny as usize * WIDTH + nx as usize] != class
                            });
                    if edge {
                        row_indices.push(y);
                    }
                }
                col_starts.push(row_indices.len());
            }
            let values = vec![1u8; row_indices.len()];
            Value::Sparse(SparseArray {
                rows: HEIGHT,
                cols: WIDTH,
                logical: true,
                row_indices,
                col_starts,
                real: NumericData::UInt8(values),
                imag: None,
            })
        })
        .collect();
    MatFile {
        header_text: "MATLAB 5.0 MAT-file, eader-matfile benchmark".to_owned(),
        variables: vec![Variable {
            name: "GTcls".to_owned(),
            global: false,
            value: Value::Struct(StructArray {
                dims: vec![1, 1],
                field_names: vec![
                    "Boundaries".to_owned(),
                    "Segmentation".to_owned(),
                    "CategoriesPresent".to_owned(),
                ],
                values: vec![
                    Value::Cell(CellArray {
                        dims: vec![20, 1],
                        cells: boundaries,
                    }),
                    Value::Numeric(NumericArray::new(
                        vec![HEIGHT, WIDTH],
                        NumericData::UInt8(column_major),
                    )),
                    Value::Numeric(NumericArray::new(
                        vec![2, 1],
                        NumericData::UInt8(vec![12, 15]),
                    )),
                ],
            }),
        }],
    }
}

fn bench(c: &mut Criterion) {
    let map = segmentation();
    let file = gtcls(&map);
    let out_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/eader-matfile-bench");
    std::fs::create_dir_all(&out_dir).unwrap();

    let mut group = c.benchmark_group("sbd_gtcls_500x375");
    group.throughput(Throughput::Elements(1));
    for (name, compress) in [("compressed", true), ("uncompressed", false)] {
        let bytes = file.to_bytes(WriteOptions { compress }).unwrap();
        std::fs::write(out_dir.join(format!("gtcls_{name}.mat")), &bytes).unwrap();
        group.bench_function(format!("parse_{name}"), |b| {
            b.iter(|| {
                let parsed = MatFile::parse(std::hint::black_box(&bytes)).unwrap();
                let labels = parsed
                    .get("GTcls")
                    .and_then(|v| v.field("Segmentation"))
                    .and_then(Value::as_numeric)
                    .and_then(NumericArray::to_matrix_u8)
                    .unwrap();
                assert_eq!(labels.data.len(), map.len());
                labels
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
