//! Parity with PyTorch on the fixtures of `tests/fixtures/make_fixtures.py`
//! (outputs computed in f64 there). Our f32 kernels sum in a different order
//! (GEMM blocking, per-lane partial sums) than PyTorch, so results differ in
//! the last bits; the tolerance is 1e-4 relative to each tensor's largest value.

use candle::{DType, Var};
use eader_kernels::*;

use crate::util::*;

const TOL: f64 = 1e-4;

fn conv_case(name: &str) -> TestResult {
    let case = fixture(name);
    let cfg = Conv2dConfig {
        stride: case["stride"].as_u64().ok_or("stride")? as usize,
        padding: case["padding"].as_u64().ok_or("padding")? as usize,
        dilation: case["dilation"].as_u64().ok_or("dilation")? as usize,
    };
    let dt = DType::F32;
    let (x, w, g) = (
        tensor(case, "x", dt),
        tensor(case, "w", dt),
        tensor(case, "g", dt),
    );
    let has_bias = case.get("b").is_some();
    let mut inputs = vec![x, w];
    if has_bias {
        inputs.push(tensor(case, "b", dt));
    }
    let refs: Vec<&candle::Tensor> = inputs.iter().collect();
    let (y, gs) = grads(&refs, &g, |t| Ok(conv2d(&t[0], &t[1], t.get(2), cfg)?))?;
    assert_close(&y, &tensor(case, "y", dt), TOL, &format!("{name} y"));
    assert_close(&gs[0], &tensor(case, "dx", dt), TOL, &format!("{name} dx"));
    assert_close(&gs[1], &tensor(case, "dw", dt), TOL, &format!("{name} dw"));
    if has_bias {
        assert_close(&gs[2], &tensor(case, "db", dt), TOL, &format!("{name} db"));
    }
    Ok(())
}

#[test]
fn conv3x3_stride1_pad1_bias() -> TestResult {
    conv_case("conv3x3_s1_p1_bias")
}

#[test]
fn conv7x7_stride2_stem_batch1_non_square() -> TestResult {
    conv_case("conv7x7_s2_p3_stem")
}

#[test]
fn conv1x1_stride2_downsample_odd() -> TestResult {
    conv_case("conv1x1_s2_downsample_odd")
}

#[test]
fn conv1x1_pointwise() -> TestResult {
    conv_case("conv1x1_s1_pointwise")
}

#[test]
fn conv3x3_stride2_odd_sizes_bias() -> TestResult {
    conv_case("conv3x3_s2_p1_odd")
}

#[test]
fn conv3x3_dilation2() -> TestResult {
    conv_case("conv3x3_d2_p2")
}

#[test]
fn conv3x3_dilation4_bias() -> TestResult {
    conv_case("conv3x3_d4_p4")
}

fn batch_norm_case(relu: bool) -> TestResult {
    let case = fixture(&format!("batch_norm_relu_{relu}"));
    let dt = DType::F32;
    let cfg = BatchNormConfig { eps: 1e-5, relu };
    let (x, gamma, beta, g) = (
        tensor(case, "x", dt),
        tensor(case, "gamma", dt),
        tensor(case, "beta", dt),
        tensor(case, "g", dt),
    );
    let running_mean = Var::from_tensor(&tensor(case, "running_mean_before", dt))?;
    let running_var = Var::from_tensor(&tensor(case, "running_var_before", dt))?;
    let (y, gs) = grads(&[&x, &gamma, &beta], &g, |t| {
        let out = batch_norm_train(&t[0], &t[1], &t[2], cfg)?;
        let (n, _, h, w) = t[0].dims4()?;
        update_running_stats(&running_mean, &running_var, &out, n * h * w, 0.1)?;
        Ok(out.ys)
    })?;
    assert_close(&y, &tensor(case, "y", dt), TOL, "batch norm y");
    assert_close(&gs[0], &tensor(case, "dx", dt), TOL, "batch norm dx");
    assert_close(
        &gs[1],
        &tensor(case, "dgamma", dt),
        TOL,
        "batch norm dgamma",
    );
    assert_close(&gs[2], &tensor(case, "dbeta", dt), TOL, "batch norm dbeta");
    assert_close(
        running_mean.as_tensor(),
        &tensor(case, "running_mean_after", dt),
        TOL,
        "running mean",
    );
    assert_close(
        running_var.as_tensor(),
        &tensor(case, "running_var_after", dt),
        TOL,
        "running var",
    );

    // Eval mode with the updated statistics.
    let (x2, g2) = (tensor(case, "eval_x", dt), tensor(case, "eval_g", dt));
    let (rm, rv) = (
        running_mean.as_tensor().clone(),
        running_var.as_tensor().clone(),
    );
    let (y2, gs2) = grads(&[&x2, &gamma, &beta], &g2, |t| {
        Ok(batch_norm_eval(&t[0], &t[1], &t[2], &rm, &rv, cfg)?)
    })?;
    assert_close(&y2, &tensor(case, "eval_y", dt), TOL, "eval y");
    assert_close(&gs2[0], &tensor(case, "eval_dx", dt), TOL, "eval dx");
    assert_close(
        &gs2[1],
        &tensor(case, "eval_dgamma", dt),
        TOL,
        "eval dgamma",
    );
    assert_close(&gs2[2], &tensor(case, "eval_dbeta", dt), TOL, "eval dbeta");
    Ok(())
}

#[test]
fn batch_norm_train_eval_and_running_stats() -> TestResult {
    batch_norm_case(false)
}

#[test]
fn batch_norm_fused_relu() -> TestResult {
    batch_norm_case(true)
}

fn max_pool_case(name: &str, tol: f64) -> TestResult {
    let case = fixture(name);
    let dt = DType::F32;
    let (x, g) = (tensor(case, "x", dt), tensor(case, "g", dt));
    let (y, gs) = grads(&[&x], &g, |t| Ok(max_pool2d(&t[0], MaxPoolConfig::STEM)?))?;
    assert_close(&y, &tensor(case, "y", dt), tol, "max pool y");
    assert_close(&gs[0], &tensor(case, "dx", dt), tol, "max pool dx");
    Ok(())
}

#[test]
fn max_pool_stem_random() -> TestResult {
    max_pool_case("max_pool_stem_random", TOL)
}

#[test]
fn max_pool_stem_ties_follow_pytorch_exactly() -> TestResult {
    // Integer inputs with many ties: PyTorch sends each window's gradient to
    // its first maximum (a wrong rule moves whole values, far above 1e-6).
    max_pool_case("max_pool_stem_ties", 1e-6)
}

#[test]
fn global_avg_pool_matches() -> TestResult {
    let case = fixture("global_avg_pool");
    let dt = DType::F32;
    let (x, g) = (tensor(case, "x", dt), tensor(case, "g", dt));
    let (y, gs) = grads(&[&x], &g, |t| Ok(global_avg_pool(&t[0])?))?;
    assert_close(&y, &tensor(case, "y", dt), TOL, "gap y");
    assert_close(&gs[0], &tensor(case, "dx", dt), TOL, "gap dx");
    Ok(())
}

#[test]
fn add_relu_matches() -> TestResult {
    let case = fixture("add_relu");
    let dt = DType::F32;
    let (a, b, g) = (
        tensor(case, "a", dt),
        tensor(case, "b", dt),
        tensor(case, "g", dt),
    );
    let (y, gs) = grads(&[&a, &b], &g, |t| Ok(add_relu(&t[0], &t[1])?))?;
    assert_close(&y, &tensor(case, "y", dt), TOL, "add_relu y");
    assert_close(&gs[0], &tensor(case, "da", dt), TOL, "add_relu da");
    assert_close(&gs[1], &tensor(case, "db", dt), TOL, "add_relu db");
    Ok(())
}
