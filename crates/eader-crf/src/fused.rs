//! The mean-field pass over a range of pixels, written with AVX2 intrinsics: slice the
//! blurred messages of every kernel, take the softmax and splat the new `Q` row, with the
//! pixel's row held in registers throughout (`A` 8-lane and `B` 4-lane registers, the
//! padded label count being `8 A + 4 B`).
//!
//! It performs exactly the IEEE operations of the portable pass in `crf.rs` in the same
//! order (products then sums, no FMA; the softmax sum over 4-lane partial sums in the
//! same sequence; the same Cephes `exp`), so both give bit-identical results.

use std::arch::x86_64::*;

/// One kernel as a pass sees it. Rows are `vw` floats; `offsets` index rows of `blurred`
/// and `splat`.
pub(crate) struct KernelPass<'a> {
    /// `d + 1`: vertices per pixel.
    pub(crate) d1: usize,
    /// `(n_pixels, d1)` vertex rows of each pixel, all `<= n_vertices`.
    pub(crate) offsets: &'a [u32],
    /// `(n_pixels, d1)` slicing weights.
    pub(crate) slice_weights: &'a [f32],
    /// `(n_pixels, d1)` splatting weights.
    pub(crate) splat_weights: &'a [f32],
    /// `(n_vertices + 1, vw)` blurred values to slice from.
    pub(crate) blurred: &'a [f32],
    /// `(n_vertices + 1, vw)` values to splat into.
    pub(crate) splat: &'a mut [f32],
}

#[derive(Clone, Copy)]
struct Row<const A: usize, const B: usize> {
    y: [__m256; A],
    x: [__m128; B],
}

impl<const A: usize, const B: usize> Row<A, B> {
    /// # Safety
    /// AVX2 must be available.
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX2 is available (the caller's contract).
        unsafe {
            Self {
                y: [_mm256_setzero_ps(); A],
                x: [_mm_setzero_ps(); B],
            }
        }
    }

    /// # Safety
    /// `p` must be valid for reading `8 A + 4 B` floats; AVX2 must be available.
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller's contract.
        unsafe {
            let mut row = Self::zero();
            for i in 0..A {
                row.y[i] = _mm256_loadu_ps(p.add(8 * i));
            }
            for i in 0..B {
                row.x[i] = _mm_loadu_ps(p.add(8 * A + 4 * i));
            }
            row
        }
    }

    /// # Safety
    /// `p` must be valid for writing `8 A + 4 B` floats; AVX2 must be available.
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller's contract.
        unsafe {
            for i in 0..A {
                _mm256_storeu_ps(p.add(8 * i), self.y[i]);
            }
            for i in 0..B {
                _mm_storeu_ps(p.add(8 * A + 4 * i), self.x[i]);
            }
        }
    }

    /// `self + w * other`.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[inline(always)]
    unsafe fn add_scaled(self, w: f32, other: Self) -> Self {
        // SAFETY: AVX2 is available (the caller's contract).
        unsafe {
            let (wy, wx) = (_mm256_set1_ps(w), _mm_set1_ps(w));
            let mut row = self;
            for i in 0..A {
                row.y[i] = _mm256_add_ps(self.y[i], _mm256_mul_ps(wy, other.y[i]));
            }
            for i in 0..B {
                row.x[i] = _mm_add_ps(self.x[i], _mm_mul_ps(wx, other.x[i]));
            }
            row
        }
    }
}

/// Cephes' `expf` on 8 lanes, as `crate::crf::exp`.
#[inline(always)]
#[allow(clippy::excessive_precision)]
unsafe fn exp8(x: __m256) -> __m256 {
    // SAFETY: AVX2 is available (the caller's contract).
    unsafe {
        let round = _mm256_set1_ps(12_582_912.0);
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
            _mm256_set1_ps(88.0),
        );
        let t = _mm256_add_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
            round,
        );
        let n = _mm256_sub_ps(t, round);
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693_359_375))),
            _mm256_mul_ps(n, _mm256_set1_ps(-2.121_944_40e-4)),
        );
        let z = _mm256_mul_ps(r, r);
        let mut p = _mm256_set1_ps(1.987_569_150_0e-4);
        for c in [
            1.398_199_950_7e-3,
            8.333_451_907_3e-3,
            4.166_579_589_4e-2,
            1.666_666_545_9e-1,
            5.000_000_120_1e-1,
        ] {
            p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c));
        }
        let y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, z), r), _mm256_set1_ps(1.0));
        let bits = _mm256_sub_epi32(
            _mm256_castps_si256(t),
            _mm256_set1_epi32(12_582_912f32.to_bits() as i32 - 127),
        );
        _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23)))
    }
}

/// Cephes' `expf` on 4 lanes, as `crate::crf::exp`.
#[inline(always)]
#[allow(clippy::excessive_precision)]
unsafe fn exp4(x: __m128) -> __m128 {
    // SAFETY: AVX2 is available (the caller's contract).
    unsafe {
        let round = _mm_set1_ps(12_582_912.0);
        let x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.0)), _mm_set1_ps(88.0));
        let t = _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(std::f32::consts::LOG2_E)), round);
        let n = _mm_sub_ps(t, round);
        let r = _mm_sub_ps(
            _mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(0.693_359_375))),
            _mm_mul_ps(n, _mm_set1_ps(-2.121_944_40e-4)),
        );
        let z = _mm_mul_ps(r, r);
        let mut p = _mm_set1_ps(1.987_569_150_0e-4);
        for c in [
            1.398_199_950_7e-3,
            8.333_451_907_3e-3,
            4.166_579_589_4e-2,
            1.666_666_545_9e-1,
            5.000_000_120_1e-1,
        ] {
            p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(c));
        }
        let y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(p, z), r), _mm_set1_ps(1.0));
        let bits = _mm_sub_epi32(
            _mm_castps_si128(t),
            _mm_set1_epi32(12_582_912f32.to_bits() as i32 - 127),
        );
        _mm_mul_ps(y, _mm_castsi128_ps(_mm_slli_epi32(bits, 23)))
    }
}

/// `mask * exp(x - max x) / sum(...)` as `crate::crf::softmax`: the sum runs over 4-lane
/// partial sums in row order, then `(s0 + s1) + (s2 + s3)`.
#[inline(always)]
unsafe fn softmax<const A: usize, const B: usize>(x: Row<A, B>, mask: Row<A, B>) -> Row<A, B> {
    // SAFETY: AVX2 is available (the caller's contract).
    unsafe {
        // Max: exact in any order.
        let mut m4 = _mm_set1_ps(f32::MIN);
        for i in 0..A {
            let v = x.y[i];
            m4 = _mm_max_ps(
                m4,
                _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)),
            );
        }
        for i in 0..B {
            m4 = _mm_max_ps(m4, x.x[i]);
        }
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, 0b01));
        let max4 = _mm_shuffle_ps(m4, m4, 0);
        let max8 = _mm256_set_m128(max4, max4);
        let mut e = x;
        for i in 0..A {
            e.y[i] = _mm256_mul_ps(exp8(_mm256_sub_ps(x.y[i], max8)), mask.y[i]);
        }
        for i in 0..B {
            e.x[i] = _mm_mul_ps(exp4(_mm_sub_ps(x.x[i], max4)), mask.x[i]);
        }
        let mut s = _mm_setzero_ps();
        for i in 0..A {
            s = _mm_add_ps(s, _mm256_castps256_ps128(e.y[i]));
            s = _mm_add_ps(s, _mm256_extractf128_ps(e.y[i], 1));
        }
        for i in 0..B {
            s = _mm_add_ps(s, e.x[i]);
        }
        // [s0 + s1, s1 + s0, s2 + s3, s3 + s2], then (s0 + s1) + (s2 + s3).
        let pairs = _mm_add_ps(s, _mm_shuffle_ps(s, s, 0b1011_0001));
        let total = _mm_add_ss(pairs, _mm_movehl_ps(pairs, pairs));
        let sum4 = _mm_shuffle_ps(total, total, 0);
        let sum8 = _mm256_set_m128(sum4, sum4);
        for i in 0..A {
            e.y[i] = _mm256_div_ps(e.y[i], sum8);
        }
        for i in 0..B {
            e.x[i] = _mm_div_ps(e.x[i], sum4);
        }
        e
    }
}

/// `acc` plus kernel `k`'s slice at pixel `p` (at entry `p` itself when `D1` is 0, the
/// run-time `k.d1`).
///
/// # Safety
/// As [`pass`].
#[inline(always)]
unsafe fn slice<const A: usize, const B: usize, const D1: usize>(
    mut acc: Row<A, B>,
    k: &KernelPass<'_>,
    p: usize,
) -> Row<A, B> {
    let vw = 8 * A + 4 * B;
    let (d1, base) = if D1 == 0 { (k.d1, p) } else { (D1, p * D1) };
    debug_assert!(base + d1 <= k.offsets.len());
    // SAFETY: as in [`pass`].
    unsafe {
        let (o, w) = (
            k.offsets.as_ptr().add(base),
            k.slice_weights.as_ptr().add(base),
        );
        for r in 0..d1 {
            let src = k.blurred.as_ptr().add(*o.add(r) as usize * vw);
            acc = acc.add_scaled(*w.add(r), Row::load(src));
        }
    }
    acc
}

/// Splats `q` into kernel `k`'s values at pixel `p` (at entry `p` itself when `D1` is
/// 0, the run-time `k.d1`).
///
/// # Safety
/// As [`pass`].
#[inline(always)]
unsafe fn splat<const A: usize, const B: usize, const D1: usize>(
    q: Row<A, B>,
    k: &mut KernelPass<'_>,
    p: usize,
) {
    let vw = 8 * A + 4 * B;
    let (d1, base) = if D1 == 0 { (k.d1, p) } else { (D1, p * D1) };
    debug_assert!(base + d1 <= k.offsets.len());
    // SAFETY: as in [`pass`].
    unsafe {
        let (o, w) = (
            k.offsets.as_ptr().add(base),
            k.splat_weights.as_ptr().add(base),
        );
        for r in 0..d1 {
            let dst = k.splat.as_mut_ptr().add(*o.add(r) as usize * vw);
            Row::load(dst).add_scaled(*w.add(r), q).store(dst);
        }
    }
}

/// One pass over `rows` (`(n_rows, 8 A + 4 B)`, pixels `first..`, holding `-U`): with
/// `slicing`, adds every kernel's slice of its blurred values; takes the softmax; with
/// `splatting` splats it into each kernel's `splat` values, otherwise writes it over
/// the row.
///
/// # Safety
/// AVX2 must be available. `rows.len()` must be a multiple of `8 A + 4 B`; for each
/// kernel, `offsets`, `slice_weights` and `splat_weights` must hold `d1` entries for
/// each of the pixels `first..first + n_rows`, every offset `o` must satisfy
/// `(o + 1) * (8 A + 4 B) <= blurred.len()` and `<= splat.len()`, and `mask` must hold
/// `8 A + 4 B` floats.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn pass<const A: usize, const B: usize>(
    rows: &mut [f32],
    first: usize,
    kernels: &mut [KernelPass<'_>],
    mask: &[f32],
    slicing: bool,
    splatting: bool,
) {
    let vw = 8 * A + 4 * B;
    debug_assert!(rows.len().is_multiple_of(vw) && mask.len() >= vw);
    // SAFETY: every pointer below stays inside its slice by the contract above: rows
    // `i < n_rows`, weights and offsets `(first + i) * d1 + r` with `r < d1`, lattice
    // rows `o * vw .. (o + 1) * vw` with `(o + 1) * vw` within both value buffers.
    unsafe {
        let mask = Row::<A, B>::load(mask.as_ptr());
        for (i, row) in rows.chunks_exact_mut(vw).enumerate() {
            let p = first + i;
            let mut acc = Row::<A, B>::load(row.as_ptr());
            if slicing {
                for k in kernels.iter() {
                    acc = match k.d1 {
                        3 => slice::<A, B, 3>(acc, k, p),
                        6 => slice::<A, B, 6>(acc, k, p),
                        d1 => slice::<A, B, 0>(acc, k, p * d1),
                    };
                }
            }
            let q = softmax(acc, mask);
            if splatting {
                for k in kernels.iter_mut() {
                    match k.d1 {
                        3 => splat::<A, B, 3>(q, k, p),
                        6 => splat::<A, B, 6>(q, k, p),
                        d1 => splat::<A, B, 0>(q, k, p * d1),
                    }
                }
            } else {
                q.store(row.as_mut_ptr());
            }
        }
    }
}

/// One blur step along a lattice direction over the vertex rows `first..` that `new`
/// holds (`(n_rows, 8 A + 4 B)`): `new_v = old_v + 0.5 (old_n1 + old_n2)`, as
/// `Permutohedral::blur` computes it.
///
/// # Safety
/// AVX2 must be available. `new.len()` must be a multiple of `8 A + 4 B`,
/// `neighbors` must hold an entry for each vertex `first..first + n_rows`, `old` must
/// hold the rows `0..=first + n_rows` and every neighbour row named.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn blur<const A: usize, const B: usize>(
    old: &[f32],
    new: &mut [f32],
    neighbors: &[[u32; 2]],
    first: usize,
) {
    let vw = 8 * A + 4 * B;
    debug_assert!(new.len().is_multiple_of(vw));
    debug_assert!(neighbors.len() >= first + new.len() / vw);
    // SAFETY: the caller's contract keeps every row read inside `old`, every write
    // inside `new`.
    unsafe {
        let half = _mm256_set1_ps(0.5);
        let half4 = _mm_set1_ps(0.5);
        let old = old.as_ptr();
        for (i, row) in new.chunks_exact_mut(vw).enumerate() {
            let v = first + i;
            let [n1, n2] = *neighbors.as_ptr().add(v);
            let center = Row::<A, B>::load(old.add((v + 1) * vw));
            let a = Row::<A, B>::load(old.add(n1 as usize * vw));
            let b = Row::<A, B>::load(old.add(n2 as usize * vw));
            let mut out = center;
            for k in 0..A {
                out.y[k] = _mm256_add_ps(
                    center.y[k],
                    _mm256_mul_ps(half, _mm256_add_ps(a.y[k], b.y[k])),
                );
            }
            for k in 0..B {
                out.x[k] = _mm_add_ps(center.x[k], _mm_mul_ps(half4, _mm_add_ps(a.x[k], b.x[k])));
            }
            out.store(row.as_mut_ptr());
        }
    }
}
