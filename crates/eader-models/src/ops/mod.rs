//! The layers' compute, kept behind a few functions so that faster kernels
//! (eader-kernels on the CPU, next CUDA ones) plug in without touching the
//! architectures: [`conv2d`], [`batch_norm_train`], [`batch_norm_eval`],
//! [`max_pool2d`], [`global_avg_pool`], [`adaptive_avg_pool2d`], [`linear`].
//!
//! All functions take and return `(N, C, H, W)` tensors unless said otherwise
//! and are differentiable with candle's autograd.

use candle::{DType, Tensor};

pub use eader_kernels::MaxPoolConfig;

use crate::error::{bad_input, Result};

/// Stride, padding and dilation of a 2D convolution (square, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvConfig {
    /// Step between output positions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
}

impl Default for ConvConfig {
    fn default() -> Self {
        ConvConfig {
            stride: 1,
            padding: 0,
            dilation: 1,
        }
    }
}

/// 2D convolution of `(N, C_in, H, W)` with a `(C_out, C_in, k, k)` kernel and
/// an optional `(C_out,)` bias, giving `(N, C_out, H', W')`. On the CPU this is
/// `eader_kernels::conv2d` (im2col + GEMM, forward and backward); elsewhere, or
/// with the kernels switched off, candle's own conv.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    cfg: ConvConfig,
) -> Result<Tensor> {
    let cfg = eader_kernels::Conv2dConfig {
        stride: cfg.stride,
        padding: cfg.padding,
        dilation: cfg.dilation,
    };
    Ok(eader_kernels::conv2d(xs, weight, bias, cfg)?)
}

/// Max pooling of `(N, C, H, W)` with `-inf` padding and PyTorch's tie rule
/// (`eader_kernels::max_pool2d`: a custom op with forward and backward on the
/// CPU, candle's own ops elsewhere or with the kernels switched off).
pub fn max_pool2d(xs: &Tensor, cfg: MaxPoolConfig) -> Result<Tensor> {
    Ok(eader_kernels::max_pool2d(xs, cfg)?)
}

/// `x @ weight^T + bias` for `x: (N, C_in)`, `weight: (C_out, C_in)`,
/// `bias: (C_out,)`, giving `(N, C_out)`.
pub fn linear(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let ys = xs.matmul(&weight.t()?)?;
    match bias {
        None => Ok(ys),
        Some(b) => Ok(ys.broadcast_add(b)?),
    }
}

/// Batch normalisation in training mode, as PyTorch computes it: the batch
/// mean and *biased* variance over `(N, H, W)` normalise `(N, C, H, W)`, and
/// the gradient flows through both statistics; `relu` applies the ReLU that
/// follows in the same pass (`eader_kernels::batch_norm_train`).
///
/// Returns `(y, mean, var)` with `mean` and the biased `var` as detached `(C,)`
/// tensors, for the caller's running-statistics update.
pub fn batch_norm_train(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, _, h, w) = xs.dims4()?;
    if n * h * w < 2 {
        return Err(bad_input(
            "batch_norm",
            format!(
                "training needs more than one value per channel, got input {:?}",
                xs.dims()
            ),
        ));
    }
    let out = eader_kernels::batch_norm_train(
        xs,
        weight,
        bias,
        eader_kernels::BatchNormConfig { eps, relu },
    )?;
    Ok((out.ys, out.mean, out.var))
}

/// Batch normalisation in evaluation mode: `(x - running_mean) /
/// sqrt(running_var + eps) * weight + bias` per channel of `(N, C, H, W)`,
/// then ReLU if `relu`. The running statistics get no gradient.
pub fn batch_norm_eval(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    Ok(eader_kernels::batch_norm_eval(
        xs,
        weight,
        bias,
        running_mean,
        running_var,
        eader_kernels::BatchNormConfig { eps, relu },
    )?)
}

/// `relu(a + b)`, a residual block's join (`eader_kernels::add_relu`).
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(eader_kernels::add_relu(a, b)?)
}

/// Global average pooling `(N, C, H, W) -> (N, C)`.
pub fn global_avg_pool(xs: &Tensor) -> Result<Tensor> {
    Ok(eader_kernels::global_avg_pool(xs)?)
}

/// PyTorch's `adaptive_avg_pool2d`: `(N, C, H, W) -> (N, C, OH, OW)`, output
/// cell `i` averaging input rows `floor(i H / OH) .. ceil((i + 1) H / OH)`
/// (likewise for columns). Computed as one matmul with a pooling matrix, so
/// it is differentiable and works for up- and down-sampling alike.
pub fn adaptive_avg_pool2d(xs: &Tensor, (oh, ow): (usize, usize)) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    if (h, w) == (oh, ow) {
        return Ok(xs.clone());
    }
    if oh == 0 || ow == 0 {
        return Err(bad_input(
            "adaptive_avg_pool2d",
            "output size must be positive",
        ));
    }
    let ranges = |inp: usize, out: usize| -> Vec<(usize, usize)> {
        (0..out)
            .map(|i| ((i * inp) / out, ((i + 1) * inp).div_ceil(out)))
            .collect()
    };
    let rows = ranges(h, oh);
    let cols = ranges(w, ow);
    let mut matrix = vec![0f32; h * w * oh * ow];
    for (oy, &(y0, y1)) in rows.iter().enumerate() {
        for (ox, &(x0, x1)) in cols.iter().enumerate() {
            let weight = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
            for y in y0..y1 {
                for x in x0..x1 {
                    matrix[(y * w + x) * oh * ow + oy * ow + ox] = weight;
                }
            }
        }
    }
    let matrix = Tensor::from_vec(matrix, (h * w, oh * ow), xs.device())?.to_dtype(xs.dtype())?;
    Ok(xs
        .reshape((n * c, h * w))?
        .matmul(&matrix)?
        .reshape((n, c, oh, ow))?)
}

/// Inverted dropout in training mode (drop with probability `p`, scale the
/// rest by `1 / (1 - p)`); identity in evaluation mode or when `p == 0`.
pub fn dropout(xs: &Tensor, p: f32, train: bool) -> Result<Tensor> {
    if !train || p == 0.0 {
        return Ok(xs.clone());
    }
    Ok(candle_nn::ops::dropout(xs, p)?)
}

/// Checks that `xs` is a float `(N, 3, H, W)` image batch.
pub(crate) fn check_images(xs: &Tensor) -> Result<()> {
    let dims = xs.dims();
    if dims.len() != 4 || dims[1] != 3 {
        return Err(bad_input(
            "forward",
            format!("expected images (N, 3, H, W), got shape {dims:?}"),
        ));
    }
    if !matches!(
        xs.dtype(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16
    ) {
        return Err(bad_input(
            "forward",
            format!("expected float images, got dtype {:?}", xs.dtype()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::Device;

    #[test]
    fn adaptive_pool_matches_pytorch_ranges() -> Result<()> {
        // torch.nn.functional.adaptive_avg_pool2d(torch.arange(5.).view(1, 1, 1, 5), (1, 3))
        // == [[[[0.5, 2.0, 3.5]]]]
        let xs = Tensor::arange(0f32, 5.0, &Device::Cpu)?.reshape((1, 1, 1, 5))?;
        let ys = adaptive_avg_pool2d(&xs, (1, 3))?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(ys, vec![0.5, 2.0, 3.5]);
        // Upsampling 1x1 -> 2x2 replicates.
        let one = Tensor::new(&[[[[3f32]]]], &Device::Cpu)?;
        let up = adaptive_avg_pool2d(&one, (2, 2))?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(up, vec![3.0; 4]);
        Ok(())
    }

    #[test]
    fn batch_norm_train_normalises_each_channel() -> Result<()> {
        let dev = Device::Cpu;
        let xs = Tensor::arange(0f32, 24.0, &dev)?.reshape((2, 3, 2, 2))?;
        let ones = Tensor::ones(3, DType::F32, &dev)?;
        let zeros = Tensor::zeros(3, DType::F32, &dev)?;
        let (ys, mean, var) = batch_norm_train(&xs, &ones, &zeros, 0.0, false)?;
        // Channel 0 holds 0,1,2,3,12,13,14,15: mean 7.5, biased var 37.25.
        let mean = mean.to_vec1::<f32>()?;
        let var = var.to_vec1::<f32>()?;
        assert!((mean[0] - 7.5).abs() < 1e-6 && (var[0] - 37.25).abs() < 1e-4);
        let out_mean = ys.mean_all()?.to_scalar::<f32>()?;
        assert!(out_mean.abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn single_value_per_channel_is_an_error_in_training() -> Result<()> {
        let dev = Device::Cpu;
        let xs = Tensor::zeros((1, 2, 1, 1), DType::F32, &dev)?;
        let ones = Tensor::ones(2, DType::F32, &dev)?;
        let res = batch_norm_train(&xs, &ones, &ones, 1e-5, false);
        assert!(res.is_err());
        Ok(())
    }
}
