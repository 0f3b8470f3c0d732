//! `cargo xtask <task>`: project automation, one module per task.

mod ci;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci(args) => ci::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
