//! Throughput of the training pipeline: decode a ~500x375 JPEG →
//! RandomResizedCrop 448 → flip → normalise → `(16, 3, 448, 448)` batch.
//!
//! The benchmark writes its own VOC-layout data (128 demo-style JPEGs of
//! 500x375 / 375x500, quality 90, with palette masks) into
//! `target/eader-dataset-bench/` and reuses it. The torchvision baseline,
//! `scripts/bench_torchvision.py`, reads the same files:
//!
//! ```sh
//! cargo bench -p eader-dataset --bench loader
//! python3 crates/eader-dataset/scripts/bench_torchvision.py target/eader-dataset-bench
//! ```
//!
//! Throughput is reported in images per second (criterion's `elem/s`).
//! `EADER_BENCH_THREADS` sets the loader's threads (default 2, the same as
//! the baseline's `num_workers=2`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle::Device;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eader_dataset::demo::{generate, DemoConfig};
use eader_dataset::{Loader, LoaderConfig, VocDataset};

const N_IMAGES: usize = 128;
const BATCH: usize = 16;
const SIZE: u32 = 448;

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("eader-dataset-bench")
}

fn ensure_data() -> PathBuf {
    let root = bench_dir();
    let cfg = DemoConfig {
        seed: 2012,
        n_train: N_IMAGES,
        n_val: 1,
        image_size: 500,
        ..DemoConfig::default()
    };
    let marker = root.join("bench-config.json");
    let wanted = format!("{cfg:?}");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&root);
        generate(&root, &cfg).expect("write benchmark data");
        std::fs::write(&marker, wanted).expect("write benchmark marker");
    }
    eprintln!("benchmark data: {}", root.display());
    root
}

fn threads() -> usize {
    std::env::var("EADER_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

fn train_pipeline(c: &mut Criterion) {
    let root = ensure_data();
    let opened = VocDataset::open(&root, "train").expect("open benchmark data");
    let mut group = c.benchmark_group("train_pipeline_448");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements((N_IMAGES / BATCH * BATCH) as u64));
    let variants = [
        // What torchvision's VOCSegmentation does: decode the mask every time
        // to get the image-level labels.
        ("decode_masks", opened.clone()),
        // eader's training path: labels scanned once by `for_training`.
        (
            "cached_labels",
            opened.for_training().expect("scan labels").0,
        ),
    ];
    for (name, ds) in variants {
        let mut cfg = LoaderConfig::train(SIZE, BATCH, 0);
        cfg.threads = threads();
        let loader = Loader::new(ds, cfg, &Device::Cpu).expect("loader");
        let mut epoch = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                epoch += 1;
                for batch in loader.epoch(epoch) {
                    std::hint::black_box(batch.expect("batch"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train_pipeline);
criterion_main!(benches);
