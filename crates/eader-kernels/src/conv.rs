//! 2D convolution, forward and backward, as im2col + GEMM on the `gemm` crate.
//!
//! Layout is NCHW throughout. For each image, the forward pass is one GEMM
//! `Y (C_out x P) = W (C_out x K) * col (K x P)` with `K = C_in * kh * kw`
//! and `P = H_out * W_out`; `col` is the image unfolded by im2col into a
//! reused scratch buffer (a 1x1, stride-1, unpadded conv multiplies the image
//! itself). The input gradient is `dcol = W^T * dY` folded back by col2im;
//! the weight gradient is `dW = sum_n dY_n * col_n^T`, with small feature
//! maps of several images packed side by side so each GEMM has a long inner
//! dimension.
//!
//! Threading: with at least as many images as rayon threads, images run in
//! parallel with one single-threaded GEMM each (batch parallelism, the best
//! cache behaviour); with fewer images, one image at a time with a GEMM over
//! all threads and im2col/col2im split over channels (spatial parallelism).

use candle::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::element::{
    check_dtype, cpu_slice, dispatch_float, to_storage, to_tensor, with_data, zeros, Float,
};
use crate::error::{config_error, shape_error, Result};
use crate::gemm::{gemm, MatRef, Threads};
use crate::switch::use_fast;
use crate::workspace;

const OP: &str = "conv2d";

/// Stride, zero padding and dilation of a 2D convolution (the same along
/// height and width, one group), as PyTorch's `Conv2d` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Step between output positions (`>= 1`).
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
    /// Spacing between kernel taps (`>= 1`).
    pub dilation: usize,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: 1,
            padding: 0,
            dilation: 1,
        }
    }
}

/// Every size of one convolution call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride, padding, dilation.
    pub cfg: Conv2dConfig,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
}

impl ConvGeometry {
    /// Checks an input `(N, C_in, H, W)` against a kernel `(C_out, C_in, kh, kw)`.
    pub fn new(x_dims: &[usize], w_dims: &[usize], cfg: Conv2dConfig) -> Result<Self> {
        let &[n, c_in, h, w] = x_dims else {
            return Err(shape_error(OP, "input", "(N, C_in, H, W)", x_dims));
        };
        let &[c_out, c_in_w, kh, kw] = w_dims else {
            return Err(shape_error(OP, "weight", "(C_out, C_in, kh, kw)", w_dims));
        };
        if c_in_w != c_in {
            return Err(shape_error(
                OP,
                "weight",
                format!("(C_out, {c_in}, kh, kw)"),
                w_dims,
            ));
        }
        if cfg.stride == 0 || cfg.dilation == 0 {
            return Err(config_error(
                OP,
                format!(
                    "stride {} and dilation {} must be positive",
                    cfg.stride, cfg.dilation
                ),
            ));
        }
        if kh == 0 || kw == 0 || c_out == 0 || c_in == 0 {
            return Err(shape_error(
                OP,
                "weight",
                "non-empty (C_out, C_in, kh, kw)",
                w_dims,
            ));
        }
        let out = |len: usize, k: usize| {
            let span = cfg.dilation * (k - 1) + 1;
            let padded = len + 2 * cfg.padding;
            (padded >= span).then(|| (padded - span) / cfg.stride + 1)
        };
        let (Some(h_out), Some(w_out)) = (out(h, kh), out(w, kw)) else {
            return Err(shape_error(
                OP,
                "input",
                format!(
                    "(N, C, H, W) with H and W at least the dilated kernel {}x{} minus padding",
                    cfg.dilation * (kh - 1) + 1,
                    cfg.dilation * (kw - 1) + 1
                ),
                x_dims,
            ));
        };
        Ok(ConvGeometry {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            cfg,
            h_out,
            w_out,
        })
    }

    /// Rows of the im2col matrix: `C_in * kh * kw`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image: `H_out * W_out`.
    pub fn p(&self) -> usize {
        self.h_out * self.w_out
    }

    /// Floating-point operations of the forward pass (`2 N C_out K P`); the
    /// input and weight gradients cost the same each.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.k() * self.p()) as f64
    }

    /// The output shape `(N, C_out, H_out, W_out)`.
    pub fn out_dims(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c_out, self.h_out, self.w_out)
    }

    /// A 1x1, stride-1, unpadded convolution: a plain matrix product per image.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.cfg.stride == 1 && self.cfg.padding == 0
    }

    /// Whether to run images in parallel (else one by one, threads inside).
    fn per_image(&self) -> bool {
        let t = rayon::current_num_threads();
        t <= 1 || self.n >= t
    }
}

/// Output indices `o` with `0 <= o * s + d < len`, clamped to `0..out_len`.
#[inline]
fn valid_range(out_len: usize, len: usize, s: usize, d: isize) -> (usize, usize) {
    let lo = if d < 0 {
        ((-d) as usize).div_ceil(s)
    } else {
        0
    };
    let end = len as isize - d;
    let hi = if end <= 0 {
        0
    } else {
        (end as usize).div_ceil(s)
    };
    let hi = hi.min(out_len);
    (lo.min(hi), hi)
}

/// Unfolds one input channel `x_c (H, W)` into its `kh * kw` rows of the
/// im2col matrix: `col_c[r * ld + oh * W_out + ow]` for tap `r = i * kw + j`.
fn im2col_channel<T: Float>(g: &ConvGeometry, x_c: &[T], col_c: &mut [T], ld: usize) {
    let (s, pad, dil) = (g.cfg.stride, g.cfg.padding as isize, g.cfg.dilation);
    let (wo, ho) = (g.w_out, g.h_out);
    for i in 0..g.kh {
        let dh = (i * dil) as isize - pad;
        let (oh_lo, oh_hi) = valid_range(ho, g.h, s, dh);
        for j in 0..g.kw {
            let dw = (j * dil) as isize - pad;
            let (ow_lo, ow_hi) = valid_range(wo, g.w, s, dw);
            let r = i * g.kw + j;
            let row = &mut col_c[r * ld..r * ld + ho * wo];
            row[..oh_lo * wo].fill(T::ZERO);
            row[oh_hi * wo..].fill(T::ZERO);
            for oh in oh_lo..oh_hi {
                let ih = (oh * s) as isize + dh;
                let x_row = &x_c[ih as usize * g.w..(ih as usize + 1) * g.w];
                let out = &mut row[oh * wo..(oh + 1) * wo];
                out[..ow_lo].fill(T::ZERO);
                out[ow_hi..].fill(T::ZERO);
                if ow_lo < ow_hi {
                    let iw0 = ((ow_lo * s) as isize + dw) as usize;
                    if s == 1 {
                        out[ow_lo..ow_hi].copy_from_slice(&x_row[iw0..iw0 + (ow_hi - ow_lo)]);
                    } else {
                        for (k, o) in out[ow_lo..ow_hi].iter_mut().enumerate() {
                            *o = x_row[iw0 + k * s];
                        }
                    }
                }
            }
        }
    }
}

/// Adds one channel's `kh * kw` im2col rows back into `dx_c (H, W)`.
fn col2im_channel<T: Float>(g: &ConvGeometry, col_c: &[T], dx_c: &mut [T], ld: usize) {
    let (s, pad, dil) = (g.cfg.stride, g.cfg.padding as isize, g.cfg.dilation);
    let (wo, ho) = (g.w_out, g.h_out);
    for i in 0..g.kh {
        let dh = (i * dil) as isize - pad;
        let (oh_lo, oh_hi) = valid_range(ho, g.h, s, dh);
        for j in 0..g.kw {
            let dw = (j * dil) as isize - pad;
            let (ow_lo, ow_hi) = valid_range(wo, g.w, s, dw);
            if ow_lo >= ow_hi {
                continue;
            }
            let r = i * g.kw + j;
            let row = &col_c[r * ld..r * ld + ho * wo];
            for oh in oh_lo..oh_hi {
                let ih = (oh * s) as isize + dh;
                let dx_row = &mut dx_c[ih as usize * g.w..(ih as usize + 1) * g.w];
                let src = &row[oh * wo + ow_lo..oh * wo + ow_hi];
                let iw0 = ((ow_lo * s) as isize + dw) as usize;
                if s == 1 {
                    for (d, &v) in dx_row[iw0..iw0 + src.len()].iter_mut().zip(src) {
                        *d += v;
                    }
                } else {
                    for (k, &v) in src.iter().enumerate() {
                        dx_row[iw0 + k * s] += v;
                    }
                }
            }
        }
    }
}

/// im2col of one image `x_img (C_in, H, W)` into `col (K x P)` with row stride `ld`.
fn im2col<T: Float>(g: &ConvGeometry, x_img: &[T], col: &mut [T], ld: usize, threads: Threads) {
    let taps = g.kh * g.kw;
    let hw = g.h * g.w;
    let block = taps * ld;
    match threads {
        Threads::One => {
            for (ci, col_c) in col.chunks_mut(block).take(g.c_in).enumerate() {
                im2col_channel(g, &x_img[ci * hw..(ci + 1) * hw], col_c, ld);
            }
        }
        Threads::All => {
            col.par_chunks_mut(block)
                .take(g.c_in)
                .zip(x_img.par_chunks(hw))
                .for_each(|(col_c, x_c)| im2col_channel(g, x_c, col_c, ld));
        }
    }
}

/// col2im of `col (K x P)` (row stride `ld`) added into `dx_img (C_in, H, W)`.
fn col2im<T: Float>(g: &ConvGeometry, col: &[T], dx_img: &mut [T], ld: usize, threads: Threads) {
    let taps = g.kh * g.kw;
    let hw = g.h * g.w;
    let block = taps * ld;
    match threads {
        Threads::One => {
            for (ci, dx_c) in dx_img.chunks_mut(hw).enumerate() {
                col2im_channel(g, &col[ci * block..], dx_c, ld);
            }
        }
        Threads::All => {
            dx_img
                .par_chunks_mut(hw)
                .zip(col.par_chunks(block))
                .for_each(|(dx_c, col_c)| col2im_channel(g, col_c, dx_c, ld));
        }
    }
}

/// Forward: `y (N, C_out, H_out, W_out)` from `x (N, C_in, H, W)`, `w (C_out, K)`
/// and an optional `bias (C_out)`.
pub(crate) fn forward<T: Float>(g: &ConvGeometry, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (k, p) = (g.k(), g.p());
    let mut y = zeros::<T>(g.n * g.c_out * p);
    let one_image = |x_img: &[T], y_img: &mut [T], threads: Threads| {
        if let Some(b) = bias {
            for (row, &bv) in y_img.chunks_mut(p).zip(b) {
                row.fill(bv);
            }
        }
        let accumulate = bias.is_some();
        let a = MatRef::rows(w, k);
        if g.pointwise() {
            gemm(
                g.c_out,
                p,
                k,
                y_img,
                p,
                accumulate,
                a,
                MatRef::rows(x_img, p),
                threads,
            );
        } else {
            let mut col = workspace::take::<T>(k * p);
            im2col(g, x_img, &mut col, p, threads);
            gemm(
                g.c_out,
                p,
                k,
                y_img,
                p,
                accumulate,
                a,
                MatRef::rows(&col, p),
                threads,
            );
        }
    };
    let in_len = g.c_in * g.h * g.w;
    if g.per_image() {
        y.par_chunks_mut(g.c_out * p)
            .zip(x.par_chunks(in_len))
            .for_each(|(y_img, x_img)| one_image(x_img, y_img, Threads::One));
    } else {
        for (y_img, x_img) in y.chunks_mut(g.c_out * p).zip(x.chunks(in_len)) {
            one_image(x_img, y_img, Threads::All);
        }
    }
    y
}

/// Input gradient: `dx (N, C_in, H, W)` from `dy (N, C_out, H_out, W_out)` and `w`.
pub(crate) fn input_grad<T: Float>(g: &ConvGeometry, dy: &[T], w: &[T]) -> Vec<T> {
    let (k, p) = (g.k(), g.p());
    let in_len = g.c_in * g.h * g.w;
    let mut dx = zeros::<T>(g.n * in_len);
    let wt = MatRef::transposed(w, k);
    let one_image = |dy_img: &[T], dx_img: &mut [T], threads: Threads| {
        if g.pointwise() {
            gemm(
                k,
                p,
                g.c_out,
                dx_img,
                p,
                false,
                wt,
                MatRef::rows(dy_img, p),
                threads,
            );
        } else {
            let mut col = workspace::take::<T>(k * p);
            gemm(
                k,
                p,
                g.c_out,
                &mut col,
                p,
                false,
                wt,
                MatRef::rows(dy_img, p),
                threads,
            );
            col2im(g, &col, dx_img, p, threads);
        }
    };
    if g.per_image() {
        dx.par_chunks_mut(in_len)
            .zip(dy.par_chunks(g.c_out * p))
            .for_each(|(dx_img, dy_img)| one_image(dy_img, dx_img, Threads::One));
    } else {
        for (dx_img, dy_img) in dx.chunks_mut(in_len).zip(dy.chunks(g.c_out * p)) {
            one_image(dy_img, dx_img, Threads::All);
        }
    }
    dx
}

/// Columns per weight-gradient GEMM below which images are packed together.
const PACK_COLUMNS: usize = 1024;

/// Adds `sum over images of dY_n * col_n^T` for `images` (a range of the batch) into
/// `dw (C_out x K)`; the first product overwrites `dw` unless `accumulate`.
fn weight_grad_images<T: Float>(
    g: &ConvGeometry,
    x: &[T],
    dy: &[T],
    images: std::ops::Range<usize>,
    dw: &mut [T],
    mut accumulate: bool,
    threads: Threads,
) {
    let (k, p) = (g.k(), g.p());
    let in_len = g.c_in * g.h * g.w;
    let out_len = g.c_out * p;
    let pack = (PACK_COLUMNS / p).clamp(1, images.len().max(1));
    let mut start = images.start;
    while start < images.end {
        let group = pack.min(images.end - start);
        if group == 1 {
            let dy_img = &dy[start * out_len..(start + 1) * out_len];
            let x_img = &x[start * in_len..(start + 1) * in_len];
            let a = MatRef::rows(dy_img, p);
            if g.pointwise() {
                gemm(
                    g.c_out,
                    k,
                    p,
                    dw,
                    k,
                    accumulate,
                    a,
                    MatRef::transposed(x_img, p),
                    threads,
                );
            } else {
                let mut col = workspace::take::<T>(k * p);
                im2col(g, x_img, &mut col, p, threads);
                gemm(
                    g.c_out,
                    k,
                    p,
                    dw,
                    k,
                    accumulate,
                    a,
                    MatRef::transposed(&col, p),
                    threads,
                );
            }
        } else {
            // Pack `group` images side by side: col (K x group*P), dY (C_out x group*P).
            let ld = group * p;
            let mut col = workspace::take::<T>(k * ld);
            let mut dyp = workspace::take::<T>(g.c_out * ld);
            for i in 0..group {
                let n = start + i;
                let x_img = &x[n * in_len..(n + 1) * in_len];
                im2col(g, x_img, &mut col[i * p..], ld, Threads::One);
                let dy_img = &dy[n * out_len..(n + 1) * out_len];
                for (co, src) in dy_img.chunks(p).enumerate() {
                    dyp[co * ld + i * p..co * ld + (i + 1) * p].copy_from_slice(src);
                }
            }
            let a = MatRef::rows(&dyp, ld);
            gemm(
                g.c_out,
                k,
                ld,
                dw,
                k,
                accumulate,
                a,
                MatRef::transposed(&col, ld),
                threads,
            );
        }
        accumulate = true;
        start += group;
    }
}

/// Weight gradient: `dw (C_out, C_in, kh, kw)` from `dy` and `x`.
pub(crate) fn weight_grad<T: Float>(g: &ConvGeometry, x: &[T], dy: &[T]) -> Vec<T> {
    let k = g.k();
    let mut dw = zeros::<T>(g.c_out * k);
    if g.n == 0 {
        return dw;
    }
    if !g.per_image() {
        weight_grad_images(g, x, dy, 0..g.n, &mut dw, false, Threads::All);
        return dw;
    }
    // One contiguous range of images per thread, each with its own partial sum.
    let t = rayon::current_num_threads().min(g.n);
    let bounds: Vec<_> = (0..t).map(|i| (i * g.n / t)..((i + 1) * g.n / t)).collect();
    let mut partials: Vec<workspace::Scratch<T>> =
        (1..t).map(|_| workspace::take::<T>(g.c_out * k)).collect();
    let (first, rest) = bounds.split_at(1);
    rayon::join(
        || weight_grad_images(g, x, dy, first[0].clone(), &mut dw, false, Threads::One),
        || {
            partials
                .par_iter_mut()
                .zip(rest.par_iter())
                .for_each(|(part, range)| {
                    weight_grad_images(g, x, dy, range.clone(), part, false, Threads::One)
                });
        },
    );
    // Sum the partials into `dw`, in parallel over rows.
    let row = k;
    dw.par_chunks_mut(row).enumerate().for_each(|(co, dst)| {
        for part in &partials {
            for (d, &s) in dst.iter_mut().zip(&part[co * row..(co + 1) * row]) {
                *d += s;
            }
        }
    });
    dw
}

/// Bias gradient: `db (C_out)`, the sum of `dy` over batch and positions.
pub(crate) fn bias_grad<T: Float>(g: &ConvGeometry, dy: &[T]) -> Vec<T> {
    let p = g.p();
    (0..g.c_out)
        .into_par_iter()
        .map(|co| {
            let mut acc = 0f64;
            for n in 0..g.n {
                let start = (n * g.c_out + co) * p;
                acc += dy[start..start + p].iter().map(|v| v.to_f64()).sum::<f64>();
            }
            T::from_f64(acc)
        })
        .collect()
}

/// The custom op: `(x, w)` or `(x, w, bias)` to `y`.
#[derive(Debug, Clone, Copy)]
struct Conv2dOp {
    cfg: Conv2dConfig,
}

impl Conv2dOp {
    fn run(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let g = ConvGeometry::new(x.1.dims(), w.1.dims(), self.cfg)?;
        let name = "eader-conv2d";
        let out = dispatch_float!(x.0.dtype(), name, T => {
            let xs = cpu_slice::<T>(x.0, x.1, name)?;
            let ws = cpu_slice::<T>(w.0, w.1, name)?;
            let bs = match b {
                Some((s, l)) => Some(cpu_slice::<T>(s, l, name)?),
                None => None,
            };
            Ok(to_storage(forward(&g, xs, ws, bs)))
        })?;
        Ok((out, Shape::from(g.out_dims())))
    }

    /// Gradients of `x` and `w` (each only if it is tracked).
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = ConvGeometry::new(x.dims(), w.dims(), self.cfg)?;
        let dx = if x.track_op() {
            Some(conv2d_input_grad(dy, w, &g)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(conv2d_weight_grad(dy, x, &g)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "eader-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        self.grads(x, w, dy)
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "eader-conv2d-bias"
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
        self.run((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self.grads(x, w, dy)?;
        let db = if b.track_op() {
            let g = ConvGeometry::new(x.dims(), w.dims(), self.cfg)?;
            Some(dispatch_float!(dy.dtype(), "eader-conv2d-bias", T => {
                with_data::<T, _>(dy, "eader-conv2d-bias", |d| to_tensor(bias_grad(&g, d), g.c_out))
            })?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// Gradient of a convolution with respect to its input, `(N, C_in, H, W)`,
/// from the output gradient `dy (N, C_out, H_out, W_out)` and the kernel `w`.
pub fn conv2d_input_grad(dy: &Tensor, w: &Tensor, g: &ConvGeometry) -> candle::Result<Tensor> {
    let name = "eader-conv2d-input-grad";
    check_out_grad(dy, g)?;
    dispatch_float!(dy.dtype(), name, T => {
        with_data::<T, _>(dy, name, |d| {
            with_data::<T, _>(w, name, |ws| to_tensor(input_grad(g, d, ws), (g.n, g.c_in, g.h, g.w)))
        })
    })
}

/// Gradient of a convolution with respect to its kernel, `(C_out, C_in, kh, kw)`,
/// from the output gradient `dy (N, C_out, H_out, W_out)` and the input `x`.
pub fn conv2d_weight_grad(dy: &Tensor, x: &Tensor, g: &ConvGeometry) -> candle::Result<Tensor> {
    let name = "eader-conv2d-weight-grad";
    check_out_grad(dy, g)?;
    dispatch_float!(dy.dtype(), name, T => {
        with_data::<T, _>(dy, name, |d| {
            with_data::<T, _>(x, name, |xs| to_tensor(weight_grad(g, xs, d), (g.c_out, g.c_in, g.kh, g.kw)))
        })
    })
}

fn check_out_grad(dy: &Tensor, g: &ConvGeometry) -> candle::Result<()> {
    let (n, c, h, w) = g.out_dims();
    if dy.dims() != [n, c, h, w] {
        return Err(shape_error(
            OP,
            "output gradient",
            format!("({n}, {c}, {h}, {w})"),
            dy.dims(),
        )
        .into());
    }
    Ok(())
}

/// 2D convolution of `x (N, C_in, H, W)` with `weight (C_out, C_in, kh, kw)` and
/// an optional `bias (C_out,)`, giving `(N, C_out, H_out, W_out)` with
/// `H_out = (H + 2 padding - dilation (kh - 1) - 1) / stride + 1`.
///
/// Runs the fast kernel on CPU `f32`/`f64` tensors when the switch is on
/// ([`crate::fast_kernels_enabled`]), else [`conv2d_ref`]. Differentiable in all
/// three inputs.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cfg: Conv2dConfig,
) -> Result<Tensor> {
    let g = ConvGeometry::new(x.dims(), weight.dims(), cfg)?;
    check_dtype(OP, "weight", weight, x.dtype())?;
    if let Some(b) = bias {
        if b.dims() != [g.c_out] {
            return Err(shape_error(OP, "bias", format!("({},)", g.c_out), b.dims()));
        }
        check_dtype(OP, "bias", b, x.dtype())?;
    }
    if !use_fast(x) {
        return conv2d_ref(x, weight, bias, cfg);
    }
    let op = Conv2dOp { cfg };
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    Ok(match bias {
        Some(b) => x.apply_op3(&weight, &b.contiguous()?, op)?,
        None => x.apply_op2(&weight, op)?,
    })
}

/// [`conv2d`] in candle's own ops (the reference, and the path off the CPU).
pub fn conv2d_ref(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cfg: Conv2dConfig,
) -> Result<Tensor> {
    let ys = x.conv2d(weight, cfg.padding, cfg.stride, cfg.dilation, 1)?;
    Ok(match bias {
        Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
        None => ys,
    })
}
