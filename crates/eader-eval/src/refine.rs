//! Dense-CRF refinement of an image's maps (`eader evaluate --crf PRESET`),
//! as the WSSS codebases the presets are named after refine CAMs.
//!
//! The CRF runs over the image's own labels: background and the classes
//! that have maps (`P + 1` labels). Its unary comes from the maps:
//! - `psa` and `deeplab`: scores, psa's `[(1 - max_c map_c)^alpha, maps]`
//!   through `-log(clip(p))` (jiwoon-ahn/psa `infer_cls.py`; alpha 4 is its
//!   "low" background, 32 its "high" one);
//! - `irn`: hard labels, the argmax of `[threshold, maps]` believed with
//!   probability 0.7 (jiwoon-ahn/irn `cam_to_ir_label.py`), at the pass's
//!   fixed threshold.
//!
//! The refined label map is the argmax of the CRF's marginals.

use eader_crf::{CrfConfig, CrfImage, Preset};

use crate::error::{Error, Result};

/// How the maps become the CRF's unary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CrfUnary {
    /// psa's background score `(1 - max_c map_c)^alpha` stacked on the maps, as probabilities.
    Scores {
        /// The exponent of the background score.
        alpha: f32,
    },
    /// irn's hard labels at `threshold`, believed with probability `gt_prob`.
    Labels {
        /// Background score the maps must beat.
        threshold: f32,
        /// Confidence in each pixel's label.
        gt_prob: f64,
    },
}

/// A CRF refinement: the preset's kernels and how the unary is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrfRefinement {
    /// The preset the kernels come from.
    pub preset: Preset,
    /// Kernels and iterations.
    pub config: CrfConfig,
    /// The unary.
    pub unary: CrfUnary,
}

impl CrfRefinement {
    /// The preset's refinement: `psa` and `deeplab` on scores with background
    /// exponent `alpha`, `irn` on hard labels at `threshold` (confidence 0.7).
    pub fn from_preset(preset: Preset, threshold: f32, alpha: f32) -> Result<Self> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::setting(
                "crf-alpha",
                format!("must be a finite number > 0, got {alpha}"),
            ));
        }
        let unary = match preset {
            Preset::Irn => CrfUnary::Labels {
                threshold,
                gt_prob: 0.7,
            },
            Preset::Psa | Preset::Deeplab => CrfUnary::Scores { alpha },
        };
        Ok(Self {
            preset,
            config: preset.config(),
            unary,
        })
    }

    /// One line for the protocol card: preset, kernels, iterations, unary.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let kernel = |name: &str, parts: Vec<f32>| {
            let parts: Vec<String> = parts.iter().map(|p| format!("{p}")).collect();
            format!("{name} {}", parts.join("/"))
        };
        let mut kernels = Vec::new();
        if let Some(g) = c.gaussian {
            kernels.push(kernel("gaussian", vec![g.sxy, g.compat]));
        }
        if let Some(b) = c.bilateral {
            kernels.push(kernel("bilateral", vec![b.sxy, b.srgb, b.compat]));
        }
        let unary = match self.unary {
            CrfUnary::Scores { alpha } => format!("background (1 - max)^{alpha}"),
            CrfUnary::Labels { threshold, gt_prob } => {
                format!("labels at {threshold}, confidence {gt_prob}")
            }
        };
        format!(
            "crf {} ({}, {} iterations, {unary})",
            self.preset,
            kernels.join(", "),
            c.iterations
        )
    }

    /// The refined segmentation map `(H, W)` of one image: `rgb` `(H, W, 3)`,
    /// `maps` `(P, H, W)` of the 0-based `classes`. Labels as the segmentation
    /// rule's: 0 background, class `c` -> `c + 1`.
    pub fn refine(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        classes: &[usize],
        maps: &[f32],
    ) -> Result<Vec<u8>> {
        let pixels = width * height;
        if maps.len() != classes.len() * pixels || rgb.len() != 3 * pixels {
            return Err(Error::mismatch(
                "crf",
                format!(
                    "{} map values for {} classes and {} RGB bytes of a {width}x{height} image",
                    maps.len(),
                    classes.len(),
                    rgb.len()
                ),
            ));
        }
        if classes.is_empty() {
            return Ok(vec![0; pixels]);
        }
        let p = classes.len();
        let crf_err = |e: eader_crf::Error| Error::mismatch("crf", e.to_string());
        let unary = match self.unary {
            CrfUnary::Scores { alpha } => {
                let scores = eader_crf::psa_background(maps, p, alpha).map_err(crf_err)?;
                eader_crf::unary_from_softmax(&scores).map_err(crf_err)?
            }
            CrfUnary::Labels { threshold, gt_prob } => {
                let labels =
                    eader_crf::labels_from_threshold(maps, p, threshold).map_err(crf_err)?;
                eader_crf::unary_from_labels(&labels, p + 1, gt_prob, false).map_err(crf_err)?
            }
        };
        let q = self
            .config
            .run(&CrfImage {
                width,
                height,
                n_labels: p + 1,
                rgb,
                unary: &unary,
            })
            .map_err(crf_err)?;
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by_key(|&i| classes[i]);
        Ok((0..pixels)
            .map(|px| {
                let (mut best, mut value) = (0u8, q[px]);
                for &i in &order {
                    let v = q[(i + 1) * pixels + px];
                    if v > value {
                        (best, value) = ((classes[i] + 1) as u8, v);
                    }
                }
                best
            })
            .collect())
    }
}

/// IRN's threshold for confident foreground (`--conf_fg_thres`).
pub const IRN_FOREGROUND_THRESHOLD: f32 = 0.30;
/// IRN's threshold for confident background (`--conf_bg_thres`).
pub const IRN_BACKGROUND_THRESHOLD: f32 = 0.05;
/// The label of pixels whose relation is unknown (neither confident).
pub const UNKNOWN: u8 = 255;

/// IRN's inter-pixel relation labels of one image (`cam_to_ir_label.py`):
/// the `irn` CRF of the maps at `foreground` (0.30) gives the confident
/// foreground, the same CRF at `background` (0.05) the confident background;
/// a pixel is its confident class, else background where both CRFs say
/// background, else [`UNKNOWN`]. Arguments as [`CrfRefinement::refine`].
pub fn relation_labels(
    rgb: &[u8],
    width: usize,
    height: usize,
    classes: &[usize],
    maps: &[f32],
    foreground: f32,
    background: f32,
) -> Result<Vec<u8>> {
    if !(0.0..=1.0).contains(&background) || !(background..=1.0).contains(&foreground) {
        return Err(Error::setting(
            "relation thresholds",
            format!("need 0 <= background ({background}) <= foreground ({foreground}) <= 1"),
        ));
    }
    let crf = |threshold| -> Result<Vec<u8>> {
        CrfRefinement::from_preset(Preset::Irn, threshold, 1.0)?
            .refine(rgb, width, height, classes, maps)
    };
    let (fg, bg) = (crf(foreground)?, crf(background)?);
    Ok(combine_relations(&fg, &bg))
}

/// IRN's rule: `label = fg; label[fg == 0] = 255; label[fg + bg == 0] = 0`.
fn combine_relations(fg: &[u8], bg: &[u8]) -> Vec<u8> {
    fg.iter()
        .zip(bg)
        .map(|(&f, &b)| match (f, b) {
            (0, 0) => 0,
            (0, _) => UNKNOWN,
            (f, _) => f,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_combine_as_irn_and_follow_the_maps() {
        // fg: 0 0 5 5; bg: 0 5 0 5 -> background, unknown, 5, 5.
        assert_eq!(
            combine_relations(&[0, 0, 5, 5], &[0, 5, 0, 5]),
            [0, UNKNOWN, 5, 5]
        );
        // A map confident on the right (0.9), faint (0.1) in the middle third,
        // nothing on the left, each third its own grey: class, unknown, background.
        let (w, h) = (30, 8);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [[20u8; 3], [128; 3], [235; 3]][(i % w) / 10])
            .collect();
        let map: Vec<f32> = (0..w * h)
            .map(|i| match i % w {
                x if x >= 20 => 0.9,
                x if x >= 10 => 0.1,
                _ => 0.0,
            })
            .collect();
        let labels = relation_labels(
            &rgb,
            w,
            h,
            &[2],
            &map,
            IRN_FOREGROUND_THRESHOLD,
            IRN_BACKGROUND_THRESHOLD,
        )
        .unwrap();
        for y in 0..h {
            for (x, want) in [(3, 0), (15, UNKNOWN), (26, 3)] {
                assert_eq!(labels[y * w + x], want, "({x}, {y})");
            }
        }
        let e = relation_labels(&rgb, w, h, &[2], &map, 0.05, 0.3).unwrap_err();
        assert!(
            e.to_string()
                .contains("background (0.3) <= foreground (0.05)"),
            "{e}"
        );
    }

    /// A 24x16 image, left half dark and right half bright, and one class whose
    /// map is confident on the right and spills one soft column onto the left.
    fn scene() -> (Vec<u8>, Vec<f32>, usize, usize) {
        let (w, h) = (24, 16);
        let mut rgb = Vec::with_capacity(w * h * 3);
        let mut map = Vec::with_capacity(w * h);
        for _y in 0..h {
            for x in 0..w {
                let bright = x >= w / 2;
                rgb.extend([if bright { 220 } else { 30 }; 3]);
                map.push(if bright {
                    0.9
                } else if x == w / 2 - 1 {
                    0.6
                } else {
                    0.05
                });
            }
        }
        (rgb, map, w, h)
    }

    #[test]
    fn refinement_follows_the_image_edges_for_every_preset() {
        let (rgb, map, w, h) = scene();
        for preset in Preset::ALL {
            let crf = CrfRefinement::from_preset(preset, 0.3, 4.0).unwrap();
            let labels = crf.refine(&rgb, w, h, &[6], &map).unwrap();
            // Class 6 -> label 7 on the bright half; the soft column on the dark
            // side, above the threshold, goes back to background.
            for y in 0..h {
                for x in 0..w {
                    let want = if x >= w / 2 { 7 } else { 0 };
                    assert_eq!(labels[y * w + x], want, "{preset} at ({x}, {y})");
                }
            }
            assert!(crf
                .describe()
                .starts_with(&format!("crf {preset} (gaussian")));
        }
    }

    #[test]
    fn no_classes_is_background_and_bad_shapes_are_errors() {
        let crf = CrfRefinement::from_preset(Preset::Psa, 0.3, 4.0).unwrap();
        assert_eq!(crf.refine(&[0; 12], 2, 2, &[], &[]).unwrap(), vec![0; 4]);
        let err = crf.refine(&[0; 12], 2, 2, &[1], &[0.5; 3]).unwrap_err();
        assert!(err.to_string().contains("3 map values"), "{err}");
        let err = CrfRefinement::from_preset(Preset::Psa, 0.3, 0.0).unwrap_err();
        assert!(err.to_string().contains("--crf-alpha"), "{err}");
    }
}
