//! Gradients against central finite differences in f64.

use candle::{DType, Device, Tensor};
use eader_kernels::*;

use crate::util::*;

/// Checks every input's gradient of `sum(f(inputs) * g)` against
/// `(L(x + e) - L(x - e)) / 2e`, element by element.
fn check(
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> candle::Result<Tensor>,
    what: &str,
) -> TestResult {
    let y = f(inputs)?;
    let g = randn(y.dims(), 99, DType::F64);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let (_, analytic) = grads(&refs, &g, &f)?;
    let loss =
        |ts: &[Tensor]| -> candle::Result<f64> { (f(ts)? * &g)?.sum_all()?.to_scalar::<f64>() };
    let eps = 1e-6;
    for (i, input) in inputs.iter().enumerate() {
        let base = data(input);
        let mut numeric = vec![0f64; base.len()];
        for j in 0..base.len() {
            let at = |delta: f64| -> candle::Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut ts = inputs.to_vec();
                ts[i] = Tensor::from_vec(v, input.dims(), &Device::Cpu)?;
                loss(&ts)
            };
            numeric[j] = (at(eps)? - at(-eps)?) / (2.0 * eps);
        }
        let numeric = Tensor::from_vec(numeric, input.dims(), &Device::Cpu)?;
        assert_close(
            &analytic[i],
            &numeric,
            1e-6,
            &format!("{what}: gradient of input {i}"),
        );
    }
    Ok(())
}

#[test]
fn conv_gradients() -> TestResult {
    let dt = DType::F64;
    for (xd, wd, cfg) in [
        (
            [2, 2, 5, 6],
            [3, 2, 3, 3],
            Conv2dConfig {
                stride: 1,
                padding: 1,
                dilation: 1,
            },
        ),
        (
            [1, 2, 7, 5],
            [2, 2, 3, 3],
            Conv2dConfig {
                stride: 2,
                padding: 1,
                dilation: 1,
            },
        ),
        (
            [2, 3, 5, 5],
            [2, 3, 1, 1],
            Conv2dConfig {
                stride: 2,
                padding: 0,
                dilation: 1,
            },
        ),
        (
            [1, 1, 9, 8],
            [2, 1, 3, 3],
            Conv2dConfig {
                stride: 1,
                padding: 2,
                dilation: 2,
            },
        ),
        (
            [1, 2, 9, 9],
            [2, 2, 7, 7],
            Conv2dConfig {
                stride: 2,
                padding: 3,
                dilation: 1,
            },
        ),
    ] {
        let inputs = [randn(&xd, 1, dt), randn(&wd, 2, dt), randn(&[wd[0]], 3, dt)];
        check(
            &inputs,
            |t| Ok(conv2d(&t[0], &t[1], Some(&t[2]), cfg)?),
            &format!("conv {xd:?} {wd:?} {cfg:?}"),
        )?;
    }
    Ok(())
}

#[test]
fn batch_norm_gradients() -> TestResult {
    let dt = DType::F64;
    for relu in [false, true] {
        let cfg = BatchNormConfig { eps: 1e-5, relu };
        let inputs = [
            randn(&[3, 2, 3, 4], 4, dt),
            randn(&[2], 5, dt),
            randn(&[2], 6, dt),
        ];
        check(
            &inputs,
            |t| Ok(batch_norm_train(&t[0], &t[1], &t[2], cfg)?.ys),
            &format!("batch norm train relu {relu}"),
        )?;
        let rm = randn(&[2], 7, dt);
        let rv = randn(&[2], 8, dt).abs()?.affine(1.0, 0.5)?;
        check(
            &inputs,
            |t| Ok(batch_norm_eval(&t[0], &t[1], &t[2], &rm, &rv, cfg)?),
            &format!("batch norm eval relu {relu}"),
        )?;
    }
    Ok(())
}

#[test]
fn pooling_and_residual_gradients() -> TestResult {
    let dt = DType::F64;
    check(
        &[randn(&[2, 2, 7, 6], 9, dt)],
        |t| Ok(max_pool2d(&t[0], MaxPoolConfig::STEM)?),
        "max pool",
    )?;
    check(
        &[randn(&[2, 3, 4, 5], 10, dt)],
        |t| Ok(global_avg_pool(&t[0])?),
        "global avg pool",
    )?;
    check(
        &[randn(&[2, 3, 4, 5], 11, dt), randn(&[2, 3, 4, 5], 12, dt)],
        |t| Ok(add_relu(&t[0], &t[1])?),
        "add relu",
    )?;
    Ok(())
}
