//! Whole-network throughput of the shipped networks: `Classifier` ResNets in
//! training mode (batch statistics, a 20-way head, loss = sum of the logits),
//! forward and forward+backward, with the fast kernels on and (for ResNet-18)
//! off, under the `eader` binary's memory policy. `benches/resnet_table.py`
//! runs it beside torchvision's models on the same work, alternately, and
//! prints the table.
//!
//! `cargo bench -p eader-models --bench resnet` (`-- resnet50` for a subset).

use std::time::Duration;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eader_kernels::{keep_freed_memory, set_fast_kernels};
use eader_models::{Architecture, Classifier};

fn bench(c: &mut Criterion) {
    // As the `eader` binary does: freed activations stay mapped for the next step.
    keep_freed_memory();
    let dev = Device::Cpu;
    let mut group = c.benchmark_group("resnet");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(5));
    for arch in [
        Architecture::Resnet18,
        Architecture::Resnet50,
        Architecture::Resnet101,
    ] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let model = Classifier::new(arch, 20, vb).expect("model");
        model.init_seeded(0).expect("init");
        for (batch, size) in [(8usize, 224usize), (16, 128)] {
            let xs = Tensor::randn(0f32, 1.0, (batch, 3, size, size), &dev).expect("images");
            group.throughput(Throughput::Elements(batch as u64));
            // The composed-ops path is slow: measured for ResNet-18 only.
            let paths: &[(&str, bool)] = if arch == Architecture::Resnet18 {
                &[("fast", true), ("candle", false)]
            } else {
                &[("fast", true)]
            };
            for &(path, fast) in paths {
                set_fast_kernels(fast);
                let id = format!("{arch}_b{batch}_{size}_{path}");
                group.bench_function(BenchmarkId::new("forward", &id), |b| {
                    b.iter(|| model.forward(&xs, true).expect("forward"))
                });
                group.bench_function(BenchmarkId::new("forward_backward", &id), |b| {
                    b.iter(|| {
                        let logits = model.forward(&xs, true).expect("forward");
                        logits
                            .sum_all()
                            .and_then(|l| l.backward())
                            .expect("backward")
                    })
                });
            }
            set_fast_kernels(true);
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
