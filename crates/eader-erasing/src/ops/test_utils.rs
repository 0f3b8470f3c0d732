//! Helpers of the ops' tests: deterministic inputs, comparisons, gradients, fixtures.

use std::collections::HashMap;

use candle::{DType, Device, Tensor, Var};

/// Tolerance of comparisons with a reference, by dtype (f32: relative 1e-4, the project's).
pub(crate) fn tolerance(dtype: DType) -> f64 {
    if dtype == DType::F32 {
        1e-4
    } else {
        1e-10
    }
}

/// A tensor of uniform values in `[lo, hi)` from a fixed seed (splitmix64).
pub(crate) fn random(
    shape: &[usize],
    seed: u64,
    lo: f64,
    hi: f64,
    dtype: DType,
    device: &Device,
) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    Tensor::from_vec(values, shape, device)
        .and_then(|t| t.to_dtype(dtype))
        .unwrap()
}

/// Asserts `|a - b| <= atol + rtol |b|` element-wise (both read as f64 on the CPU).
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, rtol: f64, atol: f64, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let flat = |t: &Tensor| -> Vec<f64> {
        t.to_device(&Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F64))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .unwrap()
    };
    let (a, b) = (flat(a), flat(b));
    let mut worst = (0.0f64, 0usize);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let excess = (x - y).abs() - (atol + rtol * y.abs());
        assert!(!x.is_nan() && !y.is_nan(), "{what}: NaN at {i}");
        if excess > worst.0 {
            worst = (excess, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 0.0,
        "{what}: element {i}: {} vs {} (rtol {rtol}, atol {atol})",
        a[i],
        b[i]
    );
}

/// The gradient of the scalar `f(x)` with respect to `x`, by candle's autograd.
pub(crate) fn grad_of(x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let var = Var::from_tensor(&x.detach()).unwrap();
    let grads = f(var.as_tensor()).backward().unwrap();
    grads
        .get(var.as_tensor())
        .expect("no gradient reached the input")
        .clone()
}

/// Central finite differences of the scalar `f` at `x` (f64, on the CPU).
pub(crate) fn finite_differences(x: &Tensor, f: impl Fn(&Tensor) -> Tensor, eps: f64) -> Tensor {
    let values: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
    let eval = |v: &[f64]| -> f64 {
        let t = Tensor::from_slice(v, x.dims(), x.device()).unwrap();
        f(&t).to_scalar::<f64>().unwrap()
    };
    let mut shifted = values.clone();
    let grad: Vec<f64> = (0..values.len())
        .map(|i| {
            shifted[i] = values[i] + eps;
            let up = eval(&shifted);
            shifted[i] = values[i] - eps;
            let down = eval(&shifted);
            shifted[i] = values[i];
            (up - down) / (2.0 * eps)
        })
        .collect();
    Tensor::from_vec(grad, x.dims(), x.device()).unwrap()
}

/// The PyTorch fixtures (f64), written by `scripts/make_fixtures.py`.
pub(crate) fn fixtures() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pytorch.safetensors"
    );
    candle::safetensors::load(path, &Device::Cpu).unwrap()
}

/// Defines `$cpu` running `$body(&Device::Cpu)` and, with the `cuda` feature, `$cuda`
/// running it on CUDA device 0 when one is present (it returns with a notice
/// otherwise, and fails when `EADER_REQUIRE_GPU=1`, as `scripts/gpu-run.sh` sets).
macro_rules! device_test {
    ($body:ident, $cpu:ident, $cuda:ident) => {
        #[test]
        fn $cpu() {
            $body(&candle::Device::Cpu);
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $cuda() {
            match candle::Device::new_cuda(0) {
                Ok(device) => $body(&device),
                Err(e) => {
                    assert!(
                        std::env::var_os("EADER_REQUIRE_GPU").is_none(),
                        "EADER_REQUIRE_GPU is set but no CUDA device opens: {e}"
                    );
                    eprintln!("no CUDA device, {} not run: {e}", stringify!($cuda))
                }
            }
        }
    };
}
pub(crate) use device_test;
