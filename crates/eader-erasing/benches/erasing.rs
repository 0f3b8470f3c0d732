//! The fused CPU ops against the same computation composed of candle ops (`*_ref`), at the
//! training size: P = 24 maps of 28x28 upsampled to 448x448, 3-channel images.
//! `cargo bench -p eader-erasing` (set RAYON_NUM_THREADS to pin the thread count).
//! Forward+backward is the forward plus the backward from given gradients of the outputs
//! (`torch.autograd.backward([g, erased], [dg, derased])`): a scalar `Seed` op hands each
//! gradient to its output as it is, so what is timed is the pipelines' own backward, not a
//! loss's. Twice: with gradients to the maps and the images (`forward_backward`), and with the
//! images as data, as in training (`forward_backward_data`: eader-train erases the batch's
//! images, which track nothing). Both pipelines run under the `eader` binary's allocator
//! policy (`eader_kernels::keep_freed_memory`).

use candle::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use eader_erasing::{
    mask_and_erase, mask_and_erase_ref, upsample_normalize, upsample_normalize_ref, OMEGA, SIGMA,
};

const P: usize = 24;
const LOW: usize = 28;
const SIZE: usize = 448;

type Pipeline = fn(&Tensor, &Tensor) -> eader_erasing::Result<(Tensor, Tensor, Tensor)>;

fn fused(maps: &Tensor, images: &Tensor) -> eader_erasing::Result<(Tensor, Tensor, Tensor)> {
    let g = upsample_normalize(maps, SIZE, SIZE)?;
    let (mask, erased) = mask_and_erase(&g, images, OMEGA, SIGMA)?;
    Ok((g, mask, erased))
}

fn composed(maps: &Tensor, images: &Tensor) -> eader_erasing::Result<(Tensor, Tensor, Tensor)> {
    let g = upsample_normalize_ref(maps, SIZE, SIZE)?;
    let (mask, erased) = mask_and_erase_ref(&g, images, OMEGA, SIGMA)?;
    Ok((g, mask, erased))
}

/// A scalar (0) whose backward hands the gradient it holds to its input unchanged: the
/// seed of a backward from a given output gradient. Only valid as a term of the loss that
/// `backward` starts from (its own incoming gradient is then 1).
struct Seed(Tensor);

impl CustomOp1 for Seed {
    fn name(&self) -> &'static str {
        "seed"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle::Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(vec![0.0]), Shape::from(())))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, _: &Tensor) -> candle::Result<Option<Tensor>> {
        Ok(Some(self.0.clone()))
    }
}

/// The scalar whose backward sends `dg` to `g` and `derased` to `erased`.
fn seeded(g: &Tensor, erased: &Tensor, dg: &Tensor, derased: &Tensor) -> candle::Result<Tensor> {
    g.apply_op1(Seed(dg.clone()))? + erased.apply_op1(Seed(derased.clone()))?
}

fn bench(c: &mut Criterion) {
    eader_kernels::keep_freed_memory();
    let device = Device::Cpu;
    let maps = Tensor::rand(-0.5f32, 1.0, (P, LOW, LOW), &device)
        .unwrap()
        .relu()
        .unwrap();
    let images = Tensor::randn(0f32, 1.0, (P, 3, SIZE, SIZE), &device).unwrap();
    // The outputs' gradients, dense and random as the adversarial network's would be.
    let d_erased = Tensor::randn(0f32, 1.0, (P, 3, SIZE, SIZE), &device).unwrap();
    let d_g = Tensor::randn(0f32, 1.0, (P, SIZE, SIZE), &device).unwrap();
    assert_eq!(maps.dtype(), DType::F32);
    // Leaves of the graph, made once: the backward runs are what is timed, not copies.
    let (maps_var, images_var) = (
        Var::from_tensor(&maps).unwrap(),
        Var::from_tensor(&images).unwrap(),
    );
    let mut group = c.benchmark_group("erasing");
    group.sample_size(10);
    let pipelines = [
        ("fused", fused as Pipeline),
        ("composed", composed as Pipeline),
    ];
    // Fused and composed side by side for each measure, so that a change of load on a
    // shared machine hits both alike.
    for (name, pipeline) in pipelines {
        group.bench_function(format!("forward/{name}"), |b| {
            b.iter(|| pipeline(&maps, &images).unwrap())
        });
    }
    // The images are a variable (their gradient is computed), or data, as in training.
    let runs = [
        ("forward_backward", images_var.as_tensor()),
        ("forward_backward_data", &images),
    ];
    for (run, images) in runs {
        for (name, pipeline) in pipelines {
            group.bench_function(format!("{run}/{name}"), |b| {
                b.iter(|| {
                    let maps = maps_var.as_tensor();
                    let (g, _mask, erased) = pipeline(maps, images).unwrap();
                    let grads = seeded(&g, &erased, &d_g, &d_erased)
                        .unwrap()
                        .backward()
                        .unwrap();
                    (grads.get(maps).cloned(), grads.get(images).cloned())
                })
            });
        }
    }
    group.finish();

    // Each op alone, fused against its reference, forward only.
    let g = upsample_normalize(&maps, SIZE, SIZE).unwrap();
    let mut ops = c.benchmark_group("ops");
    ops.sample_size(10);
    ops.bench_function("upsample_normalize/fused", |b| {
        b.iter(|| upsample_normalize(&maps, SIZE, SIZE).unwrap())
    });
    ops.bench_function("upsample_normalize/composed", |b| {
        b.iter(|| upsample_normalize_ref(&maps, SIZE, SIZE).unwrap())
    });
    ops.bench_function("mask_and_erase/fused", |b| {
        b.iter(|| mask_and_erase(&g, &images, OMEGA, SIGMA).unwrap())
    });
    ops.bench_function("mask_and_erase/composed", |b| {
        b.iter(|| mask_and_erase_ref(&g, &images, OMEGA, SIGMA).unwrap())
    });
    let g_var = Var::from_tensor(&g).unwrap();
    for (name, reference) in [("fused", false), ("composed", true)] {
        ops.bench_function(format!("upsample_normalize_backward/{name}"), |b| {
            b.iter(|| {
                let g = if reference {
                    upsample_normalize_ref(&maps_var, SIZE, SIZE).unwrap()
                } else {
                    upsample_normalize(&maps_var, SIZE, SIZE).unwrap()
                };
                let grads = g.apply_op1(Seed(d_g.clone())).unwrap().backward().unwrap();
                grads.get(&maps_var).unwrap().clone()
            })
        });
        ops.bench_function(format!("mask_and_erase_backward/{name}"), |b| {
            b.iter(|| {
                let (_, erased) = if reference {
                    mask_and_erase_ref(&g_var, &images_var, OMEGA, SIGMA).unwrap()
                } else {
                    mask_and_erase(&g_var, &images_var, OMEGA, SIGMA).unwrap()
                };
                let grads = erased
                    .apply_op1(Seed(d_erased.clone()))
                    .unwrap()
                    .backward()
                    .unwrap();
                grads.get(&g_var).unwrap().clone()
            })
        });
    }
    ops.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
