//! The EADER training library: the last stage of the training flow
//! (dataset → models → erasing → eval → **train**: losses, optimizer, the run).
//!
//! - [`step`]: one training step (the shared forward pass, then the localizer
//!   or adversarial update).
//! - [`losses`]: BCE on logits and the attention-mining loss.
//! - [`optim`]: SGD, Adam and RMSprop with PyTorch's update rules, state as named tensors.
//! - [`schedule`]: which network trains at a global step (method.md's phases).
//! - [`config`]: [`TrainConfig`], every option of `eader train` with the reference's
//!   defaults, TOML in and out, validation.
//! - [`checkpoint`]: safetensors + JSON checkpoints, written atomically; a
//!   network and its optimizer packed and restored by [`checkpoint::Role`];
//!   a trained localizer loaded back.
//! - [`logging`]: JSON Lines records, `summary.json`, PNG plots.
//! - [`guard`]: the stop flag and the NaN/inf loss guard.
//! - [`trainer`]: [`Trainer`], the whole run: data, networks, epochs,
//!   validation (eader-eval's pass), checkpoints, resuming.
//! - [`device`]: `--device auto|cpu|cuda[:N]` to a candle device, with clear errors.
//! - [`bench`]: timing the step on synthetic batches, CPU vs CUDA checks.
//! - [`inspect`]: one batch with every intermediate, for debugging and parity.
//!
//! Evaluation (maps at image size, the segmentation rule, protocols, outputs,
//! inference) is the `eader-eval` crate, earlier in the flow.
#![warn(missing_docs)]

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
mod error;
pub mod guard;
pub mod inspect;
pub mod logging;
pub mod losses;
pub mod optim;
pub mod schedule;
pub mod step;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointState};
pub use config::{ConfigOverrides, DeviceChoice, TrainConfig};
pub use device::{describe as describe_device, resolve as resolve_device};
pub use error::{Error, Result};
pub use guard::{check_finite, StopFlag};
pub use optim::{Optimizer, OptimizerKind};
pub use schedule::{Phase, Schedule};
pub use trainer::{Observer, Outcome, Summary, Trainer};
