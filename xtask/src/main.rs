//! `cargo xtask <task>`: project automation, one module per task.

mod ci;
mod fetch;
mod prepare_coco;
mod prepare_voc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for eader.
#[derive(Parser)]
#[command(name = "cargo xtask", arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the checks CI runs: formatting, clippy (warnings denied), tests.
    Ci(ci::CiArgs),
    /// Prepare PASCAL VOC 2012 + SBD (train_aug, 10,582 images): fetch or take
    /// the archives, check, extract, convert SBD's labels, write the lists, verify.
    PrepareVoc(Box<prepare_voc::PrepareVocArgs>),
    /// Prepare MS-COCO 2014 (80 classes) in VOC layout: fetch or take the
    /// three zips, check, extract, make label maps from the instance
    /// annotations, write the lists, verify.
    PrepareCoco(Box<prepare_coco::PrepareCocoArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci(args) => ci::run(&args),
        Task::PrepareVoc(args) => prepare_voc::run(&args),
        Task::PrepareCoco(args) => prepare_coco::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
