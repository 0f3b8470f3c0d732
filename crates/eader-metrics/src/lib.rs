//! Segmentation metrics for eader: the last stage of the evaluation flow
//! (dataset → models → attention maps → segmentation map → **metrics**).
//!
//! - [`ConfusionMatrix`] counts (ground truth, prediction) pixel pairs over
//!   `n_classes` classes, skipping ground-truth pixels equal to
//!   [`IGNORE_INDEX`]. Matrices merge by addition, so evaluation can run in
//!   parallel ([`ConfusionMatrix::from_par_maps`]) and give the same numbers as
//!   a serial pass, bit for bit (the counts are integers).
//! - [`SegmentationMetrics`] derives per-class IoU, precision and recall, the
//!   means and the pixel accuracy from one matrix; it serialises with serde and
//!   prints as a per-class table ([`SegmentationMetrics::table`]).
//! - [`AverageMeter`] is the running average used for losses.
//!
//! # Conventions
//! They follow the reference implementation (EADER's `metrics.py`), written
//! down in `../shared/docs/method.md`:
//! - `IoU_c = I_c / (U_c + 1e-10)`, with `I_c` and `U_c` accumulated over the
//!   whole split (not averaged per image). A class that never occurs in either
//!   prediction or ground truth gets IoU 0 and still counts in
//!   [`SegmentationMetrics::miou`], the mean over all classes: this is the
//!   number the reference prints, so our runs are comparable with the paper's
//!   code. [`SegmentationMetrics::miou_present`] averages only over classes
//!   present in the ground truth, the number most other codebases report, and
//!   equal to `miou` on VOC val where every class occurs.
//! - `precision_c = I_c / (predicted_c + 1e-10)`, `recall_c = I_c / (gt_c + 1e-10)`;
//!   their means run over the foreground classes (every class but
//!   [`BACKGROUND_INDEX`]).
//!
//! This crate has no tensor dependency: it works on `&[u8]` label maps.
#![warn(missing_docs)]

mod confusion;
mod error;
mod meter;
mod report;

pub use confusion::{ConfusionMatrix, BACKGROUND_INDEX, IGNORE_INDEX};
pub use error::{Error, Result};
pub use meter::AverageMeter;
pub use report::{ClassMetrics, SegmentationMetrics, EPSILON};
