//! Bilinear upsampling of low-resolution attention maps to the image size, then per-map
//! min-max normalisation to `[0, 1]`, with PyTorch autograd's backward.

use candle::backend::BackendStorage;
use candle::WithDType;
use candle::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{check_float, cpu_data, dims_of, lerp, taps, with_float, Real, Tap};
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
    let mut out = vec![T::ZERO; p * height * width];
    // Pass 1: upsample, keeping each row's extrema.
    let mut row_extrema = vec![(T::ZERO, T::ZERO); p * height];
    out.par_chunks_mut(width)
        .zip(row_extrema.par_iter_mut())
        .enumerate()
        .with_min_len(8)
        .for_each_init(
            || vec![T::ZERO; w],
            |line, (r, (out, extrema))| {
                let map = &maps[(r / height) * h * w..][..h * w];
                interpolate_rows(map, w, rows[r % height], line);
                let (mut lo, mut hi) = (sample_line(line, cols[0]), sample_line(line, cols[0]));
                for (o, &col) in out.iter_mut().zip(&cols) {
                    let u = sample_line(line, col);
                    *o = u;
                    lo = if u < lo { u } else { lo };
                    hi = if u > hi { u } else { hi };
                }
                *extrema = (lo, hi);
            },
        );
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

/// Autograd of `s = u - amin(u); d = amax(s); g = s / where(d != 0, d, 1)`: with
/// `G = sum dg`, `S = sum dg s` and `k_min`, `k_max` the tie counts,
/// `ds = dg / d - [s == d] S / (d^2 k_max)` and `du = ds - [u == min] sum(ds) / k_min`,
/// where `sum(ds) = G / d - S / d^2`; for `d == 0`, `ds = dg`. Sums in f64.
fn coefficients<T: Real>(
    min: T,
    max: T,
    k_min: usize,
    k_max: usize,
    sum_g: f64,
    sum_gu: f64,
) -> Coefficients<T> {
    let range = max - min;
    let (a, b, c) = if range != T::ZERO {
        let d = range.to_f64();
        let sum_gs = sum_gu - min.to_f64() * sum_g;
        (
            1.0 / d,
            -sum_gs / (d * d * k_max as f64),
            -(sum_g / d - sum_gs / (d * d)) / k_min as f64,
        )
    } else {
        (1.0, 0.0, -sum_g / k_min as f64)
    };
    Coefficients {
        min,
        max,
        a: T::from_f64(a),
        b: T::from_f64(b),
        c: T::from_f64(c),
    }
}

fn backward_cpu<T: Real>(
    maps: &[T],
    grad: &[T],
    (p, h, w): (usize, usize, usize),
    (height, width): (usize, usize),
) -> Vec<T> {
    let (rows, cols) = (taps::<T>(h, height), taps::<T>(w, width));
    let plane = height * width;
    let mut out = vec![T::ZERO; p * h * w];
    out.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(m, grad_map)| {
            let map = &maps[m * h * w..][..h * w];
            let grad = &grad[m * plane..][..plane];
            // Pass 1: extrema, tie counts, sum dg, sum dg u (u recomputed, not stored).
            let mut line = vec![T::ZERO; w];
            interpolate_rows(map, w, rows[0], &mut line);
            let first = sample_line(&line, cols[0]);
            let (mut min, mut max, mut k_min, mut k_max) = (first, first, 0usize, 0usize);
            let (mut sum_g, mut sum_gu) = (0.0f64, 0.0f64);
            for (y, &row) in rows.iter().enumerate() {
                interpolate_rows(map, w, row, &mut line);
                for (x, &col) in cols.iter().enumerate() {
                    let u = sample_line(&line, col);
                    if u < min {
                        (min, k_min) = (u, 1);
                    } else if u == min {
                        k_min += 1;
                    }
                    if u > max {
                        (max, k_max) = (u, 1);
                    } else if u == max {
                        k_max += 1;
                    }
                    let g = grad[y * width + x].to_f64();
                    sum_g += g;
                    sum_gu += g * u.to_f64();
                }
            }
            let k = coefficients(min, max, k_min, k_max, sum_g, sum_gu);
            // Pass 2: du, through the transposed column interpolation into `tmp` (H, w), then
            // the transposed row interpolation into the map's gradient.
            let mut tmp = vec![T::ZERO; height * w];
            for (y, &row) in rows.iter().enumerate() {
                let tmp = &mut tmp[y * w..][..w];
                interpolate_rows(map, w, row, &mut line);
                for (x, &col) in cols.iter().enumerate() {
                    let u = sample_line(&line, col);
                    let mut du = k.a * grad[y * width + x];
                    if u == k.max {
                        du += k.b;
                    }
                    if u == k.min {
                        du += k.c;
                    }
                    tmp[col.i0] += du * (T::ONE - col.lambda);
                    tmp[col.i1] += du * col.lambda;
                }
            }
            for (y, &row) in rows.iter().enumerate() {
                let tmp = &tmp[y * w..][..w];
                for (j, &t) in tmp.iter().enumerate() {
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
