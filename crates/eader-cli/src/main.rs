//! `eader`: train EADER localizers (and, next, evaluate, infer, inspect).
//!
//! Results go to stdout, progress and diagnostics to stderr. Errors print their
//! whole chain once (`{:#}`) and exit with status 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod evaluate;
mod infer;
mod inspect;
mod train;

/// End-to-end adversarial erasing for weakly-supervised semantic segmentation.
#[derive(Debug, Parser)]
#[command(name = "eader", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Train a localizer (and optionally an adversarial); no arguments: the demo run
    Train(Box<train::TrainArgs>),
    /// Score a trained localizer's segmentation maps on a split (pseudo labels, maps, visuals)
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// Predicted classes, maps and segmentation maps of unlabelled images or folders
    Infer(Box<infer::InferArgs>),
    /// Run one batch through the method and write every intermediate (debugging, parity)
    Inspect(Box<inspect::InspectArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Evaluate(args) => {
            evaluate::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Infer(args) => {
            infer::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            inspect::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Train(args) => {
            let resolved = train::resolve(&args)?;
            if !resolved.demo_preset.is_empty() {
                eprintln!(
                    "demo run (no --dataset-root): preset differing from the reference's defaults:"
                );
                for (key, value) in &resolved.demo_preset {
                    eprintln!("  {key} = {value}");
                }
            }
            if args.dry_run {
                print!("{}", resolved.config.to_toml()?);
                return Ok(ExitCode::SUCCESS);
            }
            anyhow::bail!(
                "the training pipeline is not available in this build yet (it needs eader-dataset, eader-models and eader-erasing); use --dry-run to check a configuration"
            )
        }
    }
}
