//! Whole-network throughput: a ResNet (torchvision's layer sequence: conv,
//! batch norm in training mode with the ReLU fused, padded max pool, residual
//! add + ReLU, global average pool, a 20-way linear head) built directly from
//! this crate's ops with random weights, forward and forward+backward, with
//! the fast kernels on and (for ResNet-18) off. `benches/resnet_table.py`
//! runs it beside torchvision's models on the same work, alternately, and
//! prints the table.
//!
//! `cargo bench -p eader-kernels --bench resnet` (`-- resnet50` for a subset).

use candle::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eader_kernels::*;

type R<T> = eader_kernels::Result<T>;

struct ConvBn {
    weight: Var,
    gamma: Var,
    beta: Var,
    cfg: Conv2dConfig,
}

impl ConvBn {
    fn new(c_in: usize, c_out: usize, k: usize, stride: usize, padding: usize) -> R<Self> {
        let std = (2.0 / (c_out * k * k) as f64).sqrt();
        let dev = &Device::Cpu;
        Ok(ConvBn {
            weight: Var::randn(0f32, std as f32, (c_out, c_in, k, k), dev)?,
            gamma: Var::ones(c_out, DType::F32, dev)?,
            beta: Var::zeros(c_out, DType::F32, dev)?,
            cfg: Conv2dConfig {
                stride,
                padding,
                dilation: 1,
            },
        })
    }

    fn forward(&self, xs: &Tensor, relu: bool) -> R<Tensor> {
        let ys = conv2d(xs, &self.weight, None, self.cfg)?;
        Ok(batch_norm_train(
            &ys,
            &self.gamma,
            &self.beta,
            BatchNormConfig { eps: 1e-5, relu },
        )?
        .ys)
    }
}

struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn forward(&self, xs: &Tensor) -> R<Tensor> {
        let mut ys = xs.clone();
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            ys = c.forward(&ys, i != last)?;
        }
        let identity = match &self.downsample {
            Some(d) => d.forward(xs, false)?,
            None => xs.clone(),
        };
        add_relu(&ys, &identity)
    }
}

struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
    fc: Var,
}

impl ResNet {
    fn new(bottleneck: bool, layers: [usize; 4]) -> R<Self> {
        let expansion = if bottleneck { 4 } else { 1 };
        let mut inplanes = 64;
        let mut blocks = Vec::new();
        for (i, &n) in layers.iter().enumerate() {
            let planes = 64 << i;
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                let out = planes * expansion;
                let convs = if bottleneck {
                    vec![
                        ConvBn::new(inplanes, planes, 1, 1, 0)?,
                        ConvBn::new(planes, planes, 3, stride, 1)?,
                        ConvBn::new(planes, out, 1, 1, 0)?,
                    ]
                } else {
                    vec![
                        ConvBn::new(inplanes, planes, 3, stride, 1)?,
                        ConvBn::new(planes, planes, 3, 1, 1)?,
                    ]
                };
                let downsample = (stride != 1 || inplanes != out)
                    .then(|| ConvBn::new(inplanes, out, 1, stride, 0))
                    .transpose()?;
                blocks.push(Block { convs, downsample });
                inplanes = out;
            }
        }
        Ok(ResNet {
            stem: ConvBn::new(3, 64, 7, 2, 3)?,
            blocks,
            fc: Var::randn(0f32, 0.01, (20, inplanes), &Device::Cpu)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> R<Tensor> {
        let mut xs = max_pool2d(&self.stem.forward(xs, true)?, MaxPoolConfig::STEM)?;
        for b in &self.blocks {
            xs = b.forward(&xs)?;
        }
        Ok(global_avg_pool(&xs)?.matmul(&self.fc.t()?)?)
    }
}

fn bench(c: &mut Criterion) {
    // As the `eader` binary does: freed activations stay mapped for the next step.
    keep_freed_memory();
    let mut group = c.benchmark_group("resnet");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(1));
    group.measurement_time(std::time::Duration::from_secs(5));
    let nets = [
        ("resnet18", false, [2, 2, 2, 2]),
        ("resnet50", true, [3, 4, 6, 3]),
        ("resnet101", true, [3, 4, 23, 3]),
    ];
    for (name, bottleneck, layers) in nets {
        let net = ResNet::new(bottleneck, layers).expect("network");
        for (batch, size) in [(8usize, 224usize), (16, 128)] {
            let xs =
                Tensor::randn(0f32, 1.0, (batch, 3, size, size), &Device::Cpu).expect("images");
            group.throughput(Throughput::Elements(batch as u64));
            // The composed-ops path is slow: measured for ResNet-18 only.
            let paths: &[(&str, bool)] = if name == "resnet18" {
                &[("fast", true), ("candle", false)]
            } else {
                &[("fast", true)]
            };
            for &(path, fast) in paths {
                set_fast_kernels(fast);
                let id = format!("{name}_b{batch}_{size}_{path}");
                group.bench_function(BenchmarkId::new("forward", &id), |b| {
                    b.iter(|| net.forward(&xs).expect("forward"))
                });
                group.bench_function(BenchmarkId::new("forward_backward", &id), |b| {
                    b.iter(|| {
                        let logits = net.forward(&xs).expect("forward");
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
