//! The floats the kernels run on (`f32`, and `f64` for gradient checks), and
//! access to a tensor's CPU data.

use candle::{CpuStorage, DType, Layout, Storage, Tensor, WithDType};

/// A float the kernels are written for: `f32` or `f64`.
pub trait Float: WithDType + Copy + Send + Sync + 'static {
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
    /// `max(self, 0)` (NaN stays NaN).
    #[inline]
    fn relu(self) -> Self {
        if self < Self::ZERO {
            Self::ZERO
        } else {
            self
        }
    }
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// Runs `$body` with `$T` bound to the Rust float of `$dtype` (`f32` or `f64`);
/// any other dtype is an error naming `$op`.
macro_rules! dispatch_float {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {{
        #[allow(unused_imports)]
        use candle::{backend::BackendStorage as _, WithDType as _};
        match $dtype {
            candle::DType::F32 => {
                type $T = f32;
                $body
            }
            candle::DType::F64 => {
                type $T = f64;
                $body
            }
            other => Err(candle::Error::Msg(format!(
                "{}: unsupported dtype {other:?}, the fast kernels run on f32 and f64",
                $op
            ))),
        }
    }};
}
pub(crate) use dispatch_float;

/// The contiguous data of a custom op's CPU input.
pub(crate) fn cpu_slice<'a, T: Float>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &'static str,
) -> candle::Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(storage)?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle::bail!("{op}: the input must be contiguous"),
    }
}

/// Runs `f` on the contiguous CPU data of `xs` (made contiguous first if needed).
pub(crate) fn with_data<T: Float, R>(
    xs: &Tensor,
    op: &'static str,
    f: impl FnOnce(&[T]) -> candle::Result<R>,
) -> candle::Result<R> {
    let xs = xs.contiguous()?;
    let (storage, layout) = xs.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(cpu_slice::<T>(cpu, layout, op)?),
        _ => candle::bail!("{op}: the fast kernel runs on CPU tensors only"),
    }
}

/// Wraps a kernel's output as a CPU tensor of `shape`.
pub(crate) fn to_tensor<T: Float>(
    data: Vec<T>,
    shape: impl Into<candle::Shape>,
) -> candle::Result<Tensor> {
    Tensor::from_vec(data, shape, &candle::Device::Cpu)
}

/// Wraps a kernel's output as [`CpuStorage`].
pub(crate) fn to_storage<T: Float>(data: Vec<T>) -> CpuStorage {
    T::to_cpu_storage_owned(data)
}

/// Checks that `t` has the dtype of the main input.
pub(crate) fn check_dtype(
    op: &'static str,
    what: &'static str,
    t: &Tensor,
    expected: DType,
) -> crate::Result<()> {
    if t.dtype() != expected {
        return Err(crate::Error::DType {
            op,
            what,
            expected,
            actual: t.dtype(),
        });
    }
    Ok(())
}

/// A zero-initialised output buffer (freshly mapped pages for large sizes, so
/// the zeroing costs no extra pass).
pub(crate) fn zeros<T: Float>(len: usize) -> Vec<T> {
    vec![T::ZERO; len]
}
