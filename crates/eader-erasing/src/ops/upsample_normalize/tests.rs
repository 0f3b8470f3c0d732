use super::*;
use crate::ops::test_utils::*;
use candle::Device;

/// `sum(g * weights)`: a scalar whose gradient with respect to `g` is `weights`.
fn weighted(g: Tensor, weights: &Tensor) -> Tensor {
    (g * weights).unwrap().sum_all().unwrap()
}

/// Maps as Grad-CAM produces them: ReLU of random values, so a plateau of zeros at the min.
fn relu_maps(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    random(shape, seed, -0.5, 1.0, DType::F64, &Device::Cpu)
        .relu()
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

#[test]
fn forward_matches_ref_on_odd_sizes() {
    for (p, h, w, height, width) in [
        (1, 1, 1, 4, 3),
        (1, 5, 7, 11, 13),
        (3, 4, 4, 9, 10),
        (2, 7, 3, 7, 3),
        (2, 6, 9, 4, 5),
    ] {
        for dtype in [DType::F32, DType::F64] {
            let maps = relu_maps(&[p, h, w], (p * 100 + h * 10 + w) as u64, dtype);
            let g = upsample_normalize(&maps, height, width).unwrap();
            let reference = upsample_normalize_ref(&maps, height, width).unwrap();
            assert_eq!(g.dims(), [p, height, width]);
            let tol = tolerance(dtype);
            assert_close(
                &g,
                &reference,
                tol,
                tol,
                &format!("({p}, {h}, {w}) -> ({height}, {width}) {dtype:?}"),
            );
        }
    }
}

#[test]
fn forward_and_gradient_match_pytorch() {
    let fx = fixtures();
    for case in ["a", "b", "c"] {
        let maps64 = &fx[&format!("un_{case}_maps")];
        let weights64 = &fx[&format!("un_{case}_w")];
        for dtype in [DType::F32, DType::F64] {
            // PyTorch's own f32 run: ties at the extrema may differ from f64's.
            let suffix = if dtype == DType::F32 { "_f32" } else { "" };
            let expected = &fx[&format!("un_{case}_g{suffix}")];
            let expected_grad = &fx[&format!("un_{case}_grad{suffix}")];
            let (_, height, width) = expected.dims3().unwrap();
            let maps = maps64.to_dtype(dtype).unwrap();
            let weights = weights64.to_dtype(dtype).unwrap();
            let tol = tolerance(dtype);
            let g = upsample_normalize(&maps, height, width).unwrap();
            assert_close(
                &g,
                expected,
                tol,
                tol,
                &format!("case {case} {dtype:?} forward vs pytorch"),
            );
            let grad = grad_of(&maps, |m| {
                weighted(upsample_normalize(m, height, width).unwrap(), &weights)
            });
            // Gradients sum many terms through 1 / (max - min): f32 keeps about 1e-4 of the
            // largest element, so the absolute tolerance scales with it.
            let scale = expected_grad
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert_close(
                &grad,
                expected_grad,
                tol,
                tol * scale,
                &format!("case {case} {dtype:?} grad vs pytorch"),
            );
        }
    }
}

#[test]
fn gradient_matches_ref_with_ties() {
    // ReLU plateaus tie the min; a corner maximum, replicated by the clamped border
    // samples, ties the max.
    let mut maps = relu_maps(&[3, 4, 5], 7, DType::F64);
    maps = maps
        .slice_assign(
            &[0..1, 0..1, 0..1],
            &Tensor::full(3.0f64, (1, 1, 1), &Device::Cpu).unwrap(),
        )
        .unwrap();
    let weights = random(&[3, 10, 9], 8, -1.0, 1.0, DType::F64, &Device::Cpu);
    let grad = grad_of(&maps, |m| {
        weighted(upsample_normalize(m, 10, 9).unwrap(), &weights)
    });
    let grad_ref = grad_of(&maps, |m| {
        weighted(upsample_normalize_ref(m, 10, 9).unwrap(), &weights)
    });
    assert_close(&grad, &grad_ref, 1e-10, 1e-12, "grad vs ref with ties");
}

#[test]
fn gradient_matches_finite_differences() {
    // Distinct extrema inside the map (no ties), so the function is differentiable there.
    let maps = random(&[2, 5, 6], 9, 0.2, 0.8, DType::F64, &Device::Cpu);
    let bump = Tensor::new(&[[[0.7f64]], [[-0.6]]], &Device::Cpu).unwrap();
    let maps = maps
        .slice_assign(
            &[0..2, 2..3, 3..4],
            &(maps.narrow(1, 2, 1).unwrap().narrow(2, 3, 1).unwrap() + bump).unwrap(),
        )
        .unwrap();
    let low = Tensor::new(&[[[-0.5f64]], [[1.2]]], &Device::Cpu).unwrap();
    let maps = maps.slice_assign(&[0..2, 1..2, 1..2], &low).unwrap();
    let weights = random(&[2, 12, 11], 10, -1.0, 1.0, DType::F64, &Device::Cpu);
    let loss = |m: &Tensor| weighted(upsample_normalize(m, 12, 11).unwrap(), &weights);
    let grad = grad_of(&maps, loss);
    let numeric = finite_differences(&maps, loss, 1e-6);
    assert_close(&grad, &numeric, 1e-6, 1e-7, "grad vs finite differences");
}

#[test]
fn constant_maps_normalise_to_zero_with_autograd_gradient() {
    // A zero map (ReLU of negatives) and a constant that is not a power of two.
    let maps = Tensor::new(&[[[0.0f64; 3]; 2], [[0.7; 3]; 2]], &Device::Cpu).unwrap();
    let weights = random(&[2, 5, 7], 13, -1.0, 1.0, DType::F64, &Device::Cpu);
    let g = upsample_normalize(&maps, 5, 7).unwrap();
    assert_eq!(
        g.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap(),
        0.0
    );
    // Autograd on `s = u - amin(u)`, `g = s / 1`: every element ties at the min, so
    // du = dg - mean(dg), then the transposed interpolation.
    let grad = grad_of(&maps, |m| {
        weighted(upsample_normalize(m, 5, 7).unwrap(), &weights)
    });
    // The reference's `(1 - lambda) a + lambda b` leaves rounding noise on 0.7 (as PyTorch
    // does), so it is only asked about the zero map; the formula does not depend on the
    // constant, so the 0.7 map must get the zero map's gradient.
    let zeros = maps.zeros_like().unwrap();
    let grad_ref = grad_of(&zeros, |m| {
        weighted(upsample_normalize_ref(m, 5, 7).unwrap(), &weights)
    });
    for i in 0..2 {
        let what = format!("constant map {i} grad vs ref of the zero map");
        assert_close(
            &grad.get(i).unwrap(),
            &grad_ref.get(i).unwrap(),
            1e-12,
            1e-12,
            &what,
        );
    }
    let total = grad.sum_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(
        total.abs() < 1e-12,
        "gradient of a shift-invariant output sums to {total}"
    );
    assert!(
        grad.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            > 1e-3
    );
}

#[test]
fn bad_arguments_are_errors() {
    let device = Device::Cpu;
    let flat = Tensor::zeros((4, 4), DType::F32, &device).unwrap();
    let err = upsample_normalize(&flat, 8, 8).unwrap_err().to_string();
    assert!(
        err.contains("upsample_normalize") && err.contains("(P, h, w)") && err.contains("[4, 4]"),
        "{err}"
    );
    let maps = Tensor::zeros((1, 4, 4), DType::F32, &device).unwrap();
    let err = upsample_normalize(&maps, 0, 8).unwrap_err().to_string();
    assert!(err.contains("(0, 8)"), "{err}");
    let ints = Tensor::zeros((1, 4, 4), DType::U32, &device).unwrap();
    assert!(matches!(
        upsample_normalize(&ints, 8, 8),
        Err(Error::DType { .. })
    ));
}

#[test]
fn non_contiguous_input_is_accepted() {
    let maps = relu_maps(&[5, 6, 2], 14, DType::F32);
    let transposed = maps.transpose(1, 2).unwrap();
    let g = upsample_normalize(&transposed, 9, 13).unwrap();
    let expected = upsample_normalize(&transposed.contiguous().unwrap(), 9, 13).unwrap();
    assert_close(&g, &expected, 0.0, 0.0, "transposed input");
}

fn check_device(device: &Device) {
    // The training shape in small: 28x28 -> 448x448 is 16x, here 7x6 -> 112x96.
    let maps = relu_maps(&[4, 7, 6], 15, DType::F32);
    let weights = random(&[4, 112, 96], 16, -1.0, 1.0, DType::F32, &Device::Cpu);
    let run = |device: &Device| {
        let maps = maps.to_device(device).unwrap();
        let weights = weights.to_device(device).unwrap();
        let g = upsample_normalize(&maps, 112, 96).unwrap();
        let grad = grad_of(&maps, |m| {
            weighted(upsample_normalize(m, 112, 96).unwrap(), &weights)
        });
        (
            g.to_device(&Device::Cpu).unwrap(),
            grad.to_device(&Device::Cpu).unwrap(),
        )
    };
    let (g, grad) = run(device);
    let (g_cpu, grad_cpu) = run(&Device::Cpu);
    assert_close(&g, &g_cpu, 1e-5, 1e-6, "forward vs cpu");
    let scale = grad_cpu
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert_close(&grad, &grad_cpu, 1e-5, 1e-5 * scale, "grad vs cpu");
    let reference = upsample_normalize_ref(&maps, 112, 96).unwrap();
    assert_close(&g, &reference, 1e-4, 1e-4, "forward vs ref");
}

device_test!(check_device, device_cpu, device_cuda);

/// `tap_range` of `upsample_normalize.cu`, transcribed: the output indices a CUDA backward
/// thread visits for source index `j`.
fn cuda_tap_range(j: usize, in_size: usize, out_size: usize) -> (usize, usize) {
    let scale = in_size as f64 / out_size as f64;
    let lo = ((j as f64 - 0.5) / scale - 0.5).floor() as i64 - 2;
    let hi = ((j as f64 + 1.5) / scale - 0.5).ceil() as i64 + 2;
    let first = if j <= 1 { 0 } else { lo.max(0) as usize };
    (first, hi.min(out_size as i64 - 1) as usize)
}

#[test]
fn cuda_gather_range_covers_every_tap() {
    // The CUDA backward gathers instead of scattering: each source index visits a window of
    // output indices. Every output whose taps reach the source index must be in it.
    for in_size in 1..40 {
        for out_size in [1, 2, 3, 5, 7, 16, 31, 64, 100, 448, 449, 500] {
            let all = taps::<f32>(in_size, out_size);
            for j in 0..in_size {
                let (first, last) = cuda_tap_range(j, in_size, out_size);
                for (o, tap) in all.iter().enumerate() {
                    if tap.i0 == j || tap.i1 == j {
                        assert!(first <= o && o <= last, "{in_size} -> {out_size}: output {o} of source {j} outside {first}..={last}");
                    }
                }
            }
        }
    }
}
