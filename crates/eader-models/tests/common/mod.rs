//! Shared helpers: the deterministic parameter formula (mirrors
//! `fixtures/make_fixtures.py`), fixture reading and tolerance checks.

use std::collections::HashMap;
use std::path::PathBuf;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use eader_models::{Architecture, Classifier};

/// Tolerance of the f32 parity checks, relative to the tensor's magnitude.
pub const TOL: f64 = 1e-4;
/// Tolerance of the f64 parity checks (both sides in float64).
pub const TOL64: f64 = 1e-9;
/// Number of sampled entries in a summary.
pub const SAMPLES: usize = 6;
/// Classes of the fixtures' heads.
pub const NUM_CLASSES: usize = 5;
/// Multi-hot labels of the fixtures' two images.
pub const LABELS: [[f32; 5]; 2] = [[0., 1., 0., 1., 0.], [1., 0., 1., 0., 1.]];

pub fn slow_tests() -> bool {
    std::env::var("EADER_SLOW_TESTS").is_ok_and(|v| v == "1")
}

pub use eader_testkit::hashed;

/// The deterministic value of a parameter or buffer, as the script computes it.
pub fn param_value(name: &str, shape: &[usize]) -> Vec<f32> {
    eader_testkit::ParamFormula::MODELS.value(name, shape)
}

/// A classifier whose every tensor holds the deterministic values.
pub fn model(arch: Architecture) -> (Classifier, VarMap) {
    model_in(arch, DType::F32)
}

/// [`model`] in the given precision (the values are f32 numbers either way).
pub fn model_in(arch: Architecture, dtype: DType) -> (Classifier, VarMap) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
    let model = Classifier::new(arch, NUM_CLASSES, vb).unwrap();
    for p in model.params() {
        let shape = p.var.dims().to_vec();
        let t = Tensor::from_vec(param_value(&p.name, &shape), shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        p.var.set(&t).unwrap();
    }
    (model, varmap)
}

pub fn images(n: usize, h: usize, w: usize) -> Tensor {
    let v: Vec<f32> = hashed("input", n * 3 * h * w)
        .iter()
        .map(|x| (2.0 * x) as f32)
        .collect();
    Tensor::from_vec(v, (n, 3, h, w), &Device::Cpu).unwrap()
}

pub fn loss_coef(n: usize, k: usize, dtype: DType) -> Tensor {
    let v: Vec<f32> = hashed("loss.coef", n * k)
        .iter()
        .map(|&x| x as f32)
        .collect();
    Tensor::from_vec(v, (n, k), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture(arch: &str) -> HashMap<String, Tensor> {
    candle::safetensors::load(fixture_path(&format!("{arch}.safetensors")), &Device::Cpu).unwrap()
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Compares a tensor with a full fixture tensor: max |a - b| <= TOL * max |b|.
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor, tol: f64) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let a = to_f64(actual);
    let b = to_f64(expected);
    let scale = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-12);
    let err = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max abs error {err:e} > {tol:e} x max |expected| {scale:e}"
    );
}

/// Compares a tensor with a fixture summary
/// `[sum, sum|x|, sum x^2, max|x|, (idx, val) x SAMPLES]`. Returns the largest
/// relative error seen.
pub fn assert_summary(what: &str, actual: &Tensor, summary: &Tensor, tol: f64) -> f64 {
    let s = to_f64(summary);
    let x = to_f64(actual);
    let sum: f64 = x.iter().sum();
    let sum_abs: f64 = x.iter().map(|v| v.abs()).sum();
    let sum_sq: f64 = x.iter().map(|v| v * v).sum();
    let max_abs = x.iter().fold(0f64, |m, v| m.max(v.abs()));
    let tiny = 1e-30;
    let errs = [
        ("sum", (sum - s[0]).abs() / (s[1] + tiny)),
        ("sum|x|", (sum_abs - s[1]).abs() / (s[1] + tiny)),
        ("sum x^2", (sum_sq - s[2]).abs() / (s[2] + tiny)),
        ("max|x|", (max_abs - s[3]).abs() / (s[3] + tiny)),
    ];
    let mut worst = 0f64;
    for (name, err) in errs {
        // sum x^2 doubles a relative error.
        let t = if name == "sum x^2" { 2.0 * tol } else { tol };
        assert!(
            err <= t,
            "{what}: {name} rel. error {err:e} (expected {:?})",
            &s[..4]
        );
        worst = worst.max(err);
    }
    for j in 0..SAMPLES {
        let idx = s[4 + 2 * j];
        if idx < 0.0 {
            continue;
        }
        let v = x[idx as usize];
        let err = (v - s[5 + 2 * j]).abs() / (s[3] + tiny);
        assert!(
            err <= tol,
            "{what}: entry {idx} is {v}, expected {} (error {err:e} of max |x|)",
            s[5 + 2 * j]
        );
        worst = worst.max(err);
    }
    worst
}
