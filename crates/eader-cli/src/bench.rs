//! `eader bench train`: times the training step on synthetic batches and
//! prints one JSON line (and a readable summary on stderr).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use eader_models::{Architecture, AttentionKind};
use eader_train::bench::{bench_step, compare_devices, BenchConfig};
use eader_train::{DeviceChoice, TrainConfig};

/// What to benchmark.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The EADER training step (both phases) on synthetic batches
    Train(BenchTrainArgs),
}

/// Options of `eader bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Localizer architecture
    #[arg(long, value_name = "ARCH", default_value = "resnet18")]
    localizer_model: Architecture,
    /// Adversarial architecture, or `none`
    #[arg(long, value_name = "ARCH", default_value = "resnet18")]
    adversarial_model: String,
    /// The localizer classifies its own erased images (needs `--adversarial-model none`)
    #[arg(long)]
    share_weights: bool,
    /// Images per batch
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Side of the square synthetic images
    #[arg(long, value_name = "PIXELS", default_value_t = 224)]
    img_resolution: usize,
    /// Timed steps per phase
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed steps per phase first
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// gcam or cam
    #[arg(long, value_name = "TYPE", default_value_t = TrainConfig::default().attention_type)]
    attention_type: AttentionKind,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// CPU threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    /// Also compute one localizer step on this device and on the CPU from the
    /// same weights and batch, and report the largest loss and gradient differences
    #[arg(long)]
    check_against_cpu: bool,
    /// Also write the JSON result to this file
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs `eader bench ...`.
pub fn run(command: &BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Train(args) = command;
    crate::common::set_threads(args.threads)?;
    let device = eader_train::device::resolve(args.device)?;
    let name = eader_train::device::describe(&device);
    let adversarial = match args.adversarial_model.as_str() {
        "none" => None,
        other => Some(
            other
                .parse::<Architecture>()
                .map_err(|e| anyhow::anyhow!("--adversarial-model: {e}"))?,
        ),
    };
    let cfg = BenchConfig {
        localizer: args.localizer_model,
        adversarial,
        share_weights: args.share_weights,
        batch_size: args.batch_size,
        resolution: args.img_resolution,
        steps: args.steps,
        warmup: args.warmup,
        attention: args.attention_type,
    };
    let mut value = serde_json::to_value(bench_step(&cfg, &device, &name)?)?;
    if args.check_against_cpu {
        let cmp = compare_devices(&cfg, &device, &candle::Device::Cpu)?;
        eprintln!(
            "{name} vs cpu: loss {:.6} vs {:.6} (rel {:.1e}), gradients rel {:.1e} (worst {})",
            cmp.loss.0, cmp.loss.1, cmp.loss_rel_err, cmp.grad_rel_err, cmp.worst_param
        );
        value["check_against_cpu"] = serde_json::to_value(cmp)?;
    }
    eprintln!(
        "{} + {} batch {} at {}px on {name}: localizer {:.2} img/s, adversarial {}, cycle {:.2} img/s{}",
        cfg.localizer,
        cfg.adversarial.map_or_else(
            || if cfg.share_weights { "shared" } else { "none" }.to_owned(),
            |a| a.to_string()
        ),
        cfg.batch_size,
        cfg.resolution,
        value["localizer_images_per_s"].as_f64().unwrap_or(f64::NAN),
        value["adversarial_images_per_s"]
            .as_f64()
            .map_or("-".to_owned(), |v| format!("{v:.2} img/s")),
        value["images_per_s"].as_f64().unwrap_or(f64::NAN),
        value["peak_rss_mib"]
            .as_f64()
            .map_or(String::new(), |v| format!(", peak RSS {v:.0} MiB")),
    );
    let line = serde_json::to_string(&value)?;
    println!("{line}");
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{line}\n"))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
