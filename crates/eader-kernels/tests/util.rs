//! Shared helpers: fixture loading, tensor comparison, gradients, naive references.

use std::sync::OnceLock;

use candle::{DType, Device, Tensor, Var};
use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The PyTorch fixture (`tests/fixtures/make_fixtures.py`).
pub fn fixture(case: &str) -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    let all = DATA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
        let text = std::fs::read_to_string(path).expect("fixture file");
        serde_json::from_str(&text).expect("fixture json")
    });
    all.get(case)
        .unwrap_or_else(|| panic!("no fixture case {case}"))
}

/// Tensor `key` of a fixture case, in `dtype`.
pub fn tensor(case: &Value, key: &str, dtype: DType) -> Tensor {
    let entry = &case[key];
    let shape: Vec<usize> = entry["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|v| v.as_u64().expect("dim") as usize)
        .collect();
    let data: Vec<f64> = entry["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

/// Random normal tensor with a fixed seed.
pub fn randn(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    // A small xorshift + Box-Muller, so the tests need no RNG crate.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n)
        .map(|_| {
            let (u1, u2) = (next().max(1e-300), next());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

/// Largest absolute difference relative to the largest magnitude of `expected`.
pub fn rel_diff(actual: &Tensor, expected: &Tensor) -> f64 {
    assert_eq!(actual.dims(), expected.dims(), "shapes differ");
    let a: Vec<f64> = actual
        .to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("vec");
    let e: Vec<f64> = expected
        .to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("vec");
    let scale = e.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    let diff = a
        .iter()
        .zip(&e)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// Asserts `rel_diff <= tol`, naming `what`.
pub fn assert_close(actual: &Tensor, expected: &Tensor, tol: f64, what: &str) {
    let d = rel_diff(actual, expected);
    assert!(d <= tol, "{what}: relative difference {d:e} > {tol:e}");
}

/// Gradients of `sum(f(inputs) * g)` with respect to each input, and the output.
pub fn grads(
    inputs: &[&Tensor],
    g: &Tensor,
    f: impl Fn(&[Tensor]) -> candle::Result<Tensor>,
) -> candle::Result<(Tensor, Vec<Tensor>)> {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t))
        .collect::<candle::Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts)?;
    let loss = (&y * g)?.sum_all()?;
    let store = loss.backward()?;
    let gs = ts
        .iter()
        .map(|t| {
            store
                .get(t)
                .cloned()
                .ok_or_else(|| candle::Error::Msg("missing gradient".into()))
        })
        .collect::<candle::Result<_>>()?;
    Ok((y, gs))
}

/// f64 data of a tensor.
pub fn data(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("vec")
}
