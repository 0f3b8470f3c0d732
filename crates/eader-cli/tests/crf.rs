//! `eader crf`: the marginals the library computes, and exit 2 with a message naming
//! the file for every bad input.

use std::path::{Path, PathBuf};

use eader_crf::{io, unary_from_softmax, Preset};

use crate::util::*;

const W: usize = 24;
const H: usize = 16;

/// A small image (two colour halves) and 3-label probabilities that disagree with it.
fn inputs(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>, Vec<f32>) {
    let image = image::RgbImage::from_fn(W as u32, H as u32, |x, y| {
        if x < W as u32 / 2 {
            image::Rgb([200, 40 + y as u8, 30])
        } else {
            image::Rgb([20, 90, 180 + x as u8])
        }
    });
    let image_path = dir.join("image.png");
    image.save(&image_path).unwrap();
    let mut probs = vec![0f32; 3 * H * W];
    for p in 0..H * W {
        let x = p % W;
        let first = if x < W / 2 + 3 { 0.6 } else { 0.2 };
        probs[p] = first;
        probs[H * W + p] = 0.9 - first;
        probs[2 * H * W + p] = 0.1;
    }
    let probs_path = dir.join("probs.npy");
    io::write_npy_f32(&probs_path, &[3, H, W], &probs).unwrap();
    (image_path, probs_path, image.into_raw(), probs)
}

#[test]
fn writes_the_marginals_the_library_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let (image, probs_path, rgb, probs) = inputs(tmp.path());
    let out = tmp.path().join("q.npy");
    eader_ok(&[
        "crf",
        s(&image),
        s(&probs_path),
        "--out",
        s(&out),
        "--preset",
        "irn",
        "--iterations",
        "5",
    ]);
    let (shape, q) = io::read_npy_f32(&out).unwrap();
    assert_eq!(shape, [3, H, W]);
    let mut config = Preset::Irn.config();
    config.iterations = 5;
    let unary = unary_from_softmax(&probs).unwrap();
    let expected = config
        .build(W, H, 3, &rgb)
        .unwrap()
        .inference(&unary, 5)
        .unwrap();
    assert_eq!(q, expected);

    // Options override the preset: no pairwise term leaves softmax(-U) = probs / sum.
    let args = [
        "--gaussian-compat",
        "0",
        "--bilateral-compat",
        "0",
        "--threads",
        "1",
    ];
    eader_ok(
        &[
            &["crf", s(&image), s(&probs_path), "--out", s(&out)],
            &args[..],
        ]
        .concat(),
    );
    let (_, q) = io::read_npy_f32(&out).unwrap();
    for p in 0..H * W {
        let sum: f32 = (0..3).map(|l| probs[l * H * W + p]).sum();
        assert!((q[p] - probs[p] / sum).abs() < 1e-6);
    }
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (image, probs, _, _) = inputs(tmp.path());
    let out = tmp.path().join("q.npy");
    let run = |image: &Path, probs: &Path, extra: &[&str]| {
        eader_err(&[&["crf", s(image), s(probs), "--out", s(&out)], extra].concat())
    };
    let write = |name: &str, shape: &[usize], data: &[f32]| {
        let path = tmp.path().join(name);
        io::write_npy_f32(&path, shape, data).unwrap();
        path
    };

    // Probabilities of another size than the image.
    let small = write("small.npy", &[3, H, W - 1], &vec![0.3; 3 * H * (W - 1)]);
    let err = run(&image, &small, &[]);
    assert!(
        err.contains("small.npy") && err.contains("[3, 16, 23]") && err.contains("[3, 16, 24]"),
        "{err}"
    );
    // Non-finite and negative values.
    let mut data = vec![0.3f32; 3 * H * W];
    data[7] = f32::NAN;
    let nan = write("nan.npy", &[3, H, W], &data);
    let err = run(&image, &nan, &[]);
    assert!(
        err.contains("nan.npy") && err.contains("non-finite"),
        "{err}"
    );
    data[7] = -0.5;
    let negative = write("negative.npy", &[3, H, W], &data);
    let err = run(&image, &negative, &[]);
    assert!(
        err.contains("negative.npy") && err.contains("negative probability -0.5"),
        "{err}"
    );
    // One label.
    let one = write("one.npy", &[1, H, W], &vec![1.0; H * W]);
    let err = run(&image, &one, &[]);
    assert!(
        err.contains("one.npy") && err.contains("at least 2 labels"),
        "{err}"
    );
    // An unknown preset.
    let err = run(&image, &probs, &["--preset", "crf-as-rnn"]);
    assert!(
        err.contains("--preset") && err.contains("crf-as-rnn"),
        "{err}"
    );
    // An unreadable image, a missing probabilities file, a bad parameter.
    let broken = tmp.path().join("broken.jpg");
    std::fs::write(&broken, b"not a jpeg").unwrap();
    assert!(run(&broken, &probs, &[]).contains("broken.jpg"));
    let missing = tmp.path().join("missing.npy");
    assert!(run(&image, &missing, &[]).contains("missing.npy"));
    let err = run(&image, &probs, &["--bilateral-srgb", "0"]);
    assert!(
        err.contains("probs.npy") && err.contains("bilateral srgb"),
        "{err}"
    );
    assert!(!out.exists());
}
