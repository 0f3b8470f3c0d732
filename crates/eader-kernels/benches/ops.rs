//! Per-op throughput of the fast kernels next to candle's composed ops, on
//! ResNet-50 shapes at batch 8, 224x224. Convolutions report GFLOP/s as
//! criterion's "elements" per second (one element = one FLOP); memory-bound
//! ops report elements of their input per second.
//!
//! `cargo bench -p eader-kernels --bench ops` (`-- conv` for a subset).

use candle::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eader_kernels::*;

fn randn(dims: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, dims, &Device::Cpu).expect("randn")
}

/// (name, input (N, C, H, W), weight (C_out, C_in, k, k), stride, padding).
type ConvCase = (&'static str, [usize; 4], [usize; 4], usize, usize);

const CONVS: &[ConvCase] = &[
    ("stem_7x7_s2", [8, 3, 224, 224], [64, 3, 7, 7], 2, 3),
    ("l1_3x3", [8, 64, 56, 56], [64, 64, 3, 3], 1, 1),
    ("l1_1x1_expand", [8, 64, 56, 56], [256, 64, 1, 1], 1, 0),
    ("l2_3x3_s2", [8, 128, 56, 56], [128, 128, 3, 3], 2, 1),
    ("l3_3x3", [8, 256, 14, 14], [256, 256, 3, 3], 1, 1),
    ("l4_1x1_reduce", [8, 2048, 7, 7], [512, 2048, 1, 1], 1, 0),
    ("l4_3x3", [8, 512, 7, 7], [512, 512, 3, 3], 1, 1),
];

fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for &(name, xd, wd, stride, padding) in CONVS {
        let cfg = Conv2dConfig {
            stride,
            padding,
            dilation: 1,
        };
        let x = randn(&xd);
        let w = randn(&wd);
        let g = ConvGeometry::new(&xd, &wd, cfg).expect("geometry");
        let dy = randn(&[g.n, g.c_out, g.h_out, g.w_out]);
        group.throughput(Throughput::Elements(g.flops() as u64));
        group.bench_function(BenchmarkId::new("forward_fast", name), |b| {
            b.iter(|| conv2d(&x, &w, None, cfg).expect("conv"))
        });
        group.bench_function(BenchmarkId::new("forward_candle", name), |b| {
            b.iter(|| conv2d_ref(&x, &w, None, cfg).expect("conv"))
        });
        group.bench_function(BenchmarkId::new("input_grad_fast", name), |b| {
            b.iter(|| conv2d_input_grad(&dy, &w, &g).expect("dx"))
        });
        group.bench_function(BenchmarkId::new("weight_grad_fast", name), |b| {
            b.iter(|| conv2d_weight_grad(&dy, &x, &g).expect("dw"))
        });
    }
    group.finish();
}

fn memory_bound(c: &mut Criterion) {
    // As the `eader` binary does: freed buffers stay mapped for the next call.
    keep_freed_memory();
    let mut group = c.benchmark_group("memory_bound");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    let dims = [8, 64, 112, 112];
    let elems: usize = dims.iter().product();
    group.throughput(Throughput::Elements(elems as u64));
    let x = Var::from_tensor(&randn(&dims)).expect("var");
    let gamma = Var::ones(64, DType::F32, &Device::Cpu).expect("gamma");
    let beta = Var::zeros(64, DType::F32, &Device::Cpu).expect("beta");
    let cfg = BatchNormConfig {
        eps: 1e-5,
        relu: true,
    };
    for (label, fast) in [("fast", true), ("candle", false)] {
        group.bench_function(
            BenchmarkId::new("batch_norm_relu_train_fwd_bwd", label),
            |b| {
                b.iter(|| {
                    let y = if fast {
                        batch_norm_train(&x, &gamma, &beta, cfg)
                    } else {
                        batch_norm_train_ref(&x, &gamma, &beta, cfg)
                    }
                    .expect("bn")
                    .ys;
                    y.sum_all().and_then(|l| l.backward()).expect("backward")
                })
            },
        );
        group.bench_function(BenchmarkId::new("max_pool_stem_fwd_bwd", label), |b| {
            b.iter(|| {
                let y = if fast {
                    max_pool2d(&x, MaxPoolConfig::STEM)
                } else {
                    max_pool2d_ref(&x, MaxPoolConfig::STEM)
                }
                .expect("pool");
                y.sum_all().and_then(|l| l.backward()).expect("backward")
            })
        });
        group.bench_function(BenchmarkId::new("add_relu_fwd_bwd", label), |b| {
            b.iter(|| {
                let y = if fast {
                    add_relu(&x, &x)
                } else {
                    add_relu_ref(&x, &x)
                }
                .expect("add");
                y.sum_all().and_then(|l| l.backward()).expect("backward")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, conv, memory_bound);
criterion_main!(benches);
