//! `eader inspect`: one batch through the method, every intermediate to a
//! safetensors file (debugging, parity with the reference).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use eader_models::{weights, Architecture, AttentionKind};
use eader_train::inspect::{inspect, read_batch, write_tensors};
use eader_train::step::StepConfig;
use eader_train::TrainConfig;

use crate::common::ComputeArgs;

/// Options of `eader inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Localizer architecture (resnet18, resnet50, ...)
    #[arg(long, value_name = "ARCH", alias = "localizer-arch")]
    pub localizer_model: Architecture,
    /// Localizer weights: safetensors with torchvision names and a K-class head
    #[arg(long, value_name = "FILE", alias = "localizer-weights")]
    pub weights_localizer: PathBuf,
    /// Adversarial architecture [default: none]
    #[arg(
        long,
        value_name = "ARCH",
        alias = "adversarial-arch",
        requires = "weights_adversarial"
    )]
    pub adversarial_model: Option<Architecture>,
    /// Adversarial weights (torchvision names, K-class head)
    #[arg(
        long,
        value_name = "FILE",
        alias = "adversarial-weights",
        requires = "adversarial_model"
    )]
    pub weights_adversarial: Option<PathBuf>,
    /// Safetensors holding `images` (B, 3, H, W) normalised and `labels` (B, K) multi-hot, f32
    #[arg(long, value_name = "FILE")]
    pub batch: PathBuf,
    /// gcam or cam
    #[arg(long, value_name = "TYPE", default_value_t = TrainConfig::default().attention_type)]
    pub attention_type: AttentionKind,
    /// BatchNorm in training mode (batch statistics), for both networks
    #[arg(long)]
    pub train_mode: bool,
    /// Weight of the attention-mining loss
    #[arg(long, default_value_t = TrainConfig::default().alpha)]
    pub alpha: f64,
    /// Weight of the area regularization
    #[arg(long, default_value_t = TrainConfig::default().beta)]
    pub beta: f64,
    /// Steepness of the soft mask
    #[arg(long, default_value_t = TrainConfig::default().omega)]
    pub omega: f64,
    /// Threshold of the soft mask
    #[arg(long, default_value_t = TrainConfig::default().sigma)]
    pub sigma: f64,
    /// Output safetensors file
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing output file
    #[arg(long)]
    pub overwrite: bool,
    /// Device and CPU threads.
    #[command(flatten)]
    pub compute: ComputeArgs,
}

/// Runs `eader inspect`; prints the losses and the written tensors' shapes.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    if args.out.exists() && !args.overwrite {
        bail!(
            "{} exists: pass --overwrite to replace it",
            args.out.display()
        );
    }
    args.compute.set_threads()?;
    let device = args.compute.device()?;
    let localizer =
        weights::load_classifier(args.localizer_model, &args.weights_localizer, &device)?;
    let adversarial = match (args.adversarial_model, &args.weights_adversarial) {
        (Some(a), Some(w)) => Some(weights::load_classifier(a, w, &device)?),
        _ => None,
    };
    let batch = read_batch(&args.batch, localizer.num_classes(), &device)?;
    let cfg = StepConfig {
        alpha: args.alpha,
        beta: args.beta,
        omega: args.omega,
        sigma: args.sigma,
        attention: args.attention_type,
    };
    let tensors = inspect(
        &localizer,
        adversarial.as_ref(),
        &batch,
        &cfg,
        args.train_mode,
    )?;
    write_tensors(&args.out, &tensors)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    for (name, t) in &tensors {
        if name.starts_with("grad.") {
            continue;
        }
        if t.rank() == 0 {
            println!("{name:<12} {:.6}", t.to_scalar::<f32>()?);
        } else {
            println!("{name:<12} {:?}", t.dims());
        }
    }
    let grads = tensors
        .iter()
        .filter(|(n, _)| n.starts_with("grad."))
        .count();
    println!("grad.*       {grads} localizer parameters");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
