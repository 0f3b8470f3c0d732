//! `eader`: train EADER localizers, evaluate, infer and inspect them, benchmark the step.
//!
//! Results go to stdout, progress and diagnostics to stderr. Errors print their
//! whole chain once (`{:#}`) and exit with status 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod common;
mod crf;
mod evaluate;
mod infer;
mod inspect;
mod interrupt;
mod localizer;
mod progress;
mod study;
mod train;

/// End-to-end adversarial erasing for weakly-supervised semantic segmentation.
#[derive(Debug, Parser)]
#[command(name = "eader", version, about, args_override_self = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Train a localizer (and optionally an adversarial); no arguments: the demo run
    Train(Box<train::TrainArgs>),
    /// Benchmarks: `eader bench train` times the training step
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Score a trained localizer's segmentation maps on a split (pseudo labels, maps, visuals)
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// Predicted classes, maps and segmentation maps of unlabelled images or folders
    Infer(Box<infer::InferArgs>),
    /// Run one batch through the method and write every intermediate (debugging, parity)
    Inspect(Box<inspect::InspectArgs>),
    /// A grid of training runs (alpha x seeds), each evaluated, summarised as mean ± std
    Study(Box<study::StudyArgs>),
    /// Refine one image's (L, H, W) probabilities with the dense CRF (pydensecrf's numbers)
    Crf(Box<crf::CrfArgs>),
}

fn main() -> ExitCode {
    // Before any thread allocates: freed activations stay mapped for the next step
    // (`EADER_KEEP_FREED_MEMORY=0` leaves glibc's default).
    eader_kernels::keep_freed_memory();
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
        Command::Train(args) => train::run(&args),
        Command::Bench(command) => bench::run(&command),
        Command::Study(args) => study::run(&args),
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
        Command::Crf(args) => {
            crf::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
