//! Padded, strided 2D max-pooling with PyTorch's semantics, forward and backward.
//!
//! candle's `max_pool2d_with_stride` has no padding and no backward when the
//! stride differs from the kernel size; ResNet's stem (3x3, stride 2, padding 1)
//! and LargeFOV's pools need both. The CPU kernel follows PyTorch's
//! `max_pool2d` exactly: padding counts as `-inf`, the output size is
//! `floor((H + 2p - k) / s) + 1` (`ceil_mode=False`), and within a window the
//! *first* maximum in row-major order wins (a later equal value does not
//! replace it; NaN does), so a tie sends the whole gradient to one input, as
//! PyTorch's backward does.

use candle::backend::BackendStorage;
use candle::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::{bad_input, Result};

/// Kernel size, stride and padding of a square pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dConfig {
    /// Side of the window.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Implicit `-inf` padding on every side.
    pub padding: usize,
}

impl Pool2dConfig {
    /// ResNet's stem pool: 3x3, stride 2, padding 1.
    pub const STEM: Pool2dConfig = Pool2dConfig {
        kernel: 3,
        stride: 2,
        padding: 1,
    };

    /// Output side for an input side, or `None` when the window does not fit.
    pub fn output_size(&self, input: usize) -> Option<usize> {
        let padded = input + 2 * self.padding;
        if self.stride == 0 || padded < self.kernel {
            return None;
        }
        Some((padded - self.kernel) / self.stride + 1)
    }

    fn check(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        if self.kernel == 0 || self.stride == 0 {
            return Err(bad_input(
                "max_pool2d",
                format!(
                    "kernel {} and stride {} must be positive",
                    self.kernel, self.stride
                ),
            ));
        }
        if 2 * self.padding > self.kernel {
            return Err(bad_input(
                "max_pool2d",
                format!(
                    "padding {} must be at most half the kernel size {} (as in PyTorch)",
                    self.padding, self.kernel
                ),
            ));
        }
        match (self.output_size(h), self.output_size(w)) {
            (Some(oh), Some(ow)) => Ok((oh, ow)),
            _ => Err(bad_input(
                "max_pool2d",
                format!(
                    "input {h}x{w} is smaller than the {}x{} window",
                    self.kernel, self.kernel
                ),
            )),
        }
    }
}

/// Floats the kernels run on.
trait PoolFloat: Copy + PartialOrd + Send + Sync + std::ops::AddAssign + Default {
    const NEG_INF: Self;
    fn nan(self) -> bool;
}

impl PoolFloat for f32 {
    const NEG_INF: Self = f32::NEG_INFINITY;
    fn nan(self) -> bool {
        self.is_nan()
    }
}

impl PoolFloat for f64 {
    const NEG_INF: Self = f64::NEG_INFINITY;
    fn nan(self) -> bool {
        self.is_nan()
    }
}

/// Index (within the plane) of the window's maximum, PyTorch's rule.
#[inline]
fn argmax_window<T: PoolFloat>(
    plane: &[T],
    w: usize,
    h: usize,
    oy: usize,
    ox: usize,
    cfg: Pool2dConfig,
) -> (usize, T) {
    let y0 = (oy * cfg.stride) as isize - cfg.padding as isize;
    let x0 = (ox * cfg.stride) as isize - cfg.padding as isize;
    let y1 = (y0 + cfg.kernel as isize).min(h as isize);
    let x1 = (x0 + cfg.kernel as isize).min(w as isize);
    let y0 = y0.max(0) as usize;
    let x0 = x0.max(0) as usize;
    let mut best_idx = y0 * w + x0;
    let mut best = T::NEG_INF;
    for y in y0..y1 as usize {
        for x in x0..x1 as usize {
            let v = plane[y * w + x];
            if v > best || v.nan() {
                best = v;
                best_idx = y * w + x;
                if v.nan() {
                    return (best_idx, best);
                }
            }
        }
    }
    (best_idx, best)
}

fn fwd_kernel<T: PoolFloat>(
    input: &[T],
    planes: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    cfg: Pool2dConfig,
) -> Vec<T> {
    let mut out = vec![T::default(); planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(input.par_chunks(h * w))
        .for_each(|(dst, plane)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    dst[oy * ow + ox] = argmax_window(plane, w, h, oy, ox, cfg).1;
                }
            }
        });
    out
}

fn bwd_kernel<T: PoolFloat>(
    input: &[T],
    grad: &[T],
    planes: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    cfg: Pool2dConfig,
) -> Vec<T> {
    let mut out = vec![T::default(); planes * h * w];
    out.par_chunks_mut(h * w)
        .zip(input.par_chunks(h * w))
        .zip(grad.par_chunks(oh * ow))
        .for_each(|((dst, plane), g)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (idx, _) = argmax_window(plane, w, h, oy, ox, cfg);
                    dst[idx] += g[oy * ow + ox];
                }
            }
        });
    out
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> candle::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle::bail!("{op}: the input must be contiguous"),
    }
}

struct MaxPool2d(Pool2dConfig);

impl CustomOp1 for MaxPool2d {
    fn name(&self) -> &'static str {
        "eader-max-pool2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let (oh, ow) = self.0.check(h, w).map_err(candle::Error::wrap)?;
        let shape = Shape::from((n, c, oh, ow));
        let out = match storage {
            CpuStorage::F32(data) => CpuStorage::F32(fwd_kernel(
                contiguous(data, layout, self.name())?,
                n * c,
                (h, w),
                (oh, ow),
                self.0,
            )),
            CpuStorage::F64(data) => CpuStorage::F64(fwd_kernel(
                contiguous(data, layout, self.name())?,
                n * c,
                (h, w),
                (oh, ow),
                self.0,
            )),
            other => candle::bail!("{}: unsupported dtype {:?}", self.name(), other.dtype()),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle::Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(
            arg.apply_op2_no_bwd(&grad, &MaxPool2dBackward(self.0))?,
        ))
    }
}

/// The backward of [`MaxPool2d`]: `(input, grad_output) -> grad_input`.
struct MaxPool2dBackward(Pool2dConfig);

impl CustomOp2 for MaxPool2dBackward {
    fn name(&self) -> &'static str {
        "eader-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let (oh, ow) = self.0.check(h, w).map_err(candle::Error::wrap)?;
        if l2.shape().dims() != [n, c, oh, ow] {
            candle::bail!(
                "{}: gradient shape {:?}, expected {:?}",
                self.name(),
                l2.shape(),
                (n, c, oh, ow)
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(bwd_kernel(
                contiguous(x, l1, self.name())?,
                contiguous(g, l2, self.name())?,
                n * c,
                (h, w),
                (oh, ow),
                self.0,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(bwd_kernel(
                contiguous(x, l1, self.name())?,
                contiguous(g, l2, self.name())?,
                n * c,
                (h, w),
                (oh, ow),
                self.0,
            )),
            (a, b) => candle::bail!(
                "{}: unsupported dtypes {:?} and {:?}",
                self.name(),
                a.dtype(),
                b.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// Max-pooling of `(N, C, H, W)` into `(N, C, H', W')` with `-inf` padding.
///
/// On the CPU this is a custom op with PyTorch's forward and backward (first
/// maximum wins ties). On other devices it falls back to [`max_pool2d_ref`],
/// whose backward splits the gradient among tied maxima instead.
pub fn max_pool2d(xs: &Tensor, cfg: Pool2dConfig) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    cfg.check(h, w)?;
    if xs.device().is_cpu() {
        Ok(xs.contiguous()?.apply_op1(MaxPool2d(cfg))?)
    } else {
        max_pool2d_ref(xs, cfg)
    }
}

/// The same pooling composed of candle ops (pad, `index_select`, `maximum`):
/// the reference the custom op is tested against, and the path for non-CPU
/// devices.
pub fn max_pool2d_ref(xs: &Tensor, cfg: Pool2dConfig) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let (oh, ow) = cfg.check(h, w)?;
    let p = cfg.padding;
    let xs = if p > 0 {
        let dev = xs.device();
        let dt = xs.dtype();
        let side = Tensor::full(f32::NEG_INFINITY, (n, c, h, p), dev)?.to_dtype(dt)?;
        let xs = Tensor::cat(&[&side, xs, &side], 3)?;
        let top = Tensor::full(f32::NEG_INFINITY, (n, c, p, w + 2 * p), dev)?.to_dtype(dt)?;
        Tensor::cat(&[&top, &xs, &top], 2)?
    } else {
        xs.clone()
    };
    let mut out: Option<Tensor> = None;
    for ky in 0..cfg.kernel {
        let rows: Vec<u32> = (0..oh).map(|o| (o * cfg.stride + ky) as u32).collect();
        let rows = Tensor::new(rows.as_slice(), xs.device())?;
        let picked_rows = xs.index_select(&rows, 2)?;
        for kx in 0..cfg.kernel {
            let cols: Vec<u32> = (0..ow).map(|o| (o * cfg.stride + kx) as u32).collect();
            let cols = Tensor::new(cols.as_slice(), xs.device())?;
            let window = picked_rows.index_select(&cols, 3)?;
            out = Some(match out {
                None => window,
                Some(acc) => acc.maximum(&window)?,
            });
        }
    }
    out.ok_or_else(|| bad_input("max_pool2d", "empty window"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::{DType, Device, Var};

    fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    const CONFIGS: [Pool2dConfig; 4] = [
        Pool2dConfig::STEM,
        Pool2dConfig {
            kernel: 2,
            stride: 2,
            padding: 0,
        },
        Pool2dConfig {
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        Pool2dConfig {
            kernel: 3,
            stride: 2,
            padding: 0,
        },
    ];

    #[test]
    fn forward_matches_reference() -> Result<()> {
        let dev = Device::Cpu;
        for (i, cfg) in CONFIGS.iter().enumerate() {
            for (h, w) in [(7, 7), (8, 5), (3, 4)] {
                let xs =
                    Tensor::from_vec(pseudo_random(2 * 3 * h * w, i as u64), (2, 3, h, w), &dev)?
                        .to_dtype(DType::F32)?;
                let fast = max_pool2d(&xs, *cfg)?;
                let slow = max_pool2d_ref(&xs, *cfg)?;
                assert_eq!(fast.dims(), slow.dims());
                let d = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert_eq!(d, 0.0, "{cfg:?} {h}x{w}");
            }
        }
        Ok(())
    }

    #[test]
    fn output_size_matches_pytorch() {
        // torch.nn.MaxPool2d(3, 2, 1)(torch.zeros(1, 1, 224, 224)).shape[-1] == 112
        assert_eq!(Pool2dConfig::STEM.output_size(224), Some(112));
        assert_eq!(Pool2dConfig::STEM.output_size(7), Some(4));
        assert_eq!(Pool2dConfig::STEM.output_size(1), Some(1));
    }

    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        for (i, cfg) in CONFIGS.iter().enumerate() {
            let (n, c, h, w) = (1, 2, 6, 5);
            // Distinct values: finite differences are exact away from ties.
            let data = pseudo_random(n * c * h * w, 10 + i as u64);
            let x = Var::from_vec(data.clone(), (n, c, h, w), &dev)?;
            let y = max_pool2d(x.as_tensor(), *cfg)?;
            let coef = Tensor::from_vec(pseudo_random(y.elem_count(), 99), y.shape(), &dev)?;
            let loss = (y * &coef)?.sum_all()?;
            let grads = loss.backward()?;
            let g = grads.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?;
            let eps = 1e-6;
            for k in 0..data.len() {
                let f = |delta: f64| -> Result<f64> {
                    let mut d = data.clone();
                    d[k] += delta;
                    let t = Tensor::from_vec(d, (n, c, h, w), &dev)?;
                    Ok((max_pool2d(&t, *cfg)? * &coef)?
                        .sum_all()?
                        .to_scalar::<f64>()?)
                };
                let fd = (f(eps)? - f(-eps)?) / (2.0 * eps);
                assert!(
                    (fd - g[k]).abs() < 1e-6,
                    "{cfg:?} elem {k}: fd {fd} vs {}",
                    g[k]
                );
            }
        }
        Ok(())
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum() -> Result<()> {
        // x = torch.zeros(1, 1, 4, 4, requires_grad=True)
        // torch.nn.functional.max_pool2d(x, 3, 2, 1).sum().backward()
        // x.grad.flatten().nonzero() == [0, 1, 4, 5]: the four windows (rows 0-1 | 1-3) x
        // (cols 0-1 | 1-3) each send their gradient to their top-left element.
        let dev = Device::Cpu;
        let x = Var::zeros((1, 1, 4, 4), DType::F32, &dev)?;
        let y = max_pool2d(x.as_tensor(), Pool2dConfig::STEM)?;
        let grads = y.sum_all()?.backward()?;
        let g = grads.get(&x).unwrap().flatten_all()?.to_vec1::<f32>()?;
        let mut expected = vec![0f32; 16];
        expected[0] = 1.0;
        expected[1] = 1.0;
        expected[4] = 1.0;
        expected[5] = 1.0;
        assert_eq!(g, expected);
        Ok(())
    }

    #[test]
    fn too_small_input_is_an_error() -> Result<()> {
        let xs = Tensor::zeros((1, 1, 1, 1), DType::F32, &Device::Cpu)?;
        let cfg = Pool2dConfig {
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        let err = max_pool2d(&xs, cfg).unwrap_err().to_string();
        assert!(err.contains("smaller than"), "{err}");
        Ok(())
    }
}
