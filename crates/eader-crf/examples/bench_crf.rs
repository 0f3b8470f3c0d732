//! Times eader-crf on `.npy` inputs, for `scripts/bench_vs_pydensecrf.py`.
//!
//! ```text
//! cargo run --release -p eader-crf --example bench_crf -- IMAGE.npy PROBS.npy \
//!     [--repeats N] [--threads T] [--batch B] [--iterations I] [--out Q.npy]
//!     [--keep-freed-memory 1]
//! ```
//! `--keep-freed-memory 1` applies the allocator policy the `eader` binary applies
//! (`eader_kernels::keep_freed_memory`: glibc keeps freed pages mapped, so repeated
//! CRFs reuse them instead of faulting in fresh ones).
//! IMAGE is `(H, W, 3)` uint8, PROBS `(L, H, W)` float32. Each repeat times one CRF
//! (unary_from_softmax, both psa kernels, inference) when `--batch` is 1, or
//! [`eader_crf::CrfConfig::run_batch`] over B copies of the image otherwise, on a rayon
//! pool of T threads, and prints `seconds <t>` per repeat on stdout.

use std::path::PathBuf;
use std::time::Instant;

use eader_crf::{io, unary_from_softmax, CrfImage, Preset};

fn main() {
    let mut args = std::env::args().skip(1);
    let image_path = PathBuf::from(args.next().expect("IMAGE.npy"));
    let probs_path = PathBuf::from(args.next().expect("PROBS.npy"));
    let (mut repeats, mut threads, mut batch, mut iterations, mut out) = (5, 1, 1, 10, None);
    let mut keep_freed_memory = false;
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--repeats" => repeats = value.parse().expect("--repeats N"),
            "--threads" => threads = value.parse().expect("--threads T"),
            "--batch" => batch = value.parse().expect("--batch B"),
            "--iterations" => iterations = value.parse().expect("--iterations I"),
            "--out" => out = Some(PathBuf::from(value)),
            "--keep-freed-memory" => keep_freed_memory = value == "1",
            other => panic!("unknown flag {other}"),
        }
    }
    if keep_freed_memory {
        keep_freed_pages();
    }
    let (shape, rgb) = io::read_npy_u8(&image_path).expect("image");
    let (pshape, probs) = io::read_npy_f32(&probs_path).expect("probs");
    let (height, width, n_labels) = (shape[0], shape[1], pshape[0]);
    assert_eq!(pshape, [n_labels, height, width]);
    let mut config = Preset::Psa.config();
    config.iterations = iterations;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for _ in 0..repeats {
            let start = Instant::now();
            if batch == 1 {
                let unary = unary_from_softmax(&probs).unwrap();
                let q = config
                    .build(width, height, n_labels, &rgb)
                    .unwrap()
                    .inference(&unary, iterations)
                    .unwrap();
                if let Some(path) = &out {
                    io::write_npy_f32(path, &pshape, &q).unwrap();
                }
            } else {
                let unary = unary_from_softmax(&probs).unwrap();
                let image = CrfImage {
                    width,
                    height,
                    n_labels,
                    rgb: &rgb,
                    unary: &unary,
                };
                let images = vec![image; batch];
                for q in config.run_batch(&images) {
                    q.unwrap();
                }
            }
            println!("seconds {}", start.elapsed().as_secs_f64());
        }
    });
}

/// glibc: no mmap for large blocks and no trimming, as `eader_kernels::keep_freed_memory`.
fn keep_freed_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning parameters; both accept these values.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
