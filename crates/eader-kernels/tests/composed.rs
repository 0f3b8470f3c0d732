//! Each fast op against its `*_ref` twin in candle's composed ops, forward and
//! gradients through candle's autograd, in f32 (1e-4: different summation
//! order) and f64 (1e-10).

use candle::{DType, Tensor, Var};
use eader_kernels::*;

use crate::util::*;

fn conv_vs_ref(
    x_dims: &[usize],
    w_dims: &[usize],
    cfg: Conv2dConfig,
    bias: bool,
    dt: DType,
    tol: f64,
) -> TestResult {
    let x = randn(x_dims, 1, dt);
    let w = randn(w_dims, 2, dt);
    let b = randn(&[w_dims[0]], 3, dt);
    let mut inputs = vec![&x, &w];
    if bias {
        inputs.push(&b);
    }
    let y_shape = conv2d_ref(&x, &w, None, cfg)?.dims().to_vec();
    let g = randn(&y_shape, 4, dt);
    let (y_fast, g_fast) = grads(&inputs, &g, |t| Ok(conv2d(&t[0], &t[1], t.get(2), cfg)?))?;
    let (y_ref, g_ref) = grads(&inputs, &g, |t| {
        Ok(conv2d_ref(&t[0], &t[1], t.get(2), cfg)?)
    })?;
    let what = format!("conv {x_dims:?} {w_dims:?} {cfg:?} {dt:?}");
    assert_close(&y_fast, &y_ref, tol, &format!("{what} y"));
    for (i, (a, b)) in g_fast.iter().zip(&g_ref).enumerate() {
        assert_close(a, b, tol, &format!("{what} grad {i}"));
    }
    Ok(())
}

/// The ResNet/VGG shapes at a small resolution. candle's composed backward
/// (conv_transpose2d) needs the same output padding along both axes, so the
/// shapes here keep H and W alike modulo the stride; odd non-square cases are
/// checked against PyTorch and the naive reference instead.
#[test]
fn conv_matches_composed_ops() -> TestResult {
    let s = |stride, padding, dilation| Conv2dConfig {
        stride,
        padding,
        dilation,
    };
    let cases: Vec<(Vec<usize>, Vec<usize>, Conv2dConfig, bool)> = vec![
        (vec![2, 3, 16, 16], vec![8, 3, 7, 7], s(2, 3, 1), false),
        (vec![2, 8, 9, 9], vec![8, 8, 3, 3], s(1, 1, 1), false),
        (vec![1, 8, 9, 9], vec![16, 8, 3, 3], s(2, 1, 1), false),
        (vec![3, 8, 9, 9], vec![16, 8, 1, 1], s(2, 0, 1), false),
        (vec![2, 16, 7, 5], vec![4, 16, 1, 1], s(1, 0, 1), true),
        (vec![2, 4, 11, 11], vec![4, 4, 3, 3], s(1, 2, 2), true),
        (vec![1, 4, 12, 10], vec![3, 4, 3, 3], s(1, 4, 4), false),
    ];
    for (xd, wd, cfg, bias) in cases {
        conv_vs_ref(&xd, &wd, cfg, bias, DType::F32, 1e-4)?;
        conv_vs_ref(&xd, &wd, cfg, bias, DType::F64, 1e-10)?;
    }
    Ok(())
}

#[test]
fn conv_batch_parallel_and_spatial_parallel_paths_agree() -> TestResult {
    // Batch 1 runs one image with all threads; batch 4 runs images in
    // parallel: each image's result must not depend on the path.
    let cfg = Conv2dConfig {
        stride: 1,
        padding: 1,
        dilation: 1,
    };
    let x = randn(&[4, 6, 10, 9], 5, DType::F64);
    let w = randn(&[5, 6, 3, 3], 6, DType::F64);
    let all = conv2d(&x, &w, None, cfg)?;
    for i in 0..4 {
        let one = conv2d(&x.narrow(0, i, 1)?, &w, None, cfg)?;
        assert_close(
            &one,
            &all.narrow(0, i, 1)?,
            1e-12,
            "image alone vs in batch",
        );
    }
    Ok(())
}

fn bn_vs_ref(dims: &[usize], relu: bool, dt: DType, tol: f64) -> TestResult {
    let c = dims[1];
    // A large mean and small spread stress the variance computation.
    let x = (randn(dims, 11, dt) * 0.5)?.affine(1.0, 4.0)?;
    let gamma = randn(&[c], 12, dt);
    let beta = randn(&[c], 13, dt);
    let g = randn(dims, 14, dt);
    let cfg = BatchNormConfig { eps: 1e-5, relu };
    let (y_fast, g_fast) = grads(&[&x, &gamma, &beta], &g, |t| {
        Ok(batch_norm_train(&t[0], &t[1], &t[2], cfg)?.ys)
    })?;
    let (y_ref, g_ref) = grads(&[&x, &gamma, &beta], &g, |t| {
        Ok(batch_norm_train_ref(&t[0], &t[1], &t[2], cfg)?.ys)
    })?;
    let what = format!("batch norm {dims:?} relu {relu} {dt:?}");
    assert_close(&y_fast, &y_ref, tol, &format!("{what} y"));
    for (i, (a, b)) in g_fast.iter().zip(&g_ref).enumerate() {
        assert_close(a, b, tol, &format!("{what} grad {i}"));
    }
    let fast = batch_norm_train(&x, &gamma, &beta, cfg)?;
    let reference = batch_norm_train_ref(&x, &gamma, &beta, cfg)?;
    assert_close(&fast.mean, &reference.mean, tol, "batch mean");
    assert_close(&fast.var, &reference.var, tol, "batch var");

    let rm = randn(&[c], 15, dt);
    let rv = randn(&[c], 16, dt).abs()?.affine(1.0, 0.5)?;
    let (e_fast, ge_fast) = grads(&[&x, &gamma, &beta], &g, |t| {
        Ok(batch_norm_eval(&t[0], &t[1], &t[2], &rm, &rv, cfg)?)
    })?;
    let (e_ref, ge_ref) = grads(&[&x, &gamma, &beta], &g, |t| {
        Ok(batch_norm_eval_ref(&t[0], &t[1], &t[2], &rm, &rv, cfg)?)
    })?;
    assert_close(&e_fast, &e_ref, tol, &format!("{what} eval y"));
    for (i, (a, b)) in ge_fast.iter().zip(&ge_ref).enumerate() {
        assert_close(a, b, tol, &format!("{what} eval grad {i}"));
    }
    Ok(())
}

#[test]
fn batch_norm_matches_composed_ops() -> TestResult {
    for dims in [[2, 5, 7, 7], [1, 3, 4, 9], [4, 2, 1, 1], [3, 16, 5, 3]] {
        for relu in [false, true] {
            bn_vs_ref(&dims, relu, DType::F32, 1e-4)?;
            bn_vs_ref(&dims, relu, DType::F64, 1e-10)?;
        }
    }
    Ok(())
}

#[test]
fn update_running_stats_is_pytorch_momentum_with_unbiased_var() -> TestResult {
    let dev = candle::Device::Cpu;
    // Channel 0 holds 0..8 over N=2, H=2, W=2: mean 3.5, biased var 5.25, unbiased 6.
    let x = Tensor::arange(0f32, 8.0, &dev)?.reshape((2, 1, 2, 2))?;
    let ones = Tensor::ones(1, DType::F32, &dev)?;
    let zeros = Tensor::zeros(1, DType::F32, &dev)?;
    let out = batch_norm_train(&x, &ones, &zeros, BatchNormConfig::default())?;
    let mean = out.mean.to_vec1::<f32>()?[0];
    let var = out.var.to_vec1::<f32>()?[0];
    // Values per channel: image 0 gives 0..4, image 1 gives 4..8.
    assert!((mean - 3.5).abs() < 1e-6, "mean {mean}");
    assert!((var - 5.25).abs() < 1e-5, "var {var}");
    let rm = Var::from_tensor(&zeros)?;
    let rv = Var::from_tensor(&ones)?;
    update_running_stats(&rm, &rv, &out, 8, 0.1)?;
    let rm = rm.as_tensor().to_vec1::<f32>()?[0];
    let rv = rv.as_tensor().to_vec1::<f32>()?[0];
    assert!((rm - 0.35).abs() < 1e-6, "running mean {rm}");
    assert!((rv - (0.9 + 0.6)).abs() < 1e-5, "running var {rv}");
    Ok(())
}

#[test]
fn max_pool_matches_composed_ops() -> TestResult {
    for (dims, cfg) in [
        ([2usize, 3, 9, 7], MaxPoolConfig::STEM),
        ([1, 2, 8, 8], MaxPoolConfig::STEM),
        (
            [2, 2, 7, 7],
            MaxPoolConfig {
                kernel: 2,
                stride: 2,
                padding: 0,
            },
        ),
        (
            [1, 3, 6, 5],
            MaxPoolConfig {
                kernel: 3,
                stride: 1,
                padding: 1,
            },
        ),
    ] {
        for (dt, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-12)] {
            let x = randn(&dims, 21, dt);
            let y_shape = max_pool2d_ref(&x, cfg)?.dims().to_vec();
            let g = randn(&y_shape, 22, dt);
            let (y_fast, g_fast) = grads(&[&x], &g, |t| Ok(max_pool2d(&t[0], cfg)?))?;
            let (y_ref, g_ref) = grads(&[&x], &g, |t| Ok(max_pool2d_ref(&t[0], cfg)?))?;
            assert_close(
                &y_fast,
                &y_ref,
                tol,
                &format!("max pool {dims:?} {cfg:?} y"),
            );
            assert_close(
                &g_fast[0],
                &g_ref[0],
                tol,
                &format!("max pool {dims:?} {cfg:?} dx"),
            );
        }
    }
    Ok(())
}

#[test]
fn max_pool_propagates_nan_and_handles_all_neg_infinity() -> TestResult {
    let dev = candle::Device::Cpu;
    let x = Tensor::new(
        &[[[[1f32, f32::NAN, 0.0], [f32::NEG_INFINITY, 2.0, 3.0]]]],
        &dev,
    )?;
    let y = max_pool2d(
        &x,
        MaxPoolConfig {
            kernel: 2,
            stride: 1,
            padding: 0,
        },
    )?
    .flatten_all()?
    .to_vec1::<f32>()?;
    assert!(y[0].is_nan() && y[1].is_nan(), "{y:?}");
    let x = Tensor::full(f32::NEG_INFINITY, (1, 1, 3, 3), &dev)?;
    let y = max_pool2d(&x, MaxPoolConfig::STEM)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    assert!(y.iter().all(|v| *v == f32::NEG_INFINITY), "{y:?}");
    Ok(())
}

#[test]
fn global_avg_pool_and_add_relu_match_composed_ops() -> TestResult {
    for dt in [DType::F32, DType::F64] {
        let tol = if dt == DType::F32 { 1e-5 } else { 1e-12 };
        let x = randn(&[3, 4, 5, 7], 31, dt);
        let g = randn(&[3, 4], 32, dt);
        let (y_fast, g_fast) = grads(&[&x], &g, |t| Ok(global_avg_pool(&t[0])?))?;
        let (y_ref, g_ref) = grads(&[&x], &g, |t| Ok(global_avg_pool_ref(&t[0])?))?;
        assert_close(&y_fast, &y_ref, tol, "gap y");
        assert_close(&g_fast[0], &g_ref[0], tol, "gap dx");

        let a = randn(&[2, 3, 5, 4], 33, dt);
        let b = randn(&[2, 3, 5, 4], 34, dt);
        let g = randn(&[2, 3, 5, 4], 35, dt);
        let (y_fast, g_fast) = grads(&[&a, &b], &g, |t| Ok(add_relu(&t[0], &t[1])?))?;
        let (y_ref, g_ref) = grads(&[&a, &b], &g, |t| Ok(add_relu_ref(&t[0], &t[1])?))?;
        assert_close(&y_fast, &y_ref, tol, "add_relu y");
        assert_close(&g_fast[0], &g_ref[0], tol, "add_relu da");
        assert_close(&g_fast[1], &g_ref[1], tol, "add_relu db");
    }
    Ok(())
}

#[test]
fn bad_inputs_are_clear_errors() -> TestResult {
    let dev = candle::Device::Cpu;
    let x = Tensor::zeros((1, 3, 8, 8), DType::F32, &dev)?;
    let w = Tensor::zeros((4, 2, 3, 3), DType::F32, &dev)?;
    let err = conv2d(&x, &w, None, Conv2dConfig::default())
        .err()
        .ok_or("channel mismatch accepted")?;
    assert!(
        err.to_string()
            .contains("conv2d: weight has shape [4, 2, 3, 3]"),
        "{err}"
    );
    let w = Tensor::zeros((4, 3, 3, 3), DType::F32, &dev)?;
    let b = Tensor::zeros(5, DType::F32, &dev)?;
    let err = conv2d(&x, &w, Some(&b), Conv2dConfig::default())
        .err()
        .ok_or("bad bias accepted")?;
    assert!(err.to_string().contains("bias"), "{err}");
    let w64 = w.to_dtype(DType::F64)?;
    assert!(conv2d(&x, &w64, None, Conv2dConfig::default()).is_err());
    let big = Tensor::zeros((4, 3, 11, 11), DType::F32, &dev)?;
    assert!(conv2d(&x, &big, None, Conv2dConfig::default()).is_err());
    let zero_stride = Conv2dConfig {
        stride: 0,
        ..Default::default()
    };
    assert!(conv2d(&x, &w, None, zero_stride).is_err());
    assert!(conv2d(&x.flatten_all()?, &w, None, Conv2dConfig::default()).is_err());

    let one = Tensor::zeros((1, 2, 1, 1), DType::F32, &dev)?;
    let p = Tensor::ones(2, DType::F32, &dev)?;
    let err = batch_norm_train(&one, &p, &p, BatchNormConfig::default())
        .err()
        .ok_or("single value accepted")?;
    assert!(err.to_string().contains("more than one value"), "{err}");
    let p3 = Tensor::ones(3, DType::F32, &dev)?;
    assert!(batch_norm_train(&x, &p3, &p, BatchNormConfig::default()).is_err());

    assert!(max_pool2d(
        &x,
        MaxPoolConfig {
            kernel: 2,
            stride: 2,
            padding: 2
        }
    )
    .is_err());
    assert!(max_pool2d(
        &Tensor::zeros((1, 1, 1, 1), DType::F32, &dev)?,
        MaxPoolConfig {
            kernel: 3,
            stride: 2,
            padding: 0
        }
    )
    .is_err());
    assert!(add_relu(&x, &p).is_err());
    assert!(global_avg_pool(&p).is_err());
    // Integer tensors: a clear error, not a panic.
    let xi = Tensor::zeros((1, 3, 8, 8), DType::U32, &dev)?;
    assert!(conv2d(&xi, &w.to_dtype(DType::U32)?, None, Conv2dConfig::default()).is_err());
    Ok(())
}
