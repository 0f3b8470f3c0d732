//! The custom ops, one file each, and what their CPU kernels share.

pub(crate) mod erase;
pub(crate) mod soft_mask;
pub(crate) mod upsample_normalize;

#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use std::mem::MaybeUninit;

use candle::{CpuStorage, DType, Layout, Tensor, WithDType};

use crate::{Error, Result};

/// The element types the CPU kernels run on (f32 and f64).
pub(crate) trait Real: WithDType {
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    fn exp(self) -> Self;
    fn floor(self) -> Self;
    fn from_usize(n: usize) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn floor(self) -> Self {
        f32::floor(self)
    }
    fn from_usize(n: usize) -> Self {
        n as f32
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn floor(self) -> Self {
        f64::floor(self)
    }
    fn from_usize(n: usize) -> Self {
        n as f64
    }
}

/// One output coordinate of PyTorch's bilinear resampling (`align_corners=False`, no scale
/// factor): the two source indices and the weight `lambda` of the second one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tap<T> {
    pub(crate) i0: usize,
    pub(crate) i1: usize,
    pub(crate) lambda: T,
}

/// The taps of every output index, computed in `T` as PyTorch does
/// (`src = max(in/out (o + 0.5) - 0.5, 0)`), and as `eader_tap` in `common.cuh` does.
pub(crate) fn taps<T: Real>(in_size: usize, out_size: usize) -> Vec<Tap<T>> {
    let scale = T::from_usize(in_size) / T::from_usize(out_size);
    (0..out_size)
        .map(|o| {
            let mut src = scale * (T::from_usize(o) + T::HALF) - T::HALF;
            if src < T::ZERO {
                src = T::ZERO;
            }
            let i0 = (src.floor().to_f64() as usize).min(in_size - 1);
            let i1 = if i0 < in_size - 1 { i0 + 1 } else { i0 };
            let mut lambda = src - T::from_usize(i0);
            if lambda < T::ZERO {
                lambda = T::ZERO;
            }
            if lambda > T::ONE {
                lambda = T::ONE;
            }
            Tap { i0, i1, lambda }
        })
        .collect()
}

/// `a + lambda (b - a)`: exact at `lambda` 0 and for `a == b`, so a constant map upsamples
/// to exactly the same constant.
#[inline(always)]
pub(crate) fn lerp<T: Real>(a: T, b: T, lambda: T) -> T {
    a + lambda * (b - a)
}

/// A vector of `len` elements written by `fill`, without zeroing them first: the output
/// kernels overwrite every element, and a zeroed allocation costs a full extra pass over
/// memory whenever the allocator hands back reused memory.
///
/// # Safety
/// `fill` must initialise every element of the slice it is given.
pub(crate) unsafe fn uninit_output<T: Copy>(
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<T>]),
) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialised the first `len` elements (the caller's guarantee).
    unsafe { out.set_len(len) };
    out
}

/// The contiguous data of a CPU storage as `&[T]`.
pub(crate) fn cpu_data<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle::Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle::bail!("{op}: input must be contiguous"),
    }
}

/// Checks that `xs` is f32 or f64.
pub(crate) fn check_float(op: &'static str, name: &'static str, xs: &Tensor) -> Result<()> {
    match xs.dtype() {
        DType::F32 | DType::F64 => Ok(()),
        dtype => Err(Error::DType { op, name, dtype }),
    }
}

/// Checks that two tensors share dtype and device.
pub(crate) fn check_same(op: &'static str, a: (&str, &Tensor), b: (&str, &Tensor)) -> Result<()> {
    if a.1.dtype() != b.1.dtype() {
        return Err(Error::Mismatch {
            op,
            what: format!(
                "{} is {:?} but {} is {:?}",
                a.0,
                a.1.dtype(),
                b.0,
                b.1.dtype()
            ),
        });
    }
    if !a.1.device().same_device(b.1.device()) {
        return Err(Error::Mismatch {
            op,
            what: format!(
                "{} is on {:?} but {} is on {:?}",
                a.0,
                a.1.device().location(),
                b.0,
                b.1.device().location()
            ),
        });
    }
    Ok(())
}

/// The dims of `xs` when it has `rank` of them, else a shape error.
pub(crate) fn dims_of<'a>(
    op: &'static str,
    name: &'static str,
    expected: &str,
    xs: &'a Tensor,
    rank: usize,
) -> Result<&'a [usize]> {
    let dims = xs.dims();
    if dims.len() != rank {
        return Err(Error::Shape {
            op,
            name,
            expected: expected.to_owned(),
            actual: dims.to_vec(),
        });
    }
    Ok(dims)
}

/// Runs `$body` with `$t` bound to the element type of `$dtype` (f32 or f64).
macro_rules! with_float {
    ($op:expr, $dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            candle::DType::F32 => {
                type $t = f32;
                $body
            }
            candle::DType::F64 => {
                type $t = f64;
                $body
            }
            dtype => candle::bail!("{}: unsupported dtype {dtype:?}, expected f32 or f64", $op),
        }
    };
}
pub(crate) use with_float;

#[cfg(test)]
pub(crate) mod test_utils;
