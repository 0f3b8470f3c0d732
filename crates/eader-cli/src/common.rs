//! What several commands share: `--device` / `--threads`, the progress bar,
//! and the dataset root (the one place the demo dataset is chosen).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle::Device;
use clap::Args;
use eader_train::DeviceChoice;
use indicatif::{ProgressBar, ProgressStyle};

/// `--device` and `--threads`, shared by `eader evaluate`, `infer` and `inspect`.
#[derive(Debug, Clone, Default, Args)]
pub struct ComputeArgs {
    /// auto, cpu, cuda or cuda:N [default: auto]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// CPU threads [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ComputeArgs {
    /// Sizes the CPU thread pool (see [`set_threads`]).
    pub fn set_threads(&self) -> anyhow::Result<()> {
        set_threads(self.threads)
    }

    /// The device `--device` designates (a clear error when CUDA is missing).
    pub fn device(&self) -> anyhow::Result<Device> {
        Ok(eader_train::device::resolve(
            self.device.unwrap_or_default(),
        )?)
    }
}

/// Sizes the global rayon pool (the CPU kernels') once.
pub fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads: must be at least 1");
        }
        // Fails only when the pool already exists (tests running twice): keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

/// A progress bar on stderr with rate and ETA (hidden when `quiet` or not a terminal).
pub fn progress_bar(total: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template(&format!(
        "{what} {{bar:30}} {{pos}}/{{len}} {{per_sec}} ETA {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Opens the dataset root (or generates the demo) and returns `(root, label)`.
pub fn dataset_root(
    given: Option<&Path>,
    from_run: Option<&Path>,
    demo_cache: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    match given.or(from_run) {
        Some(root) => Ok((root.to_path_buf(), root.display().to_string())),
        None => {
            let root = eader_dataset::demo::root_or_demo(None, demo_cache).with_context(|| {
                format!(
                    "cannot generate the demo dataset under {}",
                    demo_cache.display()
                )
            })?;
            eprintln!(
                "no --dataset-root: using the demo dataset in {}",
                root.display()
            );
            Ok((root, "demo".to_owned()))
        }
    }
}
