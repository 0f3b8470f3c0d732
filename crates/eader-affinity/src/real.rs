//! The floating-point types the walk runs in: `f32` for speed, `f64` for the truth.

use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, Sub};

/// `f32` or `f64`.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Default
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Sum
    + std::fmt::Debug
    + std::fmt::Display
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// `self^n`.
    fn powi(self, n: i32) -> Self;
    /// Whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

real!(f32);
real!(f64);
