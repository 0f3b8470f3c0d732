//! Value widths known at compile time: the filter and mean-field loops run over
//! `value_size` lanes per vertex or pixel, and a constant width lets the compiler unroll
//! and vectorise them. [`dispatch_width!`] picks the constant for the usual widths
//! (labels rounded up to a multiple of 4) and falls back to a run-time width.

/// A number of `f32` lanes per row.
pub(crate) trait Width: Copy + Send + Sync {
    /// The number of lanes.
    fn get(self) -> usize;
}

/// A width fixed at compile time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<const N: usize>;

impl<const N: usize> Width for Fixed<N> {
    #[inline(always)]
    fn get(self) -> usize {
        N
    }
}

/// A width known at run time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dynamic(pub(crate) usize);

impl Width for Dynamic {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }
}

/// Runs `$body` with `$w` bound to a [`Width`] equal to `$vw`.
macro_rules! dispatch_width {
    ($vw:expr, |$w:ident| $body:expr) => {
        match $vw {
            1 => {
                let $w = $crate::width::Fixed::<1>;
                $body
            }
            2 => {
                let $w = $crate::width::Fixed::<2>;
                $body
            }
            4 => {
                let $w = $crate::width::Fixed::<4>;
                $body
            }
            8 => {
                let $w = $crate::width::Fixed::<8>;
                $body
            }
            12 => {
                let $w = $crate::width::Fixed::<12>;
                $body
            }
            16 => {
                let $w = $crate::width::Fixed::<16>;
                $body
            }
            20 => {
                let $w = $crate::width::Fixed::<20>;
                $body
            }
            24 => {
                let $w = $crate::width::Fixed::<24>;
                $body
            }
            other => {
                let $w = $crate::width::Dynamic(other);
                $body
            }
        }
    };
}
pub(crate) use dispatch_width;

/// Lanes a row of `n_labels` values takes: rounded up to a multiple of 4.
pub(crate) fn padded(n_labels: usize) -> usize {
    n_labels.div_ceil(4) * 4
}
