//! Fixture loading and small array helpers shared by the tests.

use std::path::PathBuf;

/// Path of a file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

pub fn load_f32(relative: &str) -> (Vec<usize>, Vec<f32>) {
    eader_crf::io::read_npy_f32(&fixture(relative)).unwrap()
}

pub fn load_u8(relative: &str) -> (Vec<usize>, Vec<u8>) {
    eader_crf::io::read_npy_u8(&fixture(relative)).unwrap()
}

/// `(rows, cols)` → `(cols, rows)`.
pub fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Per-pixel argmax of `(L, N)` marginals (first maximum wins, as numpy).
pub fn argmax(q: &[f32], n_labels: usize) -> Vec<usize> {
    let n = q.len() / n_labels;
    (0..n)
        .map(|p| {
            let mut best = 0;
            for l in 1..n_labels {
                if q[l * n + p] > q[best * n + p] {
                    best = l;
                }
            }
            best
        })
        .collect()
}

/// `softmax(-unary)` per pixel in f64, `(L, N)`.
pub fn softmax_neg(unary: &[f32], n_labels: usize) -> Vec<f64> {
    let n = unary.len() / n_labels;
    let mut out = vec![0.0; unary.len()];
    for p in 0..n {
        let max = (0..n_labels)
            .map(|l| -unary[l * n + p] as f64)
            .fold(f64::MIN, f64::max);
        let sum: f64 = (0..n_labels)
            .map(|l| (-unary[l * n + p] as f64 - max).exp())
            .sum();
        for l in 0..n_labels {
            out[l * n + p] = (-unary[l * n + p] as f64 - max).exp() / sum;
        }
    }
    out
}
