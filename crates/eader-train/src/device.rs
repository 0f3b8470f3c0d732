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
}
