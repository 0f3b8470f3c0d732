//! `eader crf`: refine one image's label probabilities with the dense CRF
//! (`eader_crf`, pydensecrf's numbers).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use eader_crf::{io, unary_from_softmax, Error, Preset};

/// Options of `eader crf`.
#[derive(Debug, Clone, Args)]
pub struct CrfArgs {
    /// RGB image (JPEG, PNG)
    pub image: PathBuf,
    /// (L, H, W) float32 .npy of probabilities (or any non-negative scores)
    pub probs: PathBuf,
    /// Output (L, H, W) float32 .npy of the marginals
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Settings the options below override: psa, irn or deeplab
    #[arg(long, value_name = "NAME", default_value = "psa")]
    pub preset: String,
    /// Gaussian kernel: position standard deviation in pixels
    #[arg(long, value_name = "F")]
    pub gaussian_sxy: Option<f32>,
    /// Gaussian kernel: Potts weight (0 turns the kernel off)
    #[arg(long, value_name = "F")]
    pub gaussian_compat: Option<f32>,
    /// Bilateral kernel: position standard deviation in pixels
    #[arg(long, value_name = "F")]
    pub bilateral_sxy: Option<f32>,
    /// Bilateral kernel: colour standard deviation (0..255 units)
    #[arg(long, value_name = "F")]
    pub bilateral_srgb: Option<f32>,
    /// Bilateral kernel: Potts weight (0 turns the kernel off)
    #[arg(long, value_name = "F")]
    pub bilateral_compat: Option<f32>,
    /// Mean-field iterations
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// CPU threads [default: all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `eader crf`: checks every input, then writes `--out`.
pub fn run(args: &CrfArgs) -> anyhow::Result<()> {
    crate::common::set_threads(args.threads)?;
    let mut config = args.preset.parse::<Preset>().context("--preset")?.config();
    if let Some(g) = config.gaussian.as_mut() {
        g.sxy = args.gaussian_sxy.unwrap_or(g.sxy);
        g.compat = args.gaussian_compat.unwrap_or(g.compat);
    }
    if let Some(b) = config.bilateral.as_mut() {
        b.sxy = args.bilateral_sxy.unwrap_or(b.sxy);
        b.srgb = args.bilateral_srgb.unwrap_or(b.srgb);
        b.compat = args.bilateral_compat.unwrap_or(b.compat);
    }
    config.iterations = args.iterations.unwrap_or(config.iterations);

    let image = io::read_rgb(&args.image)?;
    let (shape, probs) = io::read_npy_f32(&args.probs)?;
    let probs_name = args.probs.display();
    if shape.len() != 3 || shape[1] != image.height || shape[2] != image.width {
        let labels = shape.first().copied().unwrap_or(0);
        return Err(Error::ShapeMismatch {
            name: format!("probabilities {probs_name}"),
            expected: vec![labels, image.height, image.width],
            actual: shape,
        })
        .with_context(|| {
            format!(
                "image {} is {}x{}",
                args.image.display(),
                image.width,
                image.height
            )
        });
    }
    let unary = unary_from_softmax(&probs).with_context(|| format!("reading {probs_name}"))?;
    let crf = config
        .build(image.width, image.height, shape[0], &image.data)
        .with_context(|| format!("a CRF for {probs_name}"))?;
    let q = crf.inference(&unary, config.iterations)?;
    io::write_npy_f32(&args.out, &shape, &q)?;
    eprintln!(
        "crf: {} labels, {}x{}, {} iterations -> {}",
        shape[0],
        image.width,
        image.height,
        config.iterations,
        args.out.display()
    );
    Ok(())
}
