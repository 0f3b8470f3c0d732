//! `cargo xtask ci`: formatting, lints and tests, as `.ci/run` runs them.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Options of `cargo xtask ci`.
#[derive(clap::Args)]
pub struct CiArgs {
    /// Skip the test run (formatting and clippy only).
    #[arg(long)]
    no_test: bool,
}

/// The test command README.md gives; `.ci/run` runs the same one (with `--locked`).
const TEST_COMMAND: &[&str] = &["test", "--workspace", "--all-targets", "--locked"];

/// Runs every check in turn and stops at the first failure.
pub fn run(args: &CiArgs) -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    if !args.no_test {
        cargo(TEST_COMMAND)?;
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    // As .ci/run: the slow tests run, and a missing test prerequisite fails.
    let status = Command::new(&cargo)
        .env("EADER_SLOW_TESTS", "1")
        .env("EADER_CI", "1")
        .args(args)
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
