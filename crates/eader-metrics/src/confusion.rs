//! The confusion matrix: integer pixel counts per (ground truth, prediction) pair.

use std::ops::{Add, AddAssign};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::report::SegmentationMetrics;

/// Ground-truth label of pixels that are not scored (VOC's void border).
pub const IGNORE_INDEX: u8 = 255;

/// Class index of the background, left out of the mean precision and recall.
pub const BACKGROUND_INDEX: usize = 0;

/// Pixels counted in `u32` scratch before they are flushed into the `u64` matrix.
const FLUSH_EVERY: usize = 1 << 30;

/// Number of interleaved scratch histograms: consecutive pixels usually share
/// a label pair, and counting them into separate tables keeps the increments
/// independent instead of waiting on each other's stores.
const LANES: usize = 4;

/// Pixel counts over `n_classes` classes: `count(gt, pred)` is the number of
/// pixels of ground-truth class `gt` predicted as `pred`.
///
/// Ground-truth pixels equal to [`IGNORE_INDEX`] are skipped. Counts are
/// integers, so matrices built in any order or split and then merged are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    n_classes: usize,
    /// Row-major `(n_classes, n_classes)`: rows are ground truth, columns prediction.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix over `n_classes` classes (1..=255; 255 is the ignore index).
    pub fn new(n_classes: usize) -> Result<Self> {
        if n_classes == 0 || n_classes > IGNORE_INDEX as usize {
            return Err(Error::InvalidClassCount(n_classes));
        }
        Ok(Self {
            n_classes,
            counts: vec![0; n_classes * n_classes],
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Pixels of ground-truth class `ground_truth` predicted as `prediction`.
    ///
    /// # Panics
    /// When either index is `>= n_classes` (a programming error, not bad data).
    pub fn count(&self, ground_truth: usize, prediction: usize) -> u64 {
        assert!(ground_truth < self.n_classes && prediction < self.n_classes);
        self.counts[ground_truth * self.n_classes + prediction]
    }

    /// All counts, row-major `(n_classes, n_classes)`, rows = ground truth.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Number of scored pixels (ignored ones excluded).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Forgets all counts.
    pub fn reset(&mut self) {
        self.counts.fill(0);
    }

    /// Adds one (prediction, ground truth) pair of label maps of equal length.
    ///
    /// Errors, leaving the matrix unchanged, when the lengths differ, a
    /// prediction is not in `0..n_classes`, or a ground-truth label is neither
    /// in `0..n_classes` nor [`IGNORE_INDEX`].
    pub fn update(&mut self, prediction: &[u8], ground_truth: &[u8]) -> Result<()> {
        if prediction.len() != ground_truth.len() {
            return Err(Error::LengthMismatch {
                prediction: prediction.len(),
                ground_truth: ground_truth.len(),
            });
        }
        self.validate(prediction, ground_truth)?;

        let n = self.n_classes;
        // Row offset of every ground-truth label; ignored pixels go to a discard row `n`.
        let mut row_offset = [0u32; 256];
        for (label, offset) in row_offset.iter_mut().enumerate() {
            *offset = (label.min(n) * n) as u32;
        }
        let table = (n + 1) * n;
        let mut scratch = vec![0u32; LANES * table];
        for (pred_chunk, gt_chunk) in prediction
            .chunks(FLUSH_EVERY)
            .zip(ground_truth.chunks(FLUSH_EVERY))
        {
            let (lane0, rest) = scratch.split_at_mut(table);
            let (lane1, rest) = rest.split_at_mut(table);
            let (lane2, lane3) = rest.split_at_mut(table);
            let pred_quads = pred_chunk.chunks_exact(LANES);
            let gt_quads = gt_chunk.chunks_exact(LANES);
            let (pred_tail, gt_tail) = (pred_quads.remainder(), gt_quads.remainder());
            for (p, g) in pred_quads.zip(gt_quads) {
                lane0[row_offset[g[0] as usize] as usize + p[0] as usize] += 1;
                lane1[row_offset[g[1] as usize] as usize + p[1] as usize] += 1;
                lane2[row_offset[g[2] as usize] as usize + p[2] as usize] += 1;
                lane3[row_offset[g[3] as usize] as usize + p[3] as usize] += 1;
            }
            for (&p, &g) in pred_tail.iter().zip(gt_tail) {
                lane0[row_offset[g as usize] as usize + p as usize] += 1;
            }
            for lane in scratch.chunks_exact_mut(table) {
                for (count, partial) in self.counts.iter_mut().zip(&lane[..n * n]) {
                    *count += u64::from(*partial);
                }
                lane.fill(0);
            }
        }
        Ok(())
    }

    /// Checks every label; on failure names the first offending pixel.
    fn validate(&self, prediction: &[u8], ground_truth: &[u8]) -> Result<()> {
        let n = self.n_classes as u8;
        // Branch-free reductions (vectorised by the compiler); the slow search
        // for the culprit only runs on bad data.
        let max_prediction = prediction.iter().fold(0u8, |acc, &p| acc.max(p));
        if usize::from(max_prediction) >= self.n_classes {
            let pixel = prediction.iter().position(|&p| p >= n).unwrap_or(0);
            return Err(Error::PredictionOutOfRange {
                label: prediction[pixel],
                pixel,
                n_classes: self.n_classes,
            });
        }
        let invalid_gt = ground_truth
            .iter()
            .fold(0u8, |acc, &g| acc | u8::from(g >= n && g != IGNORE_INDEX));
        if invalid_gt != 0 {
            let pixel = ground_truth
                .iter()
                .position(|&g| g >= n && g != IGNORE_INDEX)
                .unwrap_or(0);
            return Err(Error::GroundTruthOutOfRange {
                label: ground_truth[pixel],
                pixel,
                n_classes: self.n_classes,
            });
        }
        Ok(())
    }

    /// Adds the counts of `other` (over the same classes) to this matrix.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if self.n_classes != other.n_classes {
            return Err(Error::ClassCountMismatch {
                left: self.n_classes,
                right: other.n_classes,
            });
        }
        for (count, other) in self.counts.iter_mut().zip(&other.counts) {
            *count += other;
        }
        Ok(())
    }

    /// Builds one matrix from many (prediction, ground truth) pairs on all
    /// rayon threads. Equal, bit for bit, to updating one matrix serially.
    pub fn from_par_maps<I, P, G>(n_classes: usize, maps: I) -> Result<Self>
    where
        I: IntoParallelIterator<Item = (P, G)>,
        P: AsRef<[u8]>,
        G: AsRef<[u8]>,
    {
        let empty = Self::new(n_classes)?;
        maps.into_par_iter()
            .try_fold(
                || empty.clone(),
                |mut matrix, (prediction, ground_truth)| {
                    matrix.update(prediction.as_ref(), ground_truth.as_ref())?;
                    Ok(matrix)
                },
            )
            .try_reduce(
                || empty.clone(),
                |mut left, right| {
                    left.merge(&right)?;
                    Ok(left)
                },
            )
    }

    /// Pixels whose ground truth is `class_idx` (the row sum).
    pub fn ground_truth_pixels(&self, class_idx: usize) -> u64 {
        let n = self.n_classes;
        self.counts[class_idx * n..(class_idx + 1) * n].iter().sum()
    }

    /// Pixels predicted as `class_idx` (the column sum).
    pub fn predicted_pixels(&self, class_idx: usize) -> u64 {
        let n = self.n_classes;
        (0..n).map(|row| self.counts[row * n + class_idx]).sum()
    }

    /// Per-class and mean metrics, naming the classes `class_names`
    /// (one name per class, background first).
    pub fn metrics<S: AsRef<str>>(&self, class_names: &[S]) -> Result<SegmentationMetrics> {
        SegmentationMetrics::from_confusion(self, class_names)
    }
}

impl AddAssign<&ConfusionMatrix> for ConfusionMatrix {
    /// # Panics
    /// When the class counts differ; use [`ConfusionMatrix::merge`] to get an error instead.
    fn add_assign(&mut self, other: &ConfusionMatrix) {
        if let Err(error) = self.merge(other) {
            panic!("{error}");
        }
    }
}

impl Add for ConfusionMatrix {
    type Output = ConfusionMatrix;

    /// # Panics
    /// When the class counts differ; use [`ConfusionMatrix::merge`] to get an error instead.
    fn add(mut self, other: ConfusionMatrix) -> ConfusionMatrix {
        self += &other;
        self
    }
}
