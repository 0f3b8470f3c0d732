//! Loading and launching this crate's CUDA kernels on candle's CUDA device.
//!
//! Each `.cu` source is compiled to PTX with NVRTC once per process (cached here); candle
//! loads the PTX once per device and caches the module under the source's module name
//! (`CudaDevice::get_or_load_custom_func`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use candle::cuda_backend::cudarc::driver::{CudaFunction, CudaView, LaunchConfig};
use candle::cuda_backend::cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use candle::cuda_backend::{CudaDType, CudaDevice};
use candle::{CudaStorage, Layout};

use crate::kernels::{KernelSource, NVRTC_FMAD};

/// The PTX of `source`, compiled on first use.
fn ptx(source: &KernelSource) -> candle::Result<Arc<str>> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Arc<str>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| candle::Error::Msg("eader-erasing: PTX cache poisoned".into()))?;
    if let Some(ptx) = cache.get(source.module) {
        return Ok(ptx.clone());
    }
    let opts = CompileOptions {
        fmad: Some(NVRTC_FMAD),
        name: Some(format!("{}.cu", source.module)),
        ..Default::default()
    };
    let ptx: Arc<str> = compile_ptx_with_opts(source.source, opts)
        .map_err(|e| candle::Error::Msg(format!("nvrtc: compiling {}: {e:?}", source.module)))?
        .to_src()
        .into();
    cache.insert(source.module, ptx.clone());
    Ok(ptx)
}

/// The kernel `<name>_<dtype>` of `source` on `device`.
pub(crate) fn function(
    device: &CudaDevice,
    source: &KernelSource,
    name: &str,
    dtype: candle::DType,
) -> candle::Result<CudaFunction> {
    let ptx = ptx(source)?;
    let kernel = format!("{name}_{}", dtype.as_str());
    Ok(device
        .get_or_load_custom_func(&kernel, source.module, &ptx)?
        .into_cuda_function())
}

/// The contiguous data of a CUDA storage as a view (the CUDA twin of `cpu_data`); an error
/// naming `op` when the layout is not contiguous.
pub(crate) fn cuda_data<'a, T: CudaDType>(
    storage: &'a CudaStorage,
    layout: &Layout,
    op: &str,
) -> candle::Result<CudaView<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(storage.as_cuda_slice::<T>()?.slice(start..end)),
        None => candle::bail!("{op}: input must be contiguous"),
    }
}

/// One thread per element, 256 threads a block.
pub(crate) fn per_element(n: usize) -> LaunchConfig {
    const BLOCK: u32 = 256;
    LaunchConfig {
        grid_dim: ((n as u32).div_ceil(BLOCK).max(1), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block of 256 threads per map (the `EADER_BLOCK` of `common.cuh`).
pub(crate) fn per_map(p: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (p as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}
