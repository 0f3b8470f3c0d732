//! The dense CRF at VOC size (500x375), psa's kernels, 10 iterations, one thread:
//! 21 labels (VOC classes) and 3 labels (a few classes present), plus the lattice
//! build alone. `scripts/bench_vs_pydensecrf.py` compares with pydensecrf2.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use eader_crf::{unary_from_softmax, Permutohedral, Preset};

const W: usize = 500;
const H: usize = 375;

/// splitmix64, for deterministic noise.
fn noise(i: usize) -> f32 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
}

/// Which of five rectangles a pixel is in (0: background).
fn region(x: usize, y: usize) -> usize {
    let boxes = [
        (40, 60, 200, 300),
        (220, 30, 420, 180),
        (300, 200, 480, 360),
        (120, 250, 260, 370),
    ];
    boxes
        .iter()
        .position(|&(x0, y0, x1, y1)| (x0..x1).contains(&x) && (y0..y1).contains(&y))
        .map_or(0, |i| i + 1)
}

/// A `(H, W, 3)` image of gradients, shapes and noise, and `(L, H, W)` noisy probabilities.
fn inputs(n_labels: usize) -> (Vec<u8>, Vec<f32>) {
    let mut rgb = Vec::with_capacity(W * H * 3);
    for y in 0..H {
        for x in 0..W {
            let r = region(x, y);
            for c in 0..3 {
                let base = if r == 0 {
                    80.0 + 100.0 * (x + c * y) as f32 / (W + H) as f32
                } else {
                    (r * 53 + c * 91) as f32 % 230.0
                };
                rgb.push((base + 12.0 * noise((y * W + x) * 3 + c)).clamp(0.0, 255.0) as u8);
            }
        }
    }
    let n = W * H;
    let mut probs = vec![0f32; n_labels * n];
    for p in 0..n {
        let label = region(p % W, p / W) % n_labels;
        let mut sum = 0.0;
        for l in 0..n_labels {
            let v =
                (if l == label { 2.5 } else { 0.0 } + 1.5 * noise(n * 3 + p * n_labels + l)).exp();
            probs[l * n + p] = v;
            sum += v;
        }
        (0..n_labels).for_each(|l| probs[l * n + p] /= sum);
    }
    (rgb, probs)
}

fn crf(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let config = Preset::Psa.config();
    let mut group = c.benchmark_group("crf_500x375_psa_10it_1thread");
    group.sample_size(10);
    for n_labels in [21, 3] {
        let (rgb, probs) = inputs(n_labels);
        group.bench_with_input(
            BenchmarkId::new("labels", n_labels),
            &n_labels,
            |b, &n_labels| {
                b.iter(|| {
                    pool.install(|| {
                        let unary = unary_from_softmax(&probs).unwrap();
                        config
                            .build(W, H, n_labels, &rgb)
                            .unwrap()
                            .inference(&unary, 10)
                            .unwrap()
                    })
                })
            },
        );
    }
    let (rgb, _) = inputs(3);
    let features: Vec<f32> = (0..W * H)
        .flat_map(|p| {
            let (x, y) = ((p % W) as f32, (p / W) as f32);
            let c = &rgb[p * 3..p * 3 + 3];
            [
                x / 80.0,
                y / 80.0,
                c[0] as f32 / 13.0,
                c[1] as f32 / 13.0,
                c[2] as f32 / 13.0,
            ]
        })
        .collect();
    group.bench_function("bilateral_lattice_build", |b| {
        b.iter(|| Permutohedral::new(&features, 5).unwrap())
    });
    group.finish();
}

criterion_group!(benches, crf);
criterion_main!(benches);
