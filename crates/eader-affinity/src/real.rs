//! The floating-point types the walk takes and returns: `f32` or `f64`
//! (the walk itself runs in f64 either way).

use std::ops::{Mul, Sub};

/// `f32` or `f64`.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Sub<Output = Self>
    + Mul<Output = Self>
    + std::fmt::Debug
    + std::fmt::Display
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// The value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// `v` rounded to this type.
    fn from_f64(v: f64) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}

real!(f32);
real!(f64);
