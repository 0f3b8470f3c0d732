//! The device a run computes on, from `--device auto|cpu|cuda[:N]` ([`DeviceChoice`]).
//!
//! [`resolve`] opens the device, with a clear [`Error::Device`] when the binary was built
//! without the `cuda` feature or when the driver cannot open the GPU (never a panic);
//! [`describe`] names the device for logs and summaries.

use candle::Device;

use crate::config::DeviceChoice;
use crate::error::{Error, Result};

/// Whether this build can use CUDA devices (the `cuda` feature).
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

/// Opens the device `choice` names.
///
/// - [`DeviceChoice::Cpu`]: the CPU.
/// - [`DeviceChoice::Auto`]: CUDA device 0 when this build has the `cuda` feature and the
///   driver opens that device, else the CPU.
/// - [`DeviceChoice::Cuda`]`(n)`: CUDA device `n`; an [`Error::Device`] when this build
///   lacks the `cuda` feature (rebuild with `--features cuda`, README "GPU"), when the
///   driver cannot be initialised, or when there is no device `n`.
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(open_cuda(0).unwrap_or(Device::Cpu)),
        DeviceChoice::Cuda(n) => open_cuda(n),
    }
}

/// A short description of `device` for logs: `cpu (N threads)`, or
/// `cuda:N (<name>, compute capability X.Y, M GiB)` as far as the driver tells.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => {
            let threads = candle::utils::get_num_threads();
            format!(
                "cpu ({threads} thread{})",
                if threads == 1 { "" } else { "s" }
            )
        }
        Device::Cuda(_) => describe_cuda(device),
        Device::Metal(_) => "metal".to_string(),
    }
}

/// The error for `cuda:n` when the driver fails with `problem`.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn driver_error(n: usize, problem: impl std::fmt::Display) -> Error {
    Error::Device {
        device: format!("cuda:{n}"),
        message: format!(
            "the CUDA driver cannot open it ({problem}); check that an NVIDIA GPU and its \
             driver are present (`nvidia-smi`) and that the CUDA libraries eader was \
             linked against are found (README \"GPU\")"
        ),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(n: usize) -> Result<Device> {
    Err(Error::Device {
        device: format!("cuda:{n}"),
        message: "this eader binary was built without CUDA support; rebuild it with \
                  `cargo build --release -p eader-cli --features cuda` (README \"GPU\") \
                  or use --device cpu"
            .to_string(),
    })
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> Result<Device> {
    use candle::cuda_backend::cudarc::driver::CudaContext;
    let count = CudaContext::device_count().map_err(|e| driver_error(n, e))?;
    let count = usize::try_from(count).unwrap_or(0);
    if n >= count {
        return Err(Error::Device {
            device: format!("cuda:{n}"),
            message: match count {
                0 => "the CUDA driver reports no device".to_string(),
                1 => "no such device: there is one CUDA device, cuda:0".to_string(),
                _ => format!(
                    "no such device: there are {count} CUDA devices, cuda:0 to cuda:{}",
                    count - 1
                ),
            },
        });
    }
    Device::new_cuda(n).map_err(|e| driver_error(n, e))
}

#[cfg(not(feature = "cuda"))]
fn describe_cuda(_device: &Device) -> String {
    "cuda".to_string()
}

#[cfg(feature = "cuda")]
fn describe_cuda(device: &Device) -> String {
    let Ok(cuda) = device.as_cuda_device() else {
        return "cuda".to_string();
    };
    let stream = cuda.cuda_stream();
    let context = stream.context();
    let mut parts = Vec::new();
    if let Ok(name) = context.name() {
        parts.push(name);
    }
    if let Ok((major, minor)) = context.compute_capability() {
        parts.push(format!("compute capability {major}.{minor}"));
    }
    if let Ok(bytes) = context.total_mem() {
        parts.push(format!("{:.0} GiB", bytes as f64 / (1u64 << 30) as f64));
    }
    let ordinal = context.ordinal();
    if parts.is_empty() {
        format!("cuda:{ordinal}")
    } else {
        format!("cuda:{ordinal} ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_cpu() {
        let device = resolve(DeviceChoice::Cpu).unwrap();
        assert!(device.is_cpu());
        let text = describe(&device);
        assert!(
            text.starts_with("cpu (") && text.contains("thread"),
            "{text}"
        );
    }

    #[test]
    fn auto_never_fails() {
        let device = resolve(DeviceChoice::Auto).unwrap();
        if !CUDA_COMPILED {
            assert!(device.is_cpu(), "{}", describe(&device));
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild() {
        let err = resolve(DeviceChoice::Cuda(1)).unwrap_err().to_string();
        assert!(err.starts_with("device cuda:1: "), "{err}");
        assert!(err.contains("--features cuda"), "{err}");
        assert!(err.contains("README \"GPU\""), "{err}");
    }

    /// With the `cuda` feature: a device that exists opens and is described by name; one
    /// that does not (any, on a machine without a GPU) is an error naming it.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_opens_or_names_the_problem() {
        use candle::cuda_backend::cudarc::driver::CudaContext;
        let count = CudaContext::device_count().map_or(0, |c| c.max(0) as usize);
        for n in [0, count] {
            match resolve(DeviceChoice::Cuda(n)) {
                Ok(device) => {
                    assert!(n < count, "cuda:{n} opened with {count} devices");
                    let text = describe(&device);
                    assert!(text.starts_with(&format!("cuda:{n} (")), "{text}");
                    let auto = resolve(DeviceChoice::Auto).unwrap();
                    assert!(auto.is_cuda());
                }
                Err(e) => {
                    assert!(n >= count, "cuda:{n} failed with {count} devices: {e}");
                    let text = e.to_string();
                    assert!(text.starts_with(&format!("device cuda:{n}: ")), "{text}");
                    assert!(text.contains("CUDA"), "{text}");
                }
            }
        }
        if count == 0 {
            assert!(resolve(DeviceChoice::Auto).unwrap().is_cpu());
        }
    }

    /// A ResNet-like block through the models' ops seam (conv, batch norm + ReLU, stem
    /// max-pool, residual add + ReLU, global average pool, dropout off, linear), forward
    /// and backward on `device` in `dtype`: the logits, the batch statistics and the
    /// gradients of the input and every parameter, as f32 on the CPU (all but the conv
    /// bias's, which batch norm makes 0 up to rounding).
    fn ops_block(device: &Device, dtype: candle::DType) -> Vec<(&'static str, Vec<f32>)> {
        use candle::{DType, Tensor, Var};
        use eader_models::ops;

        // Deterministic inputs: sin of a scaled index, values in [-1, 1].
        let wave = |shape: &[usize], scale: f64, gain: f64, offset: f64| {
            let n: usize = shape.iter().product();
            let t = Tensor::arange(0u32, n as u32, &Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F64))
                .and_then(|t| t.affine(scale, 0.3))
                .and_then(|t| t.sin())
                .and_then(|t| t.affine(gain, offset))
                .and_then(|t| t.reshape(shape))
                .and_then(|t| t.to_dtype(dtype))
                .and_then(|t| t.to_device(device))
                .unwrap();
            Var::from_tensor(&t).unwrap()
        };
        let x = wave(&[2, 3, 17, 15], 0.37, 1.0, 0.0);
        let w = wave(&[8, 3, 3, 3], 1.3, 0.2, 0.0);
        let b = wave(&[8], 0.9, 1.0, 0.0);
        let gamma = wave(&[8], 0.5, 0.5, 1.0);
        let beta = wave(&[8], 0.7, 0.1, 0.0);
        let fc = wave(&[5, 8], 0.11, 1.0, 0.0);
        let conv = ops::ConvConfig {
            stride: 2,
            padding: 1,
            dilation: 1,
        };
        let y = ops::conv2d(&x, &w, Some(&b), conv).unwrap();
        let (y, mean, var) = ops::batch_norm_train(&y, &gamma, &beta, 1e-5, true).unwrap();
        let y = ops::max_pool2d(&y, ops::MaxPoolConfig::STEM).unwrap();
        let y = ops::add_relu(&y, &y.affine(-0.5, 0.1).unwrap()).unwrap();
        let y = ops::dropout(&ops::global_avg_pool(&y).unwrap(), 0.5, false).unwrap();
        let logits = ops::linear(&y, &fc, None).unwrap();
        let loss = (logits.sqr().unwrap().sum_all().unwrap() + logits.sum_all().unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        let host = |t: &Tensor| {
            t.to_device(&Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F32))
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .unwrap()
        };
        let mut out = vec![
            ("logits", host(&logits)),
            ("bn mean", host(&mean)),
            ("bn var", host(&var)),
        ];
        for (name, v) in [
            ("dx", &x),
            ("dw", &w),
            ("dgamma", &gamma),
            ("dbeta", &beta),
            ("dfc", &fc),
        ] {
            out.push((name, host(grads.get(v).unwrap())));
        }
        out
    }

    /// Every output of `got` within 1e-4 of the largest magnitude of the same output in
    /// `want` (f32 sums in another order than the f64 reference's).
    fn assert_block_close(got: &[(&str, Vec<f32>)], want: &[(&str, Vec<f32>)], what: &str) {
        assert_eq!(got.len(), want.len());
        for ((name, a), (_, b)) in got.iter().zip(want) {
            assert_eq!(a.len(), b.len(), "{what}: {name}");
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (i, (p, q)) in a.iter().zip(b).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-4 * scale,
                    "{what}: {name}[{i}] {p} vs f64 cpu {q} (scale {scale})"
                );
            }
        }
    }

    /// CPU twin of `models_ops_on_cuda_match_the_cpu`: the block in f32 against f64.
    #[test]
    fn models_ops_block_f32_matches_f64_on_the_cpu() {
        let want = ops_block(&Device::Cpu, candle::DType::F64);
        let got = ops_block(&Device::Cpu, candle::DType::F32);
        assert_block_close(&got, &want, "cpu f32");
    }

    /// The models' ops seam on a CUDA device takes candle's own ops (eader-kernels is
    /// CPU-only): the block in f32 on CUDA matches the CPU's f64. Passes with a notice
    /// when no device opens, fails then under `EADER_REQUIRE_GPU=1` (scripts/gpu-run.sh).
    #[cfg(feature = "cuda")]
    #[test]
    fn models_ops_on_cuda_match_the_cpu() {
        let device = match resolve(DeviceChoice::Cuda(0)) {
            Ok(device) => device,
            Err(e) => {
                assert!(
                    std::env::var_os("EADER_REQUIRE_GPU").is_none(),
                    "EADER_REQUIRE_GPU is set but no CUDA device opens: {e}"
                );
                eprintln!("no CUDA device, models_ops_on_cuda_match_the_cpu not run: {e}");
                return;
            }
        };
        let want = ops_block(&Device::Cpu, candle::DType::F64);
        let got = ops_block(&device, candle::DType::F32);
        assert_block_close(&got, &want, "cuda f32");
    }
}
