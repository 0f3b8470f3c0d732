//! Max pooling with PyTorch's semantics (padding counts as `-inf`, floor
//! output size, the *first* maximum of a window wins, NaN propagates), with
//! the argmax kept from the forward pass for the backward pass; and global
//! average pooling.

use std::sync::{Arc, Mutex};

use candle::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::element::{cpu_slice, dispatch_float, to_storage, to_tensor, with_data, zeros, Float};
use crate::error::{config_error, shape_error, Result};
use crate::switch::use_fast;

const OP: &str = "max_pool2d";

/// Window, stride and `-inf` padding of a square max pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPoolConfig {
    /// Side of the window.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding on every side (at most half the window, as PyTorch).
    pub padding: usize,
}

impl MaxPoolConfig {
    /// ResNet's stem pool: 3x3, stride 2, padding 1.
    pub const STEM: MaxPoolConfig = MaxPoolConfig {
        kernel: 3,
        stride: 2,
        padding: 1,
    };

    /// Output size `(H_out, W_out)` for an input `(N, C, H, W)`.
    pub fn output_dims(&self, dims: &[usize]) -> Result<(usize, usize)> {
        let &[_, _, h, w] = dims else {
            return Err(shape_error(OP, "input", "(N, C, H, W)", dims));
        };
        if self.kernel == 0 || self.stride == 0 {
            return Err(config_error(
                OP,
                format!(
                    "kernel {} and stride {} must be positive",
                    self.kernel, self.stride
                ),
            ));
        }
        if 2 * self.padding > self.kernel {
            return Err(config_error(
                OP,
                format!(
                    "padding {} must be at most half the kernel size {}",
                    self.padding, self.kernel
                ),
            ));
        }
        let out = |len: usize| {
            let padded = len + 2 * self.padding;
            (padded >= self.kernel).then(|| (padded - self.kernel) / self.stride + 1)
        };
        match (out(h), out(w)) {
            (Some(oh), Some(ow)) => Ok((oh, ow)),
            _ => Err(shape_error(
                OP,
                "input",
                format!("(N, C, H, W) with H, W + 2 padding >= {}", self.kernel),
                dims,
            )),
        }
    }
}

/// One plane's forward pass: maxima into `out`, their plane indices into `arg`.
#[allow(clippy::too_many_arguments)]
fn pool_plane<T: Float>(
    x: &[T],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    cfg: MaxPoolConfig,
    out: &mut [T],
    arg: &mut [u32],
) {
    let (k, s, p) = (
        cfg.kernel as isize,
        cfg.stride as isize,
        cfg.padding as isize,
    );
    for oy in 0..oh {
        let y0 = oy as isize * s - p;
        let y1 = (y0 + k).min(h as isize) as usize;
        let y0 = y0.max(0) as usize;
        for ox in 0..ow {
            let x0 = ox as isize * s - p;
            let x1 = (x0 + k).min(w as isize) as usize;
            let x0 = x0.max(0) as usize;
            let mut best = T::NEG_INFINITY;
            let mut best_idx = y0 * w + x0;
            'window: for yy in y0..y1 {
                let row = &x[yy * w..yy * w + w];
                for (xx, &v) in row.iter().enumerate().take(x1).skip(x0) {
                    if v > best || v.is_nan() {
                        best = v;
                        best_idx = yy * w + xx;
                        if v.is_nan() {
                            break 'window;
                        }
                    }
                }
            }
            out[oy * ow + ox] = best;
            arg[oy * ow + ox] = best_idx as u32;
        }
    }
}

/// The custom op `x -> y`, keeping the argmax for the backward pass.
#[derive(Debug)]
struct MaxPoolOp {
    cfg: MaxPoolConfig,
    argmax: Arc<Mutex<Option<Vec<u32>>>>,
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "eader-max-pool2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let (oh, ow) = self.cfg.output_dims(layout.dims())?;
        let name = self.name();
        let (planes, in_len, out_len) = (n * c, h * w, oh * ow);
        let mut arg = vec![0u32; planes * out_len];
        let out = dispatch_float!(storage.dtype(), name, T => {
            let x = cpu_slice::<T>(storage, layout, name)?;
            let mut y = zeros::<T>(planes * out_len);
            if out_len > 0 && in_len > 0 {
                y.par_chunks_mut(out_len)
                    .zip(arg.par_chunks_mut(out_len))
                    .zip(x.par_chunks(in_len))
                    .for_each(|((o, a), xp)| pool_plane(xp, (h, w), (oh, ow), self.cfg, o, a));
            }
            Ok(to_storage(y))
        })?;
        *self.argmax.lock().unwrap_or_else(|e| e.into_inner()) = Some(arg);
        Ok((out, Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle::Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let (n, c, h, w) = x.dims4()?;
        let (_, _, oh, ow) = dy.dims4()?;
        let guard = self.argmax.lock().unwrap_or_else(|e| e.into_inner());
        let Some(arg) = guard.as_ref() else {
            candle::bail!("eader-max-pool2d: backward before forward");
        };
        let name = "eader-max-pool2d-backward";
        let (in_len, out_len) = (h * w, oh * ow);
        let dx = dispatch_float!(dy.dtype(), name, T => {
            with_data::<T, _>(dy, name, |g| {
                let mut dx = zeros::<T>(n * c * in_len);
                if out_len > 0 && in_len > 0 {
                    dx.par_chunks_mut(in_len)
                        .zip(g.par_chunks(out_len))
                        .zip(arg.par_chunks(out_len))
                        .for_each(|((d, gp), ap)| {
                            for (&gv, &i) in gp.iter().zip(ap) {
                                d[i as usize] += gv;
                            }
                        });
                }
                to_tensor(dx, (n, c, h, w))
            })
        })?;
        Ok(Some(dx))
    }
}

/// Max pooling of `x (N, C, H, W)` to `(N, C, H_out, W_out)`, `H_out = (H + 2
/// padding - kernel) / stride + 1`, with PyTorch's `max_pool2d` semantics: a
/// tie sends the whole gradient to the first maximum in row-major order.
pub fn max_pool2d(x: &Tensor, cfg: MaxPoolConfig) -> Result<Tensor> {
    cfg.output_dims(x.dims())?;
    if !use_fast(x) {
        return max_pool2d_ref(x, cfg);
    }
    let op = MaxPoolOp {
        cfg,
        argmax: Arc::new(Mutex::new(None)),
    };
    Ok(x.contiguous()?.apply_op1(op)?)
}

/// [`max_pool2d`] in candle's own ops: `-inf` padding by concatenation, the
/// `kernel^2` strided window taps stacked, and a max over them (the reference;
/// its backward splits the gradient of exact ties, which random inputs do not
/// have).
pub fn max_pool2d_ref(x: &Tensor, cfg: MaxPoolConfig) -> Result<Tensor> {
    let (oh, ow) = cfg.output_dims(x.dims())?;
    let (n, c, h, w) = x.dims4()?;
    let p = cfg.padding;
    let xs = if p > 0 {
        let side = |rows: usize, cols: usize| -> Result<Tensor> {
            Ok(
                Tensor::full(f64::NEG_INFINITY, (n, c, rows, cols), x.device())?
                    .to_dtype(x.dtype())?,
            )
        };
        let xs = Tensor::cat(&[&side(h, p)?, x, &side(h, p)?], 3)?;
        Tensor::cat(&[&side(p, w + 2 * p)?, &xs, &side(p, w + 2 * p)?], 2)?
    } else {
        x.clone()
    };
    // Pad further so every strided tap can be taken as narrow + reshape.
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    let (need_h, need_w) = (
        (oh - 1) * cfg.stride + cfg.kernel,
        (ow - 1) * cfg.stride + cfg.kernel,
    );
    let xs = xs
        .narrow(2, 0, need_h.min(hp))?
        .narrow(3, 0, need_w.min(wp))?;
    let s = cfg.stride;
    let mut taps = Vec::with_capacity(cfg.kernel * cfg.kernel);
    for i in 0..cfg.kernel {
        for j in 0..cfg.kernel {
            // Rows i, i + s, ..., i + (oh - 1) s and likewise columns.
            let rows = xs.narrow(2, i, (oh - 1) * s + 1)?;
            let rows = if s > 1 {
                rows.pad_with_zeros(2, 0, s - 1)?
                    .reshape((n, c, oh, s, ()))?
                    .narrow(3, 0, 1)?
                    .squeeze(3)?
            } else {
                rows
            };
            let tap = rows.narrow(3, j, (ow - 1) * s + 1)?;
            let tap = if s > 1 {
                tap.pad_with_zeros(3, 0, s - 1)?
                    .reshape((n, c, oh, ow, s))?
                    .narrow(4, 0, 1)?
                    .squeeze(4)?
            } else {
                tap
            };
            taps.push(tap);
        }
    }
    Ok(Tensor::stack(&taps, 4)?.max(4)?)
}

/// The custom op `x (N, C, H, W) -> (N, C)`.
#[derive(Debug, Clone, Copy)]
struct GlobalAvgPoolOp;

impl CustomOp1 for GlobalAvgPoolOp {
    fn name(&self) -> &'static str {
        "eader-global-avg-pool"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let hw = h * w;
        let name = self.name();
        let out = dispatch_float!(storage.dtype(), name, T => {
            let x = cpu_slice::<T>(storage, layout, name)?;
            let y: Vec<T> = (0..n * c)
                .into_par_iter()
                .map(|i| {
                    let s: f64 = x[i * hw..(i + 1) * hw].iter().map(|v| v.to_f64()).sum();
                    T::from_f64(s / hw as f64)
                })
                .collect();
            Ok(to_storage(y))
        })?;
        Ok((out, Shape::from((n, c))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle::Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        let (n, c, h, w) = x.dims4()?;
        let hw = h * w;
        let name = "eader-global-avg-pool-backward";
        let dx = dispatch_float!(dy.dtype(), name, T => {
            with_data::<T, _>(dy, name, |g| {
                let mut dx = zeros::<T>(n * c * hw);
                let scale = T::from_f64(1.0 / hw as f64);
                dx.par_chunks_mut(hw.max(1)).zip(g.par_iter()).for_each(|(d, &gv)| d.fill(gv * scale));
                to_tensor(dx, (n, c, h, w))
            })
        })?;
        Ok(Some(dx))
    }
}

/// Global average pooling `(N, C, H, W) -> (N, C)`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() != 4 || dims[2] * dims[3] == 0 {
        return Err(shape_error(
            "global_avg_pool",
            "input",
            "(N, C, H, W) with H, W > 0",
            dims,
        ));
    }
    if !use_fast(x) {
        return global_avg_pool_ref(x);
    }
    Ok(x.contiguous()?.apply_op1(GlobalAvgPoolOp)?)
}

/// [`global_avg_pool`] in candle's own ops (the reference).
pub fn global_avg_pool_ref(x: &Tensor) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    Ok(x.reshape((n, c, ()))?.mean(2)?)
}
