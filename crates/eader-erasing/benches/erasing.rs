//! The fused CPU ops against the same computation composed of candle ops (`*_ref`), at the
//! training size: P = 24 maps of 28x28 upsampled to 448x448, 3-channel images.
//! `cargo bench -p eader-erasing` (set RAYON_NUM_THREADS to pin the thread count).
//! Forward+backward comes three times: through a randomly weighted loss with gradients to
//! maps and images (`forward_backward`; its candle `mul` backward costs both pipelines the
//! same several hundred ms), through a plain sum (`forward_backward_sum`, closer to the ops'
//! own cost), and through the weighted loss with the images as data, as in training
//! (`forward_backward_data`).

use candle::{DType, Device, Tensor, Var};
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

/// A scalar over the outputs whose gradient is dense and random, as the adversarial
/// network's would be: the erased images weighted element-wise, plus the area term on g.
/// candle's backward of `erased * weights` also computes the weights' gradient and adds
/// every gradient to a fresh zero tensor: several image-sized passes that both pipelines
/// pay alike.
fn weighted_loss(g: &Tensor, erased: &Tensor, weights: &Tensor) -> candle::Result<Tensor> {
    (g.sum_all()? * 1e-5)? + (erased * weights)?.sum_all()?
}

/// The same with a gradient of ones on the erased images: what is timed is then the
/// pipelines' own backward, plus one image-sized gradient seed.
fn sum_loss(g: &Tensor, erased: &Tensor, _weights: &Tensor) -> candle::Result<Tensor> {
    (g.sum_all()? * 1e-5)? + erased.sum_all()?
}

type Loss = fn(&Tensor, &Tensor, &Tensor) -> candle::Result<Tensor>;

fn bench(c: &mut Criterion) {
    let device = Device::Cpu;
    let maps = Tensor::rand(-0.5f32, 1.0, (P, LOW, LOW), &device)
        .unwrap()
        .relu()
        .unwrap();
    let images = Tensor::randn(0f32, 1.0, (P, 3, SIZE, SIZE), &device).unwrap();
    let weights = Tensor::randn(0f32, 1.0, (P, 3, SIZE, SIZE), &device).unwrap();
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
    // (measure, loss, images): the images are a variable (their gradient is computed), or
    // data, as in training (eader-train erases the batch's images, which track nothing).
    let runs = [
        (
            "forward_backward",
            weighted_loss as Loss,
            images_var.as_tensor(),
        ),
        (
            "forward_backward_sum",
            sum_loss as Loss,
            images_var.as_tensor(),
        ),
        ("forward_backward_data", weighted_loss as Loss, &images),
    ];
    for (run, loss, images) in runs {
        for (name, pipeline) in pipelines {
            group.bench_function(format!("{run}/{name}"), |b| {
                b.iter(|| {
                    let maps = maps_var.as_tensor();
                    let (g, _mask, erased) = pipeline(maps, images).unwrap();
                    let grads = loss(&g, &erased, &weights).unwrap().backward().unwrap();
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
    let weights_g = Tensor::randn(0f32, 1.0, (P, SIZE, SIZE), &device).unwrap();
    let g_var = Var::from_tensor(&g).unwrap();
    for (name, reference) in [("fused", false), ("composed", true)] {
        ops.bench_function(format!("upsample_normalize_backward/{name}"), |b| {
            b.iter(|| {
                let g = if reference {
                    upsample_normalize_ref(&maps_var, SIZE, SIZE).unwrap()
                } else {
                    upsample_normalize(&maps_var, SIZE, SIZE).unwrap()
                };
                let grads = (g * &weights_g)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
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
                let grads = (erased * &weights)
                    .unwrap()
                    .sum_all()
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
