//! The EADER training library: the last stage of the training flow
//! (dataset → models → attention maps → erasing → **losses → optimizer**).
//!
//! - [`bench`]: timing the step on synthetic batches, CPU vs CUDA checks.
//! - [`optim`]: SGD, Adam and RMSprop with PyTorch's update rules, state as named tensors.
//! - [`schedule`]: which network trains at a global step (method.md's phases).
//! - [`device`]: `--device auto|cpu|cuda[:N]` to a candle device, with clear errors.
//! - [`config`]: [`TrainConfig`], every option of `eader train` with the reference's
//!   defaults, TOML in and out, validation.
//! - [`checkpoint`]: safetensors + JSON checkpoints, written atomically.
//! - [`logging`]: JSON Lines records, `summary.json`, PNG plots.
//! - [`guard`]: the Ctrl-C flag and the NaN/inf loss guard.
//! - [`losses`]: BCE on logits and the attention-mining loss.
//! - [`segmentation`]: per-class maps to a segmentation map (threshold, argmax).
//! - [`trainer`]: [`Trainer`], the whole run: data, networks, epochs, validation,
//!   checkpoints, resuming.
//! - [`visuals`]: jet heatmaps, overlays, erased images, coloured label maps.
//! - [`evaluate`]: validation, and `eader evaluate`'s pass (protocols, sweeps,
//!   multi-scale maps, pseudo labels); loading a trained localizer.
//! - [`infer`]: maps and segmentation maps of unlabelled images (predicted classes).
//! - [`inspect`]: one batch with every intermediate, for debugging and parity.
#![warn(missing_docs)]

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
mod error;
pub mod evaluate;
mod fsutil;
pub mod guard;
pub mod infer;
pub mod inspect;
pub mod logging;
pub mod losses;
pub mod optim;
pub mod rng;
pub mod schedule;
pub mod segmentation;
pub mod step;
pub mod trainer;
pub mod visuals;

pub use checkpoint::{Checkpoint, CheckpointState};
pub use config::{AttentionType, ConfigOverrides, DeviceChoice, TrainConfig};
pub use device::{describe as describe_device, resolve as resolve_device};
pub use error::{Error, Result};
pub use guard::{check_finite, StopFlag};
pub use optim::{Optimizer, OptimizerKind};
pub use rng::{RngState, TrainRng};
pub use schedule::{Phase, Schedule};
pub use trainer::{Observer, Outcome, Summary, Trainer};
