//! Accumulating a confusion matrix over a VOC-val-sized split:
//! 1,449 maps of 500x375 pixels (271.7 M pixels), serial and on all rayon threads,
//! against a naive single-table loop as the baseline.
//!
//! The maps look like segmentation output: a few rectangles of foreground
//! classes on background, a void band in the ground truth, and a prediction
//! that is the ground truth shifted by a few pixels.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eader_metrics::ConfusionMatrix;

const N_MAPS: usize = 1449;
const WIDTH: usize = 500;
const HEIGHT: usize = 375;
const N_CLASSES: usize = 21;

/// A deterministic xorshift so the benchmark needs no RNG crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn make_maps() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..N_MAPS)
        .map(|_| {
            let mut gt = vec![0u8; WIDTH * HEIGHT];
            let mut pred = vec![0u8; WIDTH * HEIGHT];
            for _ in 0..1 + rng.below(3) {
                let class = 1 + rng.below(N_CLASSES - 1) as u8;
                let (x0, y0) = (rng.below(WIDTH / 2), rng.below(HEIGHT / 2));
                let (w, h) = (40 + rng.below(WIDTH / 2), 40 + rng.below(HEIGHT / 2));
                let (dx, dy) = (rng.below(9), rng.below(9));
                for y in y0..(y0 + h).min(HEIGHT) {
                    for x in x0..(x0 + w).min(WIDTH) {
                        let border = x < x0 + 3 || y < y0 + 3 || x + 3 >= x0 + w || y + 3 >= y0 + h;
                        gt[y * WIDTH + x] = if border { 255 } else { class };
                        let (px, py) = ((x + dx).min(WIDTH - 1), (y + dy).min(HEIGHT - 1));
                        pred[py * WIDTH + px] = class;
                    }
                }
            }
            (pred, gt)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let maps = make_maps();
    let mut group = c.benchmark_group("confusion_voc_val");
    group.throughput(Throughput::Elements((N_MAPS * WIDTH * HEIGHT) as u64));
    group.sample_size(10);
    group.bench_function("serial", |b| {
        b.iter(|| {
            let mut matrix = ConfusionMatrix::new(N_CLASSES).expect("21 classes");
            for (pred, gt) in &maps {
                matrix.update(pred, gt).expect("valid maps");
            }
            matrix
        })
    });
    // Baseline: the textbook loop (one table, a branch per pixel).
    group.bench_function("naive_baseline", |b| {
        b.iter(|| {
            let mut counts = vec![0u64; N_CLASSES * N_CLASSES];
            for (pred, gt) in &maps {
                for (&p, &g) in pred.iter().zip(gt) {
                    if g != 255 {
                        counts[g as usize * N_CLASSES + p as usize] += 1;
                    }
                }
            }
            counts
        })
    });
    group.bench_function("parallel", |b| {
        b.iter(|| {
            ConfusionMatrix::from_par_maps(
                N_CLASSES,
                maps.iter()
                    .map(|(p, g)| (p.as_slice(), g.as_slice()))
                    .collect::<Vec<_>>(),
            )
            .expect("valid maps")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
