//! Many segmentation-map thresholds in one pass over the data.
//!
//! The maps of an image are computed once; the segmentation map at any
//! threshold follows from two numbers per pixel: the winning class `c*` of
//! the argmax over `[1e-5, g_0, ..., g_{P-1}]` (ties to the lowest label) and
//! its value `v*`. At threshold `t` the pixel is `c*` when `v* >= t` and
//! background otherwise: zeroing the values below `t` never changes the
//! winner among those left, and when the winner itself falls below `t`
//! every other value does too: [`BestLabels`] (the one segmentation rule,
//! in [`crate::segmentation`]) holds `(c*, v*)`.
//!
//! [`SweepScores`] keeps one confusion matrix per threshold, split between a
//! selection subset and the rest, so the oracle-best threshold (chosen on the
//! ground truth of the whole split) can be reported next to numbers that do
//! not peek: the fixed default threshold, and a threshold chosen on the
//! selection subset and scored on the other images (`--select-on N`).

use eader_metrics::{ConfusionMatrix, SegmentationMetrics};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::segmentation::BestLabels;

/// Seed of the held-out selection subset (fixed: the subset is part of the protocol).
pub const SELECTION_SEED: u64 = 0x5e1ec7;

/// Parses `A:B:STEP` into the thresholds `A, A + STEP, ..., <= B` (each in
/// `[0, 1]`, rounded to 1e-6 so `0.1:0.3:0.1` gives `0.1, 0.2, 0.3`).
pub fn parse_thresholds(spec: &str) -> std::result::Result<Vec<f32>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [a, b, step] = parts.as_slice() else {
        return Err(format!(
            "expected A:B:STEP (e.g. 0.05:0.95:0.05), got {spec:?}"
        ));
    };
    let num = |s: &str| -> std::result::Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} in {spec:?} is not a number"))
    };
    let (a, b, step) = (num(a)?, num(b)?, num(step)?);
    if !(0.0..=1.0).contains(&a) || !(0.0..=1.0).contains(&b) || a > b {
        return Err(format!("{spec:?}: need 0 <= A <= B <= 1"));
    }
    if !(step.is_finite() && step > 0.0) {
        return Err(format!("{spec:?}: STEP must be > 0"));
    }
    let n = ((b - a) / step + 1e-9).floor() as usize + 1;
    if n > 1000 {
        return Err(format!("{spec:?} gives {n} thresholds, at most 1000"));
    }
    Ok((0..n)
        .map(|i| ((a + i as f64 * step) * 1e6).round() / 1e6)
        .map(|t| t as f32)
        .collect())
}

/// The thresholds to score: the sweep plus the fixed one, sorted, without
/// duplicates; returns them and the fixed threshold's index.
pub fn merge_thresholds(sweep: &[f32], fixed: f32) -> (Vec<f32>, usize) {
    let mut all: Vec<f32> = sweep.to_vec();
    all.push(fixed);
    all.sort_by(f32::total_cmp);
    all.dedup_by(|a, b| (*a - *b).abs() < 1e-7);
    let index = all
        .iter()
        .position(|t| (t - fixed).abs() < 1e-7)
        .unwrap_or(0);
    (all, index)
}

/// Confusion matrices per threshold, for the selection subset and the rest,
/// plus the all-background baseline.
#[derive(Debug, Clone)]
pub struct SweepScores {
    thresholds: Vec<f32>,
    selection: Vec<ConfusionMatrix>,
    rest: Vec<ConfusionMatrix>,
    baseline: ConfusionMatrix,
    selection_images: usize,
    rest_images: usize,
}

impl SweepScores {
    /// Empty scores over `n_classes` labels (background included).
    pub fn new(thresholds: Vec<f32>, n_classes: usize) -> Result<Self> {
        let m = ConfusionMatrix::new(n_classes)?;
        Ok(Self {
            selection: vec![m.clone(); thresholds.len()],
            rest: vec![m.clone(); thresholds.len()],
            baseline: m,
            thresholds,
            selection_images: 0,
            rest_images: 0,
        })
    }

    /// The thresholds.
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Adds one image from its best labels and ground truth `(H, W)`.
    pub fn add(
        &mut self,
        best: &BestLabels,
        ground_truth: &[u8],
        in_selection: bool,
    ) -> Result<()> {
        let mut prediction = Vec::with_capacity(ground_truth.len());
        let matrices = if in_selection {
            &mut self.selection
        } else {
            &mut self.rest
        };
        for (t, m) in self.thresholds.iter().zip(matrices.iter_mut()) {
            best.prediction_into(*t, &mut prediction);
            m.update(&prediction, ground_truth)?;
        }
        self.count_image(ground_truth, in_selection)
    }

    /// Adds one image whose segmentation map is only known at one threshold
    /// (a saved prediction): every threshold gets that map.
    pub fn add_prediction(
        &mut self,
        prediction: &[u8],
        ground_truth: &[u8],
        in_selection: bool,
    ) -> Result<()> {
        let matrices = if in_selection {
            &mut self.selection
        } else {
            &mut self.rest
        };
        for m in matrices.iter_mut() {
            m.update(prediction, ground_truth)?;
        }
        self.count_image(ground_truth, in_selection)
    }

    fn count_image(&mut self, ground_truth: &[u8], in_selection: bool) -> Result<()> {
        self.baseline
            .update(&vec![0u8; ground_truth.len()], ground_truth)?;
        if in_selection {
            self.selection_images += 1;
        } else {
            self.rest_images += 1;
        }
        Ok(())
    }

    /// Adds the counts of `other` (same thresholds and classes).
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if self.thresholds != other.thresholds {
            return Err(Error::setting(
                "thresholds",
                "cannot merge sweeps over different thresholds",
            ));
        }
        for (a, b) in self.selection.iter_mut().zip(&other.selection) {
            a.merge(b)?;
        }
        for (a, b) in self.rest.iter_mut().zip(&other.rest) {
            a.merge(b)?;
        }
        self.baseline.merge(&other.baseline)?;
        self.selection_images += other.selection_images;
        self.rest_images += other.rest_images;
        Ok(())
    }

    /// Images added.
    pub fn images(&self) -> usize {
        self.selection_images + self.rest_images
    }

    /// The metrics over the whole split at threshold index `i`.
    pub fn metrics_at<S: AsRef<str>>(&self, i: usize, names: &[S]) -> Result<SegmentationMetrics> {
        let mut all = self.selection[i].clone();
        all.merge(&self.rest[i])?;
        Ok(all.metrics(names)?)
    }

    /// The metrics of predicting background everywhere.
    pub fn baseline_metrics<S: AsRef<str>>(&self, names: &[S]) -> Result<SegmentationMetrics> {
        Ok(self.baseline.metrics(names)?)
    }

    /// The report: every threshold's numbers, the oracle, the fixed threshold
    /// (index `fixed`), and the held-out choice when a selection subset exists.
    pub fn report<S: AsRef<str>>(&self, names: &[S], fixed: usize) -> Result<SweepReport> {
        let mut entries = Vec::with_capacity(self.thresholds.len());
        for (i, &t) in self.thresholds.iter().enumerate() {
            let m = self.metrics_at(i, names)?;
            entries.push(ThresholdScore {
                threshold: t,
                miou: m.miou,
                miou_present: m.miou_present,
                mean_precision: m.mean_precision,
                mean_recall: m.mean_recall,
            });
        }
        let best = |scores: &[f64]| -> usize {
            // First maximum: ties go to the lowest threshold.
            let mut b = 0;
            for (i, &s) in scores.iter().enumerate() {
                if s > scores[b] {
                    b = i;
                }
            }
            b
        };
        let all: Vec<f64> = entries.iter().map(|e| e.miou).collect();
        let oracle_i = best(&all);
        let held_out = if self.selection_images > 0 {
            let on_selection: Vec<f64> = self
                .selection
                .iter()
                .map(|m| m.metrics(names).map(|x| x.miou))
                .collect::<std::result::Result<_, _>>()?;
            let chosen = best(&on_selection);
            let held_out = self.rest[chosen].metrics(names)?;
            let fixed_held_out = self.rest[fixed].metrics(names)?;
            Some(HeldOut {
                threshold: self.thresholds[chosen],
                selection_images: self.selection_images,
                selection_miou: on_selection[chosen],
                held_out_images: self.rest_images,
                held_out_miou: held_out.miou,
                fixed_held_out_miou: fixed_held_out.miou,
            })
        } else {
            None
        };
        Ok(SweepReport {
            fixed: Choice {
                threshold: self.thresholds[fixed],
                miou: all[fixed],
            },
            oracle: Choice {
                threshold: self.thresholds[oracle_i],
                miou: all[oracle_i],
            },
            held_out,
            baseline_miou: self.baseline.metrics(names)?.miou,
            entries,
        })
    }

    /// CSV of the sweep: `threshold,miou,miou_present,mean_precision,mean_recall`.
    pub fn csv(report: &SweepReport) -> String {
        let mut out = String::from("threshold,miou,miou_present,mean_precision,mean_recall\n");
        for e in &report.entries {
            out.push_str(&format!(
                "{},{:.6},{:.6},{:.6},{:.6}\n",
                e.threshold, e.miou, e.miou_present, e.mean_precision, e.mean_recall
            ));
        }
        out
    }
}

/// Which images form the selection subset: `n` of `total`, drawn with a
/// fixed seed ([`SELECTION_SEED`]), as a membership mask in split order.
pub fn selection_mask(total: usize, n: usize) -> Result<Vec<bool>> {
    if n == 0 || n >= total {
        return Err(Error::setting(
            "select-on",
            format!("must lie in 1..{total} (the split has {total} images), got {n}"),
        ));
    }
    let mut order: Vec<usize> = (0..total).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SELECTION_SEED));
    let mut mask = vec![false; total];
    for &i in &order[..n] {
        mask[i] = true;
    }
    Ok(mask)
}

/// One threshold's scores over the whole split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdScore {
    /// The threshold.
    pub threshold: f32,
    /// mIoU over all classes (the reference's number).
    pub miou: f64,
    /// mIoU over the classes present in the ground truth.
    pub miou_present: f64,
    /// Mean foreground precision.
    pub mean_precision: f64,
    /// Mean foreground recall.
    pub mean_recall: f64,
}

/// A threshold and its mIoU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The threshold.
    pub threshold: f32,
    /// mIoU (all classes) over the whole split.
    pub miou: f64,
}

/// A threshold chosen on the selection subset, scored on the other images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOut {
    /// The threshold best on the selection subset.
    pub threshold: f32,
    /// Images in the selection subset.
    pub selection_images: usize,
    /// Its mIoU on the selection subset (peeks: for reference only).
    pub selection_miou: f64,
    /// Images scored with it.
    pub held_out_images: usize,
    /// Its mIoU on those images: a number that does not peek.
    pub held_out_miou: f64,
    /// The fixed threshold's mIoU on the same held-out images, for comparison.
    pub fixed_held_out_miou: f64,
}

/// The results of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// Every threshold, ascending.
    pub entries: Vec<ThresholdScore>,
    /// The best threshold on the whole split (peeks at the ground truth).
    pub oracle: Choice,
    /// The fixed threshold (the protocol's or `--threshold`): does not peek.
    pub fixed: Choice,
    /// The threshold chosen on a held-out subset, when `--select-on` is given.
    pub held_out: Option<HeldOut>,
    /// mIoU of predicting background everywhere.
    pub baseline_miou: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segmentation::BestLabels;

    #[test]
    fn parses_sweeps() {
        assert_eq!(
            parse_thresholds("0.1:0.3:0.1").unwrap(),
            vec![0.1, 0.2, 0.3]
        );
        assert_eq!(parse_thresholds("0.05:0.95:0.05").unwrap().len(), 19);
        assert_eq!(parse_thresholds("0.3:0.3:0.1").unwrap(), vec![0.3]);
        for bad in [
            "0.1:0.3",
            "a:0.3:0.1",
            "0.5:0.3:0.1",
            "0.1:1.5:0.1",
            "0:1:0",
            "0:1:1e-6",
        ] {
            assert!(parse_thresholds(bad).is_err(), "{bad}");
        }
        let (all, i) = merge_thresholds(&[0.1, 0.2, 0.3], 0.3);
        assert_eq!((all, i), (vec![0.1, 0.2, 0.3], 2));
        let (all, i) = merge_thresholds(&[0.1, 0.2], 0.15);
        assert_eq!((all, i), (vec![0.1, 0.15, 0.2], 1));
    }

    #[test]
    fn sweep_scores_and_held_out_choice() {
        // Two 1x4 images, one class (label 1). The map is a ramp; the ground
        // truth covers the pixels with values >= 0.5 in image A, >= 0.25 in B.
        let names = ["background", "thing"];
        let map = [0.0f32, 0.25, 0.5, 0.75];
        let best = BestLabels::new(&map, &[0], 4).unwrap();
        let gt_a = [0u8, 0, 1, 1];
        let gt_b = [0u8, 1, 1, 255];
        let (thresholds, fixed) = merge_thresholds(&parse_thresholds("0.2:0.6:0.2").unwrap(), 0.2);
        assert_eq!((thresholds.clone(), fixed), (vec![0.2, 0.4, 0.6], 0));
        let mut a = SweepScores::new(thresholds.clone(), 2).unwrap();
        a.add(&best, &gt_a, true).unwrap();
        let mut b = SweepScores::new(thresholds, 2).unwrap();
        b.add(&best, &gt_b, false).unwrap();
        a.merge(&b).unwrap();
        assert_eq!(a.images(), 2);
        let r = a.report(&names, fixed).unwrap();
        // t = 0.2: A predicts 0,1,1,1 (bg I1 U2, thing I2 U3), B 0,1,1,void
        // (perfect: bg I1 U1, thing I2 U2).
        let at_02 = (2.0 / 3.0 + 4.0 / 5.0) / 2.0;
        // t = 0.4: A perfect (bg I2 U2, thing I2 U2), B 0,0,1 (bg I1 U2, thing I1 U2).
        let at_04 = (3.0 / 4.0 + 3.0 / 4.0) / 2.0;
        // t = 0.6: A 0,0,0,1 (bg I2 U3, thing I1 U2), B 0,0,0 (bg I1 U3, thing I0 U2).
        let at_06 = (3.0 / 6.0 + 1.0 / 4.0) / 2.0;
        for (e, want) in r.entries.iter().zip([at_02, at_04, at_06]) {
            assert!((e.miou - want).abs() < 1e-9, "{e:?} vs {want}");
        }
        assert_eq!((r.oracle.threshold, r.fixed.threshold), (0.4, 0.2));
        assert!((r.oracle.miou - at_04).abs() < 1e-9);
        assert!((r.fixed.miou - at_02).abs() < 1e-9);
        // Chosen on A (0.4 is perfect there), scored on B alone.
        let h = r.held_out.clone().unwrap();
        assert_eq!(
            (h.threshold, h.selection_images, h.held_out_images),
            (0.4, 1, 1)
        );
        assert!((h.selection_miou - 1.0).abs() < 1e-9);
        assert!((h.held_out_miou - 0.5).abs() < 1e-9);
        assert!((h.fixed_held_out_miou - 1.0).abs() < 1e-9);
        let csv = SweepScores::csv(&r);
        assert!(csv.starts_with("threshold,miou,"), "{csv}");
        assert_eq!(csv.lines().count(), 4);
        // Background baseline: bg I=3 U=7 (A: 2 of 4, B: 1 of 3), thing 0.
        assert!((r.baseline_miou - (3.0 / 7.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn selection_subsets() {
        let m = selection_mask(10, 3).unwrap();
        assert_eq!(m.iter().filter(|&&x| x).count(), 3);
        assert_eq!(m, selection_mask(10, 3).unwrap());
        assert!(selection_mask(10, 10).is_err());
        assert!(selection_mask(10, 0).is_err());
    }
}
