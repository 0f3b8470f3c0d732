//! Training-mode throughput (images/s) of ResNet-18 and ResNet-50 on the CPU:
//! forward, and forward + backward, at batch 8 x 224x224 and batch 16 x 128x128.
//! `benches/torch_bench.py` measures the same work with PyTorch.
//!
//! ```sh
//! cargo bench -p eader-models --bench forward
//! python3 crates/eader-models/benches/torch_bench.py
//! ```

use std::time::Duration;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eader_models::{Architecture, Classifier};

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut group = c.benchmark_group("train_mode");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for arch in [Architecture::Resnet18, Architecture::Resnet50] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let model = Classifier::new(arch, 20, vb).expect("model");
        model.init_seeded(0).expect("init");
        for (batch, size) in [(8usize, 224usize), (16, 128)] {
            let x = Tensor::randn(0f32, 1.0, (batch, 3, size, size), &dev).expect("input");
            let id = format!("{arch}/b{batch}x{size}");
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(BenchmarkId::new("forward", &id), |b| {
                b.iter(|| model.forward(&x, true).expect("forward"))
            });
            group.bench_function(BenchmarkId::new("forward_backward", &id), |b| {
                b.iter(|| {
                    let logits = model.forward(&x, true).expect("forward");
                    let loss = logits.mean_all().expect("loss");
                    loss.backward().expect("backward")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
