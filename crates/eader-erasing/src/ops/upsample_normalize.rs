//! Bilinear upsampling of low-resolution attention maps to the image size, then per-map
//! min-max normalisation to `[0, 1]`, with PyTorch autograd's backward.

use std::mem::MaybeUninit;

use candle::backend::BackendStorage;
use candle::WithDType;
use candle::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{check_float, cpu_data, dims_of, lerp, taps, uninit_output, with_float, Real, Tap};
use crate::{Error, Result};

/// `(P, h, w) -> (P, H, W)`: upsample, then `(u - min u) / (max u - min u)` per map.
struct UpsampleNormalize {
    height: usize,
    width: usize,
}

/// `(maps (P, h, w), grad (P, H, W)) -> grad_maps (P, h, w)`.
struct UpsampleNormalizeBackward {
    height: usize,
    width: usize,
}

/// Fills `line` (length `w`) with the vertical interpolation of the source rows of `row`;
/// `lerp(line[col.i0], line[col.i1], col.lambda)` is then the bilinear value at `col`, the
/// same operations in the same order as `eader_sample` in `common.cuh`.
#[inline(always)]
fn interpolate_rows<T: Real>(map: &[T], w: usize, row: Tap<T>, line: &mut [T]) {
    let (top, bottom) = (&map[row.i0 * w..][..w], &map[row.i1 * w..][..w]);
    for ((l, &t), &b) in line.iter_mut().zip(top).zip(bottom) {
        *l = lerp(t, b, row.lambda);
    }
}

/// The bilinear value at `col` of a row interpolated by [`interpolate_rows`].
#[inline(always)]
fn sample_line<T: Real>(line: &[T], col: Tap<T>) -> T {
    lerp(line[col.i0], line[col.i1], col.lambda)
}

fn forward_cpu<T: Real>(
    maps: &[T],
    (p, h, w): (usize, usize, usize),
    (height, width): (usize, usize),
) -> Vec<T> {
    let (rows, cols) = (taps::<T>(h, height), taps::<T>(w, width));
    // Pass 1: upsample, keeping each row's extrema.
    let mut row_extrema = vec![(T::ZERO, T::ZERO); p * height];
    let upsample = |out: &mut [MaybeUninit<T>]| {
        out.par_chunks_mut(width)
            .zip(row_extrema.par_iter_mut())
            .enumerate()
            .with_min_len(8)
            .for_each_init(
                || vec![T::ZERO; w],
                |line, (r, (out, extrema))| {
                    let map = &maps[(r / height) * h * w..][..h * w];
                    interpolate_rows(map, w, rows[r % height], line);
                    let first = sample_line(line, cols[0]);
                    let (mut lo, mut hi) = (first, first);
                    for (o, &col) in out.iter_mut().zip(&cols) {
                        let u = sample_line(line, col);
                        o.write(u);
                        lo = if u < lo { u } else { lo };
                        hi = if u > hi { u } else { hi };
                    }
                    *extrema = (lo, hi);
                },
            )
    };
    // SAFETY: the rows tile the output and each writes its `width` (= `cols.len()`) pixels.
    let mut out = unsafe { uninit_output(p * height * width, upsample) };
    // Pass 2: normalise each map with its extrema.
    out.par_chunks_mut(height * width)
        .zip(row_extrema.par_chunks(height))
        .for_each(|(out, extrema)| {
            let (mut lo, mut hi) = extrema[0];
            for &(l, h) in extrema {
                lo = if l < lo { l } else { lo };
                hi = if h > hi { h } else { hi };
            }
            let range = hi - lo;
            let divisor = if range != T::ZERO { range } else { T::ONE };
            for o in out.iter_mut() {
                *o = (*o - lo) / divisor;
            }
        });
    out
}

/// Per map: `du = a dg + b [u == max] + c [u == min]`, with the extrema to test against.
#[derive(Clone, Copy, Debug)]
struct Coefficients<T> {
    min: T,
    max: T,
    a: T,
    b: T,
    c: T,
}

/// What the backward gathers over one output row (then over a map): the extrema of `u`
/// with their tie counts, `sum dg` and `sum dg u` (in f64).
#[derive(Clone, Copy, Debug)]
struct Stats<T> {
    min: T,
    k_min: usize,
    max: T,
    k_max: usize,
    sum_g: f64,
    sum_gu: f64,
}

impl<T: Real> Stats<T> {
    /// The stats of no element, extrema to be replaced by the first one merged.
    const EMPTY: Self = Stats {
        min: T::ZERO,
        k_min: 0,
        max: T::ZERO,
        k_max: 0,
        sum_g: 0.0,
        sum_gu: 0.0,
    };

    /// Merges `other` in (ties counted across both).
    fn merge(mut self, other: &Self) -> Self {
        if other.k_min > 0 {
            if self.k_min == 0 || other.min < self.min {
                (self.min, self.k_min) = (other.min, other.k_min);
            } else if other.min == self.min {
                self.k_min += other.k_min;
            }
        }
        if other.k_max > 0 {
            if self.k_max == 0 || other.max > self.max {
                (self.max, self.k_max) = (other.max, other.k_max);
            } else if other.max == self.max {
                self.k_max += other.k_max;
            }
        }
        self.sum_g += other.sum_g;
        self.sum_gu += other.sum_gu;
        self
    }

    /// Autograd of `s = u - amin(u); d = amax(s); g = s / where(d != 0, d, 1)`: with
    /// `G = sum dg`, `S = sum dg s` and `k_min`, `k_max` the tie counts,
    /// `ds = dg / d - [s == d] S / (d^2 k_max)` and `du = ds - [u == min] sum(ds) / k_min`,
    /// where `sum(ds) = G / d - S / d^2`; for `d == 0`, `ds = dg`.
    fn coefficients(&self) -> Coefficients<T> {
        let (min, max, sum_g) = (self.min, self.max, self.sum_g);
        let range = max - min;
        let (a, b, c) = if range != T::ZERO {
            let d = range.to_f64();
            let sum_gs = self.sum_gu - min.to_f64() * sum_g;
            (
                1.0 / d,
                -sum_gs / (d * d * self.k_max as f64),
                -(sum_g / d - sum_gs / (d * d)) / self.k_min as f64,
            )
        } else {
            (1.0, 0.0, -sum_g / self.k_min as f64)
        };
        Coefficients {
            min,
            max,
            a: T::from_f64(a),
            b: T::from_f64(b),
            c: T::from_f64(c),
        }
    }
}

/// Pass 1 on one output row: the row's [`Stats`], and `sum_x dg (1 - lambda)` into `tmp[i0]`,
/// `sum_x dg lambda` into `tmp[i1]` (the transposed column interpolation of `dg`, which
/// `du` scales by `a`), in the order of `x`.
fn row_pass<T: Real>(line: &[T], cols: &[Tap<T>], grad: &[T], tmp: &mut [T]) -> Stats<T> {
    let first = sample_line(line, cols[0]);
    let mut stats = Stats {
        min: first,
        max: first,
        ..Stats::EMPTY
    };
    for (&col, &dg) in cols.iter().zip(grad) {
        let u = sample_line(line, col);
        if u < stats.min {
            (stats.min, stats.k_min) = (u, 1);
        } else if u == stats.min {
            stats.k_min += 1;
        }
        if u > stats.max {
            (stats.max, stats.k_max) = (u, 1);
        } else if u == stats.max {
            stats.k_max += 1;
        }
        let g = dg.to_f64();
        stats.sum_g += g;
        stats.sum_gu += g * u.to_f64();
        tmp[col.i0] += dg * (T::ONE - col.lambda);
        tmp[col.i1] += dg * col.lambda;
    }
    stats
}

/// Pass 2 on one output row holding a map's min or max: `e = b [u == max] + c [u == min]`
/// through the transposed column interpolation into `tmp`, in the order of `x`.
fn extrema_pass<T: Real>(line: &[T], cols: &[Tap<T>], k: &Coefficients<T>, tmp: &mut [T]) {
    for &col in cols {
        let u = sample_line(line, col);
        if u != k.max && u != k.min {
            continue;
        }
        let mut e = T::ZERO;
        if u == k.max {
            e += k.b;
        }
        if u == k.min {
            e += k.c;
        }
        tmp[col.i0] += e * (T::ONE - col.lambda);
        tmp[col.i1] += e * col.lambda;
    }
}

/// The backward, in three parallel passes and no tensor beyond per-row sums of `(P, H, w)`:
/// 1. over rows (maps x output rows): each row's [`Stats`] and the transposed column
///    interpolation of `dg` ([`row_pass`]);
/// 2. over the rows that hold their map's min or max: that of the extrema terms
///    ([`extrema_pass`]); `du`'s row sums are then `a tmp_g + tmp_e`;
/// 3. over maps: the transposed row interpolation into the maps' gradient.
fn backward_cpu<T: Real>(
    maps: &[T],
    grad: &[T],
    (p, h, w): (usize, usize, usize),
    (height, width): (usize, usize),
) -> Vec<T> {
    let (rows, cols) = (taps::<T>(h, height), taps::<T>(w, width));
    let map_of = |r: usize| &maps[r / height * h * w..][..h * w];
    let mut tmp_g = vec![T::ZERO; p * height * w];
    let mut row_stats = vec![Stats::EMPTY; p * height];
    tmp_g
        .par_chunks_mut(w)
        .zip(row_stats.par_iter_mut())
        .enumerate()
        .with_min_len(8)
        .for_each_init(
            || vec![T::ZERO; w],
            |line, (r, (tmp, stats))| {
                interpolate_rows(map_of(r), w, rows[r % height], line);
                *stats = row_pass(line, &cols, &grad[r * width..][..width], tmp);
            },
        );
    let coefficients: Vec<Coefficients<T>> = row_stats
        .chunks(height)
        .map(|rows| {
            rows.iter()
                .fold(Stats::EMPTY, |acc, row| acc.merge(row))
                .coefficients()
        })
        .collect();
    let mut tmp_e = vec![T::ZERO; p * height * w];
    tmp_e
        .par_chunks_mut(w)
        .zip(&row_stats)
        .enumerate()
        .filter(|(r, (_, stats))| {
            let k = &coefficients[r / height];
            stats.min == k.min || stats.max == k.max
        })
        .for_each_init(
            || vec![T::ZERO; w],
            |line, (r, (tmp, _))| {
                interpolate_rows(map_of(r), w, rows[r % height], line);
                extrema_pass(line, &cols, &coefficients[r / height], tmp);
            },
        );
    let mut out = vec![T::ZERO; p * h * w];
    out.par_chunks_mut(h * w)
        .zip(tmp_g.par_chunks(height * w))
        .zip(tmp_e.par_chunks(height * w))
        .zip(&coefficients)
        .for_each(|(((grad_map, tmp_g), tmp_e), k)| {
            for ((&row, tmp_g), tmp_e) in rows
                .iter()
                .zip(tmp_g.chunks_exact(w))
                .zip(tmp_e.chunks_exact(w))
            {
                for (j, (&tg, &te)) in tmp_g.iter().zip(tmp_e).enumerate() {
                    let t = k.a * tg + te;
                    grad_map[row.i0 * w + j] += t * (T::ONE - row.lambda);
                    grad_map[row.i1 * w + j] += t * row.lambda;
                }
            }
        });
    out
}

fn map_dims(layout: &Layout) -> (usize, usize, usize) {
    let dims = layout.dims();
    (dims[0], dims[1], dims[2])
}

impl CustomOp1 for UpsampleNormalize {
    fn name(&self) -> &'static str {
        "upsample-normalize"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let dims = map_dims(layout);
        let size = (self.height, self.width);
        with_float!(self.name(), storage.dtype(), T => {
            let maps = cpu_data::<T>(storage, layout, self.name())?;
            let out = forward_cpu(maps, dims, size);
            Ok((T::to_cpu_storage_owned(out), Shape::from((dims.0, self.height, self.width))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle::CudaStorage,
        layout: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        use super::cuda::{function, per_element, per_map};
        use crate::kernels::UPSAMPLE_NORMALIZE as SRC;
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = storage.device().clone();
        let dtype = storage.dtype();
        let (p, h, w) = map_dims(layout);
        let (height, width) = (self.height, self.width);
        let n = p * height * width;
        with_float!(self.name(), dtype, T => {
            let maps = super::cuda::cuda_data::<T>(storage, layout, self.name())?;
            // SAFETY: every element is written by the kernels before it is read.
            let out = unsafe { device.alloc::<T>(n)? };
            let extrema = unsafe { device.alloc::<T>(2 * p)? };
            let stream = device.cuda_stream();
            let (hi, wi, height_i, width_i) = (h as i32, w as i32, height as i32, width as i32);
            let (len, plane) = (n as u64, (height * width) as u64);
            let f = function(&device, &SRC, "upsample_normalize_upsample", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&maps).arg(&out).arg(&hi).arg(&wi).arg(&height_i).arg(&width_i).arg(&len);
            // SAFETY: argument types match the kernels' signatures.
            unsafe { args.launch(per_element(n)) }.w()?;
            let f = function(&device, &SRC, "upsample_normalize_minmax", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&out).arg(&extrema).arg(&plane);
            unsafe { args.launch(per_map(p)) }.w()?;
            let f = function(&device, &SRC, "upsample_normalize_fwd", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&out).arg(&extrema).arg(&plane).arg(&len);
            unsafe { args.launch(per_element(n)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), Shape::from((p, height, width))))
        })
    }

    fn bwd(&self, maps: &Tensor, _res: &Tensor, grad: &Tensor) -> candle::Result<Option<Tensor>> {
        let op = UpsampleNormalizeBackward {
            height: self.height,
            width: self.width,
        };
        Ok(Some(
            maps.contiguous()?
                .apply_op2_no_bwd(&grad.contiguous()?, &op)?,
        ))
    }
}

impl CustomOp2 for UpsampleNormalizeBackward {
    fn name(&self) -> &'static str {
        "upsample-normalize-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let dims = map_dims(l1);
        let size = (self.height, self.width);
        with_float!(self.name(), s1.dtype(), T => {
            let maps = cpu_data::<T>(s1, l1, self.name())?;
            let grad = cpu_data::<T>(s2, l2, self.name())?;
            let out = backward_cpu(maps, grad, dims, size);
            Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle::CudaStorage,
        l1: &Layout,
        s2: &candle::CudaStorage,
        l2: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        use super::cuda::{function, per_element, per_map};
        use crate::kernels::UPSAMPLE_NORMALIZE as SRC;
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = s1.device().clone();
        let dtype = s1.dtype();
        let (p, h, w) = map_dims(l1);
        let (height, width) = (self.height, self.width);
        with_float!(self.name(), dtype, T => {
            let maps = super::cuda::cuda_data::<T>(s1, l1, self.name())?;
            let grad = super::cuda::cuda_data::<T>(s2, l2, self.name())?;
            // SAFETY: every element is written by the kernels before it is read.
            let extrema = unsafe { device.alloc::<T>(2 * p)? };
            let coef = unsafe { device.alloc::<f64>(3 * p)? };
            let tmp = unsafe { device.alloc::<T>(p * height * w)? };
            let out = unsafe { device.alloc::<T>(p * h * w)? };
            let stream = device.cuda_stream();
            let (hi, wi, height_i, width_i) = (h as i32, w as i32, height as i32, width as i32);
            let f = function(&device, &SRC, "upsample_normalize_bwd_stats", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&maps).arg(&grad).arg(&extrema).arg(&coef).arg(&hi).arg(&wi).arg(&height_i).arg(&width_i);
            // SAFETY: argument types match the kernels' signatures.
            unsafe { args.launch(per_map(p)) }.w()?;
            let n_tmp = p * height * w;
            let len = n_tmp as u64;
            let f = function(&device, &SRC, "upsample_normalize_bwd_rows", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&maps).arg(&grad).arg(&extrema).arg(&coef).arg(&tmp);
            args.arg(&hi).arg(&wi).arg(&height_i).arg(&width_i).arg(&len);
            unsafe { args.launch(per_element(n_tmp)) }.w()?;
            let n_out = p * h * w;
            let len = n_out as u64;
            let f = function(&device, &SRC, "upsample_normalize_bwd", dtype)?;
            let mut args = stream.launch_builder(&f);
            args.arg(&tmp).arg(&out).arg(&hi).arg(&wi).arg(&height_i).arg(&len);
            unsafe { args.launch(per_element(n_out)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), l1.shape().clone()))
        })
    }
}

/// Checks the arguments of [`upsample_normalize`] and its reference.
fn check(op: &'static str, maps: &Tensor, height: usize, width: usize) -> Result<()> {
    check_float(op, "maps", maps)?;
    let dims = dims_of(op, "maps", "(P, h, w)", maps, 3)?;
    if dims[1] == 0 || dims[2] == 0 || height == 0 || width == 0 {
        return Err(Error::InvalidArgument {
            op,
            what: format!(
                "cannot resample ({}, {}) maps to ({height}, {width})",
                dims[1], dims[2]
            ),
        });
    }
    if height.max(width) > i32::MAX as usize || dims[1].max(dims[2]) > i32::MAX as usize {
        return Err(Error::InvalidArgument {
            op,
            what: "sizes must fit in i32".into(),
        });
    }
    Ok(())
}

/// Upsamples low-resolution maps `(P, h, w)` to `(P, height, width)` with bilinear
/// interpolation (PyTorch's `align_corners=False` sampling), then normalises each map to
/// `[0, 1]`: `(u - min u) / (max u - min u)`, 0 everywhere when the range is 0.
///
/// Differentiable: the backward is PyTorch autograd's on the same formula, the gradient
/// through the min and the max shared evenly among tied elements (`amin`/`amax`). The
/// interpolation is written `a + lambda (b - a)`, so a constant map stays exactly constant
/// (and normalises to 0); PyTorch's `(1 - lambda) a + lambda b` agrees to rounding.
pub fn upsample_normalize(maps: &Tensor, height: usize, width: usize) -> Result<Tensor> {
    check("upsample_normalize", maps, height, width)?;
    Ok(maps
        .contiguous()?
        .apply_op1(UpsampleNormalize { height, width })?)
}

/// The `(out_size, in_size)` bilinear interpolation matrix of [`taps`].
fn interpolation_matrix(
    in_size: usize,
    out_size: usize,
    dtype: DType,
    device: &candle::Device,
) -> Result<Tensor> {
    let mut matrix = vec![0f64; out_size * in_size];
    for (o, tap) in taps::<f64>(in_size, out_size).into_iter().enumerate() {
        let row = &mut matrix[o * in_size..][..in_size];
        if tap.i0 == tap.i1 {
            row[tap.i0] = 1.0;
        } else {
            row[tap.i0] += 1.0 - tap.lambda;
            row[tap.i1] += tap.lambda;
        }
    }
    Ok(Tensor::from_vec(matrix, (out_size, in_size), device)?.to_dtype(dtype)?)
}

/// `sum(xs * w)` per row, `w` spreading 1 evenly over the elements equal to `extreme`:
/// the value of `amin`/`amax`, with their gradient rule (even split among ties).
fn even_extreme(xs: &Tensor, extreme: &Tensor) -> Result<Tensor> {
    let ties = xs.broadcast_eq(&extreme.detach())?.to_dtype(xs.dtype())?;
    let weights = ties.broadcast_div(&ties.sum_keepdim(1)?)?.detach();
    Ok((xs * weights)?.sum_keepdim(1)?)
}

/// [`upsample_normalize`] composed of plain candle ops: interpolation matrices
/// (`A_h maps A_w^T`, which candle can differentiate, unlike `upsample_bilinear2d`) and
/// the normalisation written out. Taps in f64, rounded to the maps' dtype.
pub fn upsample_normalize_ref(maps: &Tensor, height: usize, width: usize) -> Result<Tensor> {
    check("upsample_normalize_ref", maps, height, width)?;
    let (p, h, w) = maps.dims3()?;
    let rows = interpolation_matrix(h, height, maps.dtype(), maps.device())?;
    let cols = interpolation_matrix(w, width, maps.dtype(), maps.device())?;
    let u = rows.broadcast_matmul(maps)?.broadcast_matmul(&cols.t()?)?;
    let flat = u.reshape((p, height * width))?;
    let min = even_extreme(&flat, &flat.min_keepdim(1)?)?;
    let shifted = flat.broadcast_sub(&min)?;
    let range = even_extreme(&shifted, &shifted.max_keepdim(1)?)?;
    let is_zero = range.eq(0.0)?.to_dtype(maps.dtype())?.detach();
    let g = shifted.broadcast_div(&(range + is_zero)?)?;
    Ok(g.reshape((p, height, width))?)
}

#[cfg(test)]
mod tests;
