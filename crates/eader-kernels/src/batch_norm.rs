//! Batch normalisation over `(N, C, H, W)`, optionally fused with the ReLU
//! that follows it, in one custom op per direction.
//!
//! Training mode normalises with the batch mean and *biased* variance (as
//! PyTorch) and hands both back so the caller can move its running
//! statistics ([`update_running_stats`]: momentum, *unbiased* variance).
//! Each channel is processed by one task: the statistics pass reads the
//! channel once, the normalising pass reads it again from cache and writes
//! `y`. The backward pass likewise makes one reduction pass (`sum g`,
//! `sum g x_hat`) and one pass writing `dx`, per channel. Statistics are
//! accumulated in `f64` (shifted by the channel's first value, so a large
//! mean does not cancel the variance), so the fast kernel is at least as
//! accurate as the composed ops.

use std::sync::{Arc, Mutex};

use candle::{CpuStorage, CustomOp3, Layout, Shape, Tensor, Var};
use rayon::prelude::*;

use crate::element::{
    check_dtype, cpu_slice, dispatch_float, to_storage, to_tensor, with_data, zeros, Float,
};
use crate::error::{config_error, shape_error, Result};
use crate::switch::use_fast;
use crate::sync_ptr::SyncPtr;

const OP: &str = "batch_norm";

/// Options of a batch-norm call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root (PyTorch: `1e-5`).
    pub eps: f64,
    /// Apply `max(., 0)` to the output (the ReLU that follows most batch norms).
    pub relu: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            relu: false,
        }
    }
}

/// What a training-mode batch norm returns.
#[derive(Debug, Clone)]
pub struct BatchNormOutput {
    /// The normalised (and, with `relu`, rectified) `(N, C, H, W)` output.
    pub ys: Tensor,
    /// Batch mean per channel, `(C,)`, detached.
    pub mean: Tensor,
    /// Biased batch variance per channel, `(C,)`, detached.
    pub var: Tensor,
}

/// Sizes of one call: `n` images, `c` channels, `hw` positions per plane.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n: usize,
    c: usize,
    hw: usize,
}

impl Dims {
    fn of(dims: &[usize]) -> Result<Self> {
        match *dims {
            [n, c, h, w] => Ok(Dims { n, c, hw: h * w }),
            _ => Err(shape_error(OP, "input", "(N, C, H, W)", dims)),
        }
    }

    fn count(&self) -> usize {
        self.n * self.hw
    }

    /// The plane of image `i`, channel `ch` within a flat `(N, C, HW)` buffer.
    fn plane(&self, i: usize, ch: usize) -> std::ops::Range<usize> {
        let start = (i * self.c + ch) * self.hw;
        start..start + self.hw
    }
}

/// Lanes of the `f64` accumulators: independent sums that the compiler keeps
/// in vector registers (and that break the addition's dependency chain).
const LANES: usize = 8;

/// `(sum (x - shift), sum (x - shift)^2)` over a plane, in `f64`.
#[inline]
fn shifted_sums<T: Float>(plane: &[T], shift: f64) -> (f64, f64) {
    let mut s = [0f64; LANES];
    let mut q = [0f64; LANES];
    let (chunks, tail) = plane.as_chunks::<LANES>();
    for ch in chunks {
        for l in 0..LANES {
            let v = ch[l].to_f64() - shift;
            s[l] += v;
            q[l] += v * v;
        }
    }
    let (mut s1, mut q1) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    for &v in tail {
        let v = v.to_f64() - shift;
        s1 += v;
        q1 += v * v;
    }
    (s1, q1)
}

/// `g` where the ReLU passed it (`y > 0`), else 0; `g` itself without a ReLU.
#[inline(always)]
fn relu_grad<T: Float, const RELU: bool>(y: T, g: T) -> T {
    if !RELU || y > T::ZERO {
        g
    } else {
        T::ZERO
    }
}

/// `(sum g', sum g' (x - mean))` over a plane, with `g' = g [y > 0]` when `RELU`.
#[inline]
fn grad_sums<T: Float, const RELU: bool>(x: &[T], y: &[T], g: &[T], mean: f64) -> (f64, f64) {
    let mut s = [0f64; LANES];
    let mut q = [0f64; LANES];
    let (xc, xt) = x.as_chunks::<LANES>();
    let (yc, yt) = y.as_chunks::<LANES>();
    let (gc, gt) = g.as_chunks::<LANES>();
    for ((xs, ys), gs) in xc.iter().zip(yc).zip(gc) {
        for l in 0..LANES {
            let gv = relu_grad::<T, RELU>(ys[l], gs[l]).to_f64();
            s[l] += gv;
            q[l] += gv * (xs[l].to_f64() - mean);
        }
    }
    let (mut s1, mut q1) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    for ((&xv, &yv), &gv) in xt.iter().zip(yt).zip(gt) {
        let gv = relu_grad::<T, RELU>(yv, gv).to_f64();
        s1 += gv;
        q1 += gv * (xv.to_f64() - mean);
    }
    (s1, q1)
}

/// `dx = a g' + b (x - m) + c0` over a plane (`g'` as in [`grad_sums`]); `a g'`
/// alone when not `TRAIN` (fixed statistics).
#[inline]
fn dx_plane<T: Float, const RELU: bool, const TRAIN: bool>(
    out: &mut [T],
    x: &[T],
    y: &[T],
    g: &[T],
    (a, b, c0, m): (T, T, T, T),
) {
    for (((o, &xv), &yv), &gv) in out.iter_mut().zip(x).zip(y).zip(g) {
        let gv = relu_grad::<T, RELU>(yv, gv);
        *o = if TRAIN {
            a * gv + b * (xv - m) + c0
        } else {
            a * gv
        };
    }
}

/// `y = (x - mean) * scale + shift` (then ReLU) over a plane.
#[inline]
fn affine_plane<T: Float>(x: &[T], y: &mut [T], mean: T, scale: T, shift: T, relu: bool) {
    if relu {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = ((v - mean) * scale + shift).relu();
        }
    } else {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (v - mean) * scale + shift;
        }
    }
}

/// Per-channel statistics saved by the training forward pass for the backward pass.
#[derive(Debug, Clone, Default)]
struct Saved {
    mean: Vec<f64>,
    inv_std: Vec<f64>,
    var: Vec<f64>,
}

/// Training forward: fills `y`, returns mean, `1 / sqrt(var + eps)` and biased var.
fn forward_train<T: Float>(
    d: Dims,
    x: &[T],
    weight: &[T],
    bias: &[T],
    eps: f64,
    relu: bool,
) -> (Vec<T>, Saved) {
    let mut y = zeros::<T>(x.len());
    let y_ptr = SyncPtr::new(&mut y);
    let count = d.count() as f64;
    let stats: Vec<(f64, f64, f64)> = (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let shift = if d.count() > 0 {
                x[d.plane(0, ch).start].to_f64()
            } else {
                0.0
            };
            let (mut s, mut q) = (0.0, 0.0);
            for i in 0..d.n {
                let (s1, q1) = shifted_sums(&x[d.plane(i, ch)], shift);
                s += s1;
                q += q1;
            }
            let mean_shifted = s / count;
            let var = (q / count - mean_shifted * mean_shifted).max(0.0);
            let mean = shift + mean_shifted;
            let inv_std = 1.0 / (var + eps).sqrt();
            let scale = T::from_f64(weight[ch].to_f64() * inv_std);
            let (m, b) = (T::from_f64(mean), bias[ch]);
            for i in 0..d.n {
                let range = d.plane(i, ch);
                // SAFETY: each task writes the planes of its own channel only.
                let out = unsafe { y_ptr.slice(range.clone()) };
                affine_plane(&x[range], out, m, scale, b, relu);
            }
            (mean, inv_std, var)
        })
        .collect();
    let saved = Saved {
        mean: stats.iter().map(|s| s.0).collect(),
        inv_std: stats.iter().map(|s| s.1).collect(),
        var: stats.iter().map(|s| s.2).collect(),
    };
    (y, saved)
}

/// Eval forward: `y = (x - mean) inv_std weight + bias` (then ReLU).
fn forward_eval<T: Float>(
    d: Dims,
    x: &[T],
    weight: &[T],
    bias: &[T],
    saved: &Saved,
    relu: bool,
) -> Vec<T> {
    let mut y = zeros::<T>(x.len());
    let hw = d.hw.max(1);
    y.par_chunks_mut(hw)
        .zip(x.par_chunks(hw))
        .enumerate()
        .for_each(|(idx, (out, inp))| {
            let ch = idx % d.c;
            let scale = T::from_f64(weight[ch].to_f64() * saved.inv_std[ch]);
            affine_plane(inp, out, T::from_f64(saved.mean[ch]), scale, bias[ch], relu);
        });
    y
}

/// Backward. `train`: through the batch statistics; else with fixed statistics.
/// Returns `(dx, dweight, dbias)`.
#[allow(clippy::too_many_arguments)]
fn backward<T: Float>(
    d: Dims,
    x: &[T],
    y: &[T],
    g: &[T],
    weight: &[T],
    saved: &Saved,
    relu: bool,
    train: bool,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let mut dx = zeros::<T>(x.len());
    let dx_ptr = SyncPtr::new(&mut dx);
    let count = d.count() as f64;
    let sums: Vec<(f64, f64)> = (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let mean = saved.mean[ch];
            let inv_std = saved.inv_std[ch];
            let (mut sg, mut sgx) = (0.0, 0.0);
            for i in 0..d.n {
                let r = d.plane(i, ch);
                let (xs, ys, gs) = (&x[r.clone()], &y[r.clone()], &g[r]);
                let (a, b) = if relu {
                    grad_sums::<T, true>(xs, ys, gs, mean)
                } else {
                    grad_sums::<T, false>(xs, ys, gs, mean)
                };
                sg += a;
                sgx += b;
            }
            // dgamma = sum g' x_hat, dbeta = sum g'.
            let dgamma = sgx * inv_std;
            let k = weight[ch].to_f64() * inv_std;
            // train: dx = k (g' - sg / M - x_hat dgamma / M); eval: dx = k g'.
            // With x_hat = (x - mean) inv_std: dx = a g' + b (x - mean) + c0.
            let (a, b, c0) = if train {
                (k, -k * dgamma * inv_std / count, -k * sg / count)
            } else {
                (k, 0.0, 0.0)
            };
            let (a, b, c0, m) = (
                T::from_f64(a),
                T::from_f64(b),
                T::from_f64(c0),
                T::from_f64(mean),
            );
            for i in 0..d.n {
                let r = d.plane(i, ch);
                // SAFETY: each task writes the planes of its own channel only.
                let out = unsafe { dx_ptr.slice(r.clone()) };
                let (xs, ys, gs) = (&x[r.clone()], &y[r.clone()], &g[r]);
                let coefficients = (a, b, c0, m);
                match (relu, train) {
                    (true, true) => dx_plane::<T, true, true>(out, xs, ys, gs, coefficients),
                    (true, false) => dx_plane::<T, true, false>(out, xs, ys, gs, coefficients),
                    (false, true) => dx_plane::<T, false, true>(out, xs, ys, gs, coefficients),
                    (false, false) => dx_plane::<T, false, false>(out, xs, ys, gs, coefficients),
                }
            }
            (dgamma, sg)
        })
        .collect();
    let dweight = sums.iter().map(|s| T::from_f64(s.0)).collect();
    let dbias = sums.iter().map(|s| T::from_f64(s.1)).collect();
    (dx, dweight, dbias)
}

/// The custom op `(x, weight, bias) -> y`.
#[derive(Debug)]
struct BatchNormOp {
    cfg: BatchNormConfig,
    /// `None`: training (statistics computed and stored here); `Some`: eval.
    eval_stats: Option<Saved>,
    /// The training statistics, filled by the forward pass.
    saved: Arc<Mutex<Option<Saved>>>,
}

impl BatchNormOp {
    fn stats(&self) -> candle::Result<Saved> {
        if let Some(s) = &self.eval_stats {
            return Ok(s.clone());
        }
        let guard = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some(s) => Ok(s.clone()),
            None => candle::bail!("eader-batch-norm: backward before forward"),
        }
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "eader-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let d = Dims::of(l1.dims())?;
        let name = self.name();
        let out = dispatch_float!(s1.dtype(), name, T => {
            let x = cpu_slice::<T>(s1, l1, name)?;
            let w = cpu_slice::<T>(s2, l2, name)?;
            let b = cpu_slice::<T>(s3, l3, name)?;
            let y = match &self.eval_stats {
                Some(stats) => forward_eval(d, x, w, b, stats, self.cfg.relu),
                None => {
                    let (y, saved) = forward_train(d, x, w, b, self.cfg.eps, self.cfg.relu);
                    *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
                    y
                }
            };
            Ok(to_storage(y))
        })?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = Dims::of(x.dims())?;
        let stats = self.stats()?;
        let name = "eader-batch-norm-backward";
        let train = self.eval_stats.is_none();
        let (dx, dw, db) = dispatch_float!(x.dtype(), name, T => {
            with_data::<T, _>(x, name, |xs| {
                with_data::<T, _>(y, name, |ys| {
                    with_data::<T, _>(dy, name, |gs| {
                        with_data::<T, _>(weight, name, |ws| {
                            let (dx, dw, db) = backward(d, xs, ys, gs, ws, &stats, self.cfg.relu, train);
                            Ok((to_tensor(dx, x.shape())?, to_tensor(dw, d.c)?, to_tensor(db, d.c)?))
                        })
                    })
                })
            })
        })?;
        Ok((
            x.track_op().then_some(dx),
            weight.track_op().then_some(dw),
            bias.track_op().then_some(db),
        ))
    }
}

fn check_params(x: &Tensor, params: &[(&'static str, &Tensor)]) -> Result<Dims> {
    let d = Dims::of(x.dims())?;
    for &(what, t) in params {
        if t.dims() != [d.c] {
            return Err(shape_error(OP, what, format!("({},)", d.c), t.dims()));
        }
        check_dtype(OP, what, t, x.dtype())?;
    }
    Ok(d)
}

/// Training-mode batch norm of `x (N, C, H, W)` with per-channel `weight` and
/// `bias` `(C,)`: `y = (x - mean) / sqrt(var + eps) * weight + bias` with the
/// batch mean and biased variance over `(N, H, W)`, then ReLU if `cfg.relu`.
/// The gradient flows through the statistics. Needs more than one value per
/// channel (`N H W > 1`), as PyTorch.
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    cfg: BatchNormConfig,
) -> Result<BatchNormOutput> {
    let d = check_params(x, &[("weight", weight), ("bias", bias)])?;
    if d.count() < 2 {
        return Err(config_error(
            OP,
            format!(
                "training needs more than one value per channel, got input {:?}",
                x.dims()
            ),
        ));
    }
    if !use_fast(x) {
        return batch_norm_train_ref(x, weight, bias, cfg);
    }
    let saved = Arc::new(Mutex::new(None));
    let op = BatchNormOp {
        cfg,
        eval_stats: None,
        saved: saved.clone(),
    };
    let ys = x
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    let stats = saved
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| config_error(OP, "the kernel produced no statistics"))?;
    let dtype = x.dtype();
    let mean = Tensor::new(stats.mean.as_slice(), &candle::Device::Cpu)?.to_dtype(dtype)?;
    let var = Tensor::new(stats.var.as_slice(), &candle::Device::Cpu)?.to_dtype(dtype)?;
    Ok(BatchNormOutput { ys, mean, var })
}

/// Evaluation-mode batch norm of `x (N, C, H, W)`: `(x - running_mean) /
/// sqrt(running_var + eps) * weight + bias` per channel, then ReLU if
/// `cfg.relu`. The running statistics `(C,)` get no gradient.
pub fn batch_norm_eval(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    cfg: BatchNormConfig,
) -> Result<Tensor> {
    check_params(
        x,
        &[
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ],
    )?;
    if !use_fast(x) {
        return batch_norm_eval_ref(x, weight, bias, running_mean, running_var, cfg);
    }
    let mean = running_mean
        .to_dtype(candle::DType::F64)?
        .to_vec1::<f64>()?;
    let var = running_var.to_dtype(candle::DType::F64)?.to_vec1::<f64>()?;
    let inv_std = var.iter().map(|v| 1.0 / (v + cfg.eps).sqrt()).collect();
    let op = BatchNormOp {
        cfg,
        eval_stats: Some(Saved { mean, inv_std, var }),
        saved: Arc::new(Mutex::new(None)),
    };
    Ok(x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?)
}

/// Moves running statistics towards a batch's, as PyTorch's `BatchNorm2d`:
/// `running = (1 - momentum) running + momentum batch`, with the batch
/// variance made unbiased (`var * count / (count - 1)`, `count = N H W`).
pub fn update_running_stats(
    running_mean: &Var,
    running_var: &Var,
    out: &BatchNormOutput,
    count: usize,
    momentum: f64,
) -> Result<()> {
    if count < 2 {
        return Err(config_error(
            OP,
            format!("running statistics need count > 1, got {count}"),
        ));
    }
    let m = momentum;
    let unbias = count as f64 / (count as f64 - 1.0);
    let mean = ((running_mean.as_detached_tensor() * (1.0 - m))? + (out.mean.detach() * m)?)?;
    let var =
        ((running_var.as_detached_tensor() * (1.0 - m))? + (out.var.detach() * (m * unbias))?)?;
    running_mean.set(&mean.to_dtype(running_mean.dtype())?)?;
    running_var.set(&var.to_dtype(running_var.dtype())?)?;
    Ok(())
}

/// Per-channel sums over `N`, `H` and `W` of `(N, C, H, W)`, as `(1, C, 1, 1)`.
fn channel_sum(xs: &Tensor) -> Result<Tensor> {
    let (n, c, _, _) = xs.dims4()?;
    Ok(xs
        .reshape((n, c, ()))?
        .sum_keepdim(2)?
        .sum_keepdim(0)?
        .reshape((1, c, 1, 1))?)
}

/// [`batch_norm_train`] in candle's own ops (the reference).
pub fn batch_norm_train_ref(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    cfg: BatchNormConfig,
) -> Result<BatchNormOutput> {
    let (n, c, h, w) = x.dims4()?;
    let count = (n * h * w) as f64;
    let mean = (channel_sum(x)? / count)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = (channel_sum(&centered.sqr()?)? / count)?;
    let scale = (var.affine(1.0, cfg.eps)?.sqrt()?.recip()? * weight.reshape((1, c, 1, 1))?)?;
    let mut ys = centered
        .broadcast_mul(&scale)?
        .broadcast_add(&bias.reshape((1, c, 1, 1))?)?;
    if cfg.relu {
        ys = ys.relu()?;
    }
    Ok(BatchNormOutput {
        ys,
        mean: mean.flatten_all()?.detach(),
        var: var.flatten_all()?.detach(),
    })
}

/// [`batch_norm_eval`] in candle's own ops (the reference).
pub fn batch_norm_eval_ref(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    cfg: BatchNormConfig,
) -> Result<Tensor> {
    let (_, c, _, _) = x.dims4()?;
    let inv_std = running_var.detach().affine(1.0, cfg.eps)?.sqrt()?.recip()?;
    let scale = (inv_std * weight)?;
    let shift = (bias - (running_mean.detach() * &scale)?)?;
    let ys = x
        .broadcast_mul(&scale.reshape((1, c, 1, 1))?)?
        .broadcast_add(&shift.reshape((1, c, 1, 1))?)?;
    Ok(if cfg.relu { ys.relu()? } else { ys })
}
