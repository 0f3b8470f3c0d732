//! Metrics derived from a confusion matrix, their table and their JSON form.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::confusion::{ConfusionMatrix, BACKGROUND_INDEX};
use crate::error::{Error, Result};

/// Added to every denominator, as the reference does, so an empty class scores 0.
pub const EPSILON: f64 = 1e-10;

/// Scores of one class over a whole split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name (background first).
    pub name: String,
    /// `I / (U + 1e-10)`.
    pub iou: f64,
    /// `I / (predicted + 1e-10)`.
    pub precision: f64,
    /// `I / (ground truth + 1e-10)`.
    pub recall: f64,
    /// Correctly predicted pixels (`I`).
    pub intersection: u64,
    /// Pixels predicted or labelled as this class (`U`).
    pub union: u64,
    /// Pixels labelled as this class.
    pub ground_truth_pixels: u64,
    /// Pixels predicted as this class.
    pub predicted_pixels: u64,
}

/// Everything evaluation reports, derived from one [`ConfusionMatrix`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentationMetrics {
    /// One entry per class, background first.
    pub classes: Vec<ClassMetrics>,
    /// Mean IoU over all classes, a class absent from prediction and ground
    /// truth counting 0: the number the reference implementation prints.
    pub miou: f64,
    /// Mean IoU over the classes present in the ground truth.
    pub miou_present: f64,
    /// Mean precision over the foreground classes.
    pub mean_precision: f64,
    /// Mean recall over the foreground classes.
    pub mean_recall: f64,
    /// Correct pixels over scored pixels (0 when nothing was scored).
    pub pixel_accuracy: f64,
    /// Number of scored pixels.
    pub scored_pixels: u64,
}

impl SegmentationMetrics {
    /// Derives all metrics from `matrix`; `class_names` has one name per class.
    pub fn from_confusion<S: AsRef<str>>(
        matrix: &ConfusionMatrix,
        class_names: &[S],
    ) -> Result<Self> {
        let n = matrix.n_classes();
        if class_names.len() != n {
            return Err(Error::ClassNamesMismatch {
                names: class_names.len(),
                n_classes: n,
            });
        }
        let classes: Vec<ClassMetrics> = class_names
            .iter()
            .enumerate()
            .map(|(class_idx, name)| {
                let intersection = matrix.count(class_idx, class_idx);
                let ground_truth_pixels = matrix.ground_truth_pixels(class_idx);
                let predicted_pixels = matrix.predicted_pixels(class_idx);
                let union = ground_truth_pixels + predicted_pixels - intersection;
                let i = intersection as f64;
                ClassMetrics {
                    name: name.as_ref().to_owned(),
                    iou: i / (union as f64 + EPSILON),
                    precision: i / (predicted_pixels as f64 + EPSILON),
                    recall: i / (ground_truth_pixels as f64 + EPSILON),
                    intersection,
                    union,
                    ground_truth_pixels,
                    predicted_pixels,
                }
            })
            .collect();

        let mean = |values: &mut dyn Iterator<Item = f64>| {
            let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            if count == 0 {
                0.0
            } else {
                sum / count as f64
            }
        };
        let foreground = || {
            classes
                .iter()
                .enumerate()
                .filter(|(class_idx, _)| *class_idx != BACKGROUND_INDEX)
                .map(|(_, class)| class)
        };
        let scored_pixels = matrix.total();
        let correct: u64 = classes.iter().map(|class| class.intersection).sum();
        Ok(Self {
            miou: mean(&mut classes.iter().map(|c| c.iou)),
            miou_present: mean(
                &mut classes
                    .iter()
                    .filter(|c| c.ground_truth_pixels > 0)
                    .map(|c| c.iou),
            ),
            mean_precision: mean(&mut foreground().map(|c| c.precision)),
            mean_recall: mean(&mut foreground().map(|c| c.recall)),
            pixel_accuracy: if scored_pixels == 0 {
                0.0
            } else {
                correct as f64 / scored_pixels as f64
            },
            scored_pixels,
            classes,
        })
    }

    /// A per-class table for terminals: class, IoU, precision, recall (in %),
    /// then the means. The background row shows the background's own IoU
    /// (the reference printed the overall mean there by mistake) and no
    /// precision or recall, which are defined over the foreground classes.
    pub fn table(&self) -> String {
        let width = self
            .classes
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max("mIoU (present classes)".len());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>9}  {:>7}",
            "class", "IoU", "precision", "recall"
        );
        let _ = writeln!(out, "{}", "-".repeat(width + 31));
        for (class_idx, class) in self.classes.iter().enumerate() {
            if class_idx == BACKGROUND_INDEX {
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>7.2}  {:>9}  {:>7}",
                    class.name,
                    100.0 * class.iou,
                    "-",
                    "-"
                );
            } else {
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>7.2}  {:>9.2}  {:>7.2}",
                    class.name,
                    100.0 * class.iou,
                    100.0 * class.precision,
                    100.0 * class.recall
                );
            }
        }
        let _ = writeln!(out, "{}", "-".repeat(width + 31));
        let _ = writeln!(
            out,
            "{:<width$}  {:>7.2}  {:>9.2}  {:>7.2}",
            "mean (all classes)",
            100.0 * self.miou,
            100.0 * self.mean_precision,
            100.0 * self.mean_recall
        );
        let _ = writeln!(
            out,
            "{:<width$}  {:>7.2}",
            "mIoU (present classes)",
            100.0 * self.miou_present
        );
        let _ = write!(
            out,
            "{:<width$}  {:>7.2}",
            "pixel accuracy",
            100.0 * self.pixel_accuracy
        );
        out
    }
}

impl std::fmt::Display for SegmentationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.table())
    }
}
