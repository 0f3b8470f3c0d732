//! The one segmentation rule: per-class attention maps to a segmentation map
//! (method.md, "Evaluation").
//!
//! Each pixel takes the argmax over `[BACKGROUND_SCORE, map_0, ..., map_P-1]`
//! with the values below the threshold zeroed and ties going to the lowest
//! label, as `torch.argmax` does on the reference's stacked tensor. The rule
//! is computed in two steps so that any number of thresholds cost one pass
//! over the maps: [`BestLabels::new`] finds each pixel's winning label and
//! value, [`BestLabels::prediction`] applies a threshold (zeroing the values
//! below it never changes the winner among those left, and when the winner
//! itself falls below it every other value does too). Training's validation,
//! `eader evaluate`, `eader infer` and the threshold sweep all use it.

use crate::error::{Error, Result};

/// The constant background score stacked under the class maps (the reference's
/// `combined_gcams[0] = 1e-5`).
pub const BACKGROUND_SCORE: f32 = 1e-5;

/// Per pixel, the winning label `c* + 1` (0 when no map beats the
/// background score) and its value `v*`.
#[derive(Debug, Clone, PartialEq)]
pub struct BestLabels {
    /// Winning label per pixel (`(H, W)`, 0 = background).
    pub label: Vec<u8>,
    /// Its map value (the background score where the label is 0).
    pub value: Vec<f32>,
}

impl BestLabels {
    /// From `P` maps of `pixels` values each (`maps[p * pixels + i]`, values
    /// in `[0, 1]`) of the 0-based foreground classes `classes` (any order;
    /// ties go to the lowest class). A class that does not fit a `u8` label
    /// map or maps of the wrong length are an [`Error::Mismatch`].
    pub fn new(maps: &[f32], classes: &[usize], pixels: usize) -> Result<Self> {
        if maps.len() != classes.len() * pixels {
            return Err(Error::mismatch(
                "segmentation",
                format!(
                    "{} map values for {} classes of {pixels} pixels",
                    maps.len(),
                    classes.len()
                ),
            ));
        }
        if let Some(&c) = classes.iter().find(|&&c| c >= 255) {
            return Err(Error::mismatch(
                "segmentation",
                format!("class {c} does not fit a u8 label map"),
            ));
        }
        let mut order: Vec<usize> = (0..classes.len()).collect();
        order.sort_by_key(|&i| classes[i]);
        let mut label = vec![0u8; pixels];
        let mut value = vec![BACKGROUND_SCORE; pixels];
        for &i in &order {
            let lab = (classes[i] + 1) as u8;
            let map = &maps[i * pixels..(i + 1) * pixels];
            for ((l, v), &m) in label.iter_mut().zip(value.iter_mut()).zip(map) {
                if m > *v {
                    *v = m;
                    *l = lab;
                }
            }
        }
        Ok(Self { label, value })
    }

    /// The segmentation map at `threshold` into `out`.
    pub fn prediction_into(&self, threshold: f32, out: &mut Vec<u8>) {
        out.clear();
        out.extend(
            self.label
                .iter()
                .zip(&self.value)
                .map(|(&l, &v)| if v >= threshold { l } else { 0 }),
        );
    }

    /// The segmentation map `(H, W)` at `threshold`: 0 background, class `c`
    /// -> `c + 1`.
    pub fn prediction(&self, threshold: f32) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.label.len());
        self.prediction_into(threshold, &mut out);
        out
    }
}

/// The segmentation map of one image's maps at one threshold:
/// `BestLabels::new(maps, classes, pixels)?.prediction(threshold)`.
pub fn segmentation_map(
    maps: &[f32],
    classes: &[usize],
    pixels: usize,
    threshold: f32,
) -> Result<Vec<u8>> {
    Ok(BestLabels::new(maps, classes, pixels)?.prediction(threshold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The reference's rule written out literally: zero the values below the
    /// threshold, stack the background score on top, argmax (first maximum).
    fn reference_rule(maps: &[f32], classes: &[usize], pixels: usize, t: f32) -> Vec<u8> {
        let mut order: Vec<usize> = (0..classes.len()).collect();
        order.sort_by_key(|&i| classes[i]);
        (0..pixels)
            .map(|px| {
                let mut stacked = vec![(0u8, BACKGROUND_SCORE)];
                for &i in &order {
                    let v = maps[i * pixels + px];
                    stacked.push(((classes[i] + 1) as u8, if v < t { 0.0 } else { v }));
                }
                let mut best = stacked[0];
                for &(l, v) in &stacked[1..] {
                    if v > best.1 {
                        best = (l, v);
                    }
                }
                best.0
            })
            .collect()
    }

    #[test]
    fn argmax_with_threshold_and_background() {
        // 1x4 image, classes 3 and 0.
        let maps = [
            0.9f32, 0.2, 0.5, 0.0, /* class 0: */ 0.8, 0.25, 0.5, 0.0,
        ];
        // px0: 0.9 (class 3) wins; px1: both below threshold -> background;
        // px2: tie 0.5 -> lowest label (class 0 -> 1); px3: background.
        assert_eq!(
            segmentation_map(&maps, &[3, 0], 4, 0.3).unwrap(),
            vec![4, 0, 1, 0]
        );
        // Threshold 0: a value of 0.2 beats the background's 1e-5.
        assert_eq!(
            segmentation_map(&maps, &[3, 0], 4, 0.0).unwrap(),
            vec![4, 1, 1, 0]
        );
        // No maps: all background.
        assert_eq!(segmentation_map(&[], &[], 4, 0.3).unwrap(), vec![0; 4]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let err = BestLabels::new(&[0.5; 3], &[1], 4).unwrap_err().to_string();
        assert!(err.contains("3 map values for 1 classes"), "{err}");
        assert!(BestLabels::new(&[0.5; 3], &[], 3).is_err());
        assert!(BestLabels::new(&[0.5; 3], &[300], 3).is_err());
    }

    #[test]
    fn two_steps_equal_the_reference_rule_at_every_threshold() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for trial in 0..50 {
            let pixels = 15;
            let p = trial % 4;
            let mut classes: Vec<usize> = (0..20).collect();
            classes.shuffle(&mut rng);
            classes.truncate(p);
            // Coarse values make ties and exact-threshold hits common.
            let maps: Vec<f32> = (0..p * pixels)
                .map(|_| rng.random_range(0..=10) as f32 / 10.0)
                .collect();
            let best = BestLabels::new(&maps, &classes, pixels).unwrap();
            for t in [0.0, 1e-6, 0.1, 0.3, 0.5, 0.9, 1.0] {
                let want = reference_rule(&maps, &classes, pixels, t);
                assert_eq!(best.prediction(t), want, "trial {trial}, t {t}");
            }
        }
    }
}
