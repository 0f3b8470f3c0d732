//! The one switch between the fast kernels and candle's composed ops.
//!
//! The fast kernels run when the switch is on (the default), the tensors are
//! on the CPU and their dtype is `f32` or `f64`; otherwise every public op
//! computes the same thing with candle's own ops (its `*_ref` twin). The
//! switch starts from the environment variable `EADER_FAST_KERNELS` (`0`,
//! `false` or `off` turn the kernels off) and can be flipped at run time with
//! [`set_fast_kernels`], e.g. to compare both paths in one process.

use std::sync::atomic::{AtomicU8, Ordering};

use candle::{DType, Tensor};

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNSET);

/// Turns the fast CPU kernels on or off for the whole process.
pub fn set_fast_kernels(on: bool) {
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether the fast CPU kernels are on (see the module docs).
pub fn fast_kernels_enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = !env_switched_off("EADER_FAST_KERNELS");
            // A concurrent `set_fast_kernels` wins over the environment.
            let _ = STATE.compare_exchange(
                UNSET,
                if on { ON } else { OFF },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            STATE.load(Ordering::Relaxed) == ON
        }
    }
}

/// Whether the environment variable `name` turns something off: `0`, `false`
/// or `off` (surrounding spaces ignored); unset or anything else leaves it on.
pub(crate) fn env_switched_off(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref().map(str::trim),
        Ok("0") | Ok("false") | Ok("off")
    )
}

/// Whether the fast path can run on `xs`: switch on, CPU tensor, `f32` or `f64`.
pub(crate) fn use_fast(xs: &Tensor) -> bool {
    fast_kernels_enabled() && xs.device().is_cpu() && matches!(xs.dtype(), DType::F32 | DType::F64)
}
