//! The fused CPU ops against the same computation composed of candle ops (`*_ref`), at the
//! training size: P = 24 maps of 28x28 upsampled to 448x448, 3-channel images.
//! `cargo bench -p eader-erasing` (set RAYON_NUM_THREADS to pin the thread count).

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

/// The losses' use of the outputs: an area term on g and a weighted sum of the erased images.
fn loss(g: &Tensor, erased: &Tensor, weights: &Tensor) -> candle::Result<Tensor> {
    (g.mean_all()? * 1e-5)? + erased.broadcast_mul(weights)?.mean_all()?
}

fn bench(c: &mut Criterion) {
    let device = Device::Cpu;
    let maps = Tensor::rand(-0.5f32, 1.0, (P, LOW, LOW), &device)
        .unwrap()
        .relu()
        .unwrap();
    let images = Tensor::randn(0f32, 1.0, (P, 3, SIZE, SIZE), &device).unwrap();
    let weights = Tensor::randn(0f32, 1.0, (1, 3, SIZE, SIZE), &device).unwrap();
    assert_eq!(maps.dtype(), DType::F32);
    // Leaves of the graph, made once: the backward runs are what is timed, not copies.
    let (maps_var, images_var) = (
        Var::from_tensor(&maps).unwrap(),
        Var::from_tensor(&images).unwrap(),
    );
    let mut group = c.benchmark_group("erasing");
    group.sample_size(10);
    for (name, pipeline) in [
        ("fused", fused as Pipeline),
        ("composed", composed as Pipeline),
    ] {
        group.bench_function(format!("forward/{name}"), |b| {
            b.iter(|| pipeline(&maps, &images).unwrap())
        });
        group.bench_function(format!("forward_backward/{name}"), |b| {
            b.iter(|| {
                let (maps, images) = (&maps_var, &images_var);
                let (g, _mask, erased) = pipeline(maps, images).unwrap();
                let grads = loss(&g, &erased, &weights).unwrap().backward().unwrap();
                (
                    grads.get(maps).unwrap().clone(),
                    grads.get(images).unwrap().clone(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
