//! Property tests over random shapes against a naive direct convolution.

use candle::{DType, Tensor};
use eader_kernels::*;
use proptest::prelude::*;

use crate::util::*;

/// Direct convolution and its three gradients, in f64 loops.
struct Naive {
    y: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
    db: Vec<f64>,
}

fn naive(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    g_fn: impl Fn(usize) -> f64,
    geo: &ConvGeometry,
) -> (Naive, Vec<f64>) {
    let ConvGeometry {
        n,
        c_in,
        h,
        w: wd,
        c_out,
        kh,
        kw,
        cfg,
        h_out,
        w_out,
    } = *geo;
    let mut y = vec![0f64; n * c_out * h_out * w_out];
    let g: Vec<f64> = (0..y.len()).map(&g_fn).collect();
    let mut dx = vec![0f64; x.len()];
    let mut dw = vec![0f64; w.len()];
    let mut db = vec![0f64; c_out];
    for i in 0..n {
        for co in 0..c_out {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let oi = ((i * c_out + co) * h_out + oh) * w_out + ow;
                    let mut acc = b[co];
                    for ci in 0..c_in {
                        for a in 0..kh {
                            for bb in 0..kw {
                                let ih = (oh * cfg.stride + a * cfg.dilation) as isize
                                    - cfg.padding as isize;
                                let iw = (ow * cfg.stride + bb * cfg.dilation) as isize
                                    - cfg.padding as isize;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                    continue;
                                }
                                let xi = ((i * c_in + ci) * h + ih as usize) * wd + iw as usize;
                                let wi = ((co * c_in + ci) * kh + a) * kw + bb;
                                acc += x[xi] * w[wi];
                                dx[xi] += g[oi] * w[wi];
                                dw[wi] += g[oi] * x[xi];
                            }
                        }
                    }
                    y[oi] = acc;
                    db[co] += g[oi];
                }
            }
        }
    }
    (Naive { y, dx, dw, db }, g)
}

fn conv_case(
    (n, c_in, c_out, h, w): (usize, usize, usize, usize, usize),
    (k, stride, padding, dilation): (usize, usize, usize, usize),
    dt: DType,
) -> std::result::Result<(), TestCaseError> {
    let cfg = Conv2dConfig {
        stride,
        padding,
        dilation,
    };
    let x = randn(&[n, c_in, h, w], (n * 31 + h * 7 + w) as u64, dt);
    let wt = randn(&[c_out, c_in, k, k], (c_out * 13 + k) as u64, dt);
    let b = randn(&[c_out], 5, dt);
    let geo = match ConvGeometry::new(x.dims(), wt.dims(), cfg) {
        Ok(geo) => geo,
        Err(_) => {
            // The kernel does not fit: conv2d must refuse it too.
            prop_assert!(conv2d(&x, &wt, None, cfg).is_err());
            return Ok(());
        }
    };
    let (expected, g) = naive(
        &data(&x),
        &data(&wt),
        &data(&b),
        |i| ((i * 7919) % 13) as f64 - 6.0,
        &geo,
    );
    let (on, ci, hh, ww) = geo.out_dims();
    let g = Tensor::from_vec(g, (on, ci, hh, ww), &candle::Device::Cpu)
        .and_then(|t| t.to_dtype(dt))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (y, gs) = grads(&[&x, &wt, &b], &g, |t| {
        Ok(conv2d(&t[0], &t[1], Some(&t[2]), cfg)?)
    })
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let tol = if dt == DType::F32 { 1e-4 } else { 1e-10 };
    let check =
        |actual: &Tensor, want: &[f64], what: &str| -> std::result::Result<(), TestCaseError> {
            let want = Tensor::from_vec(want.to_vec(), actual.dims(), &candle::Device::Cpu)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let d = rel_diff(actual, &want);
            prop_assert!(d <= tol, "{} off by {:e} for {:?}", what, d, geo);
            Ok(())
        };
    check(&y, &expected.y, "y")?;
    check(&gs[0], &expected.dx, "dx")?;
    check(&gs[1], &expected.dw, "dw")?;
    check(&gs[2], &expected.db, "db")?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn conv_matches_naive_on_random_shapes(
        n in 1usize..4, c_in in 1usize..5, c_out in 1usize..5, h in 1usize..13, w in 1usize..13,
        k in prop::sample::select(vec![1usize, 3, 5, 7]), stride in 1usize..4, padding in 0usize..4,
        dilation in 1usize..5, f64_dtype in any::<bool>(),
    ) {
        let dt = if f64_dtype { DType::F64 } else { DType::F32 };
        conv_case((n, c_in, c_out, h, w), (k, stride, padding, dilation), dt)?;
    }

    #[test]
    fn max_pool_and_batch_norm_match_references_on_random_shapes(
        n in 1usize..4, c in 1usize..5, h in 1usize..12, w in 1usize..12,
        kernel in 1usize..4, stride in 1usize..3, padding in 0usize..2, relu in any::<bool>(),
    ) {
        let dt = DType::F64;
        let x = randn(&[n, c, h, w], (n * 17 + c * 5 + h * 3 + w) as u64, dt);
        let cfg = MaxPoolConfig { kernel, stride, padding };
        match max_pool2d_ref(&x, cfg) {
            Ok(y_ref) => {
                let y = max_pool2d(&x, cfg).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(rel_diff(&y, &y_ref) <= 1e-12);
            }
            Err(_) => prop_assert!(max_pool2d(&x, cfg).is_err()),
        }
        if n * h * w > 1 {
            let gamma = randn(&[c], 3, dt);
            let beta = randn(&[c], 4, dt);
            let bn = BatchNormConfig { eps: 1e-5, relu };
            let g = randn(&[n, c, h, w], 6, dt);
            let (y, gs) = grads(&[&x, &gamma, &beta], &g, |t| Ok(batch_norm_train(&t[0], &t[1], &t[2], bn)?.ys)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (y_ref, gs_ref) = grads(&[&x, &gamma, &beta], &g, |t| Ok(batch_norm_train_ref(&t[0], &t[1], &t[2], bn)?.ys)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(rel_diff(&y, &y_ref) <= 1e-10);
            for (a, b) in gs.iter().zip(&gs_ref) {
                prop_assert!(rel_diff(a, b) <= 1e-9);
            }
        }
    }
}
