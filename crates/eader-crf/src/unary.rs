//! Unary energies from the inputs WSSS pipelines have: probabilities (or any
//! non-negative scores) and hard labels, as `pydensecrf.utils` computes them, and the
//! two ways of getting there from CAMs (psa's background score, irn's thresholds).

use crate::error::{Error, Result};
use crate::simd;

/// The probability below which [`unary_from_softmax`] clips (pydensecrf's default).
pub const PROBABILITY_CLIP: f32 = 1e-5;

fn check_scores(name: &str, scores: &[f32]) -> Result<()> {
    for (index, &value) in scores.iter().enumerate() {
        if !value.is_finite() {
            return Err(Error::NonFinite {
                name: name.into(),
                index,
                value,
            });
        }
        if value < 0.0 {
            return Err(Error::NegativeProbability {
                name: name.into(),
                index,
                value,
            });
        }
    }
    Ok(())
}

/// `-ln(clip(p, 1e-5, 1))` elementwise: pydensecrf's `unary_from_softmax(probs)` (no
/// `scale`). `probs` is `(L, H, W)` (any layout: the map is elementwise); values need
/// not sum to one (psa feeds background score + CAMs), but must be finite and `>= 0`.
pub fn unary_from_softmax(probs: &[f32]) -> Result<Vec<f32>> {
    // A branch-free scan first (it vectorises); the named error only when it fails.
    let valid = simd::run(simd::avx2(), || {
        probs.chunks(1 << 12).all(|c| {
            c.iter()
                .fold(true, |ok, &p| ok & (0.0..=f32::MAX).contains(&p))
        })
    });
    if !valid {
        check_scores("probabilities", probs)?;
    }
    let mut unary = vec![0f32; probs.len()];
    simd::run(simd::avx2(), || {
        for (u, &p) in unary.iter_mut().zip(probs) {
            *u = -ln(p.clamp(PROBABILITY_CLIP, 1.0));
        }
    });
    Ok(unary)
}

/// pydensecrf's `unary_from_labels(labels, n_labels, gt_prob, zero_unsure)`: each pixel
/// believes its label with probability `gt_prob` and spreads the rest uniformly over
/// the other `n_labels - 1` labels; returns `(n_labels, n_pixels)`. `gt_prob` is an
/// `f64` as Python's float is: the energies are computed in f64 and rounded once.
///
/// With `zero_unsure`, label 0 means "unknown" (uniform `1 / n_labels`) and label `l`
/// in `1..=n_labels` is class `l - 1`. Note that pydensecrf's own default is
/// `zero_unsure = True`; irn calls it with `False`.
pub fn unary_from_labels(
    labels: &[u32],
    n_labels: usize,
    gt_prob: f64,
    zero_unsure: bool,
) -> Result<Vec<f32>> {
    if n_labels < 2 {
        return Err(Error::TooFewLabels(n_labels));
    }
    if !(gt_prob > 0.0 && gt_prob < 1.0) {
        return Err(Error::InvalidParameter {
            name: "gt_prob",
            requirement: "in (0, 1)",
            value: gt_prob as f32,
        });
    }
    let limit = n_labels + usize::from(zero_unsure);
    if let Some((pixel, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= limit)
    {
        return Err(Error::LabelOutOfRange {
            label,
            pixel,
            n_labels: limit,
        });
    }
    // numpy computes these in float64 and stores them as float32.
    let gt = gt_prob;
    let n_energy = (-((1.0 - gt) / (n_labels as f64 - 1.0)).ln()) as f32;
    let p_energy = (-gt.ln()) as f32;
    let unsure = (-(1.0 / n_labels as f64).ln()) as f32;
    let n = labels.len();
    let mut unary = vec![n_energy; n_labels * n];
    for (pixel, &label) in labels.iter().enumerate() {
        match (zero_unsure, label) {
            (true, 0) => (0..n_labels).for_each(|l| unary[l * n + pixel] = unsure),
            (true, label) => unary[(label as usize - 1) * n + pixel] = p_energy,
            (false, label) => unary[label as usize * n + pixel] = p_energy,
        }
    }
    Ok(unary)
}

fn check_cams(cams: &[f32], n_classes: usize) -> Result<usize> {
    if n_classes == 0 || !cams.len().is_multiple_of(n_classes) {
        return Err(Error::ShapeMismatch {
            name: "cams".into(),
            expected: vec![n_classes.max(1), cams.len() / n_classes.max(1)],
            actual: vec![cams.len()],
        });
    }
    if let Some((index, &value)) = cams.iter().enumerate().find(|(_, c)| !c.is_finite()) {
        return Err(Error::NonFinite {
            name: "cams".into(),
            index,
            value,
        });
    }
    Ok(cams.len() / n_classes)
}

/// psa's scores for the CRF: `(1 - max_c cam_c)^alpha` as a background row in front of
/// the `n_classes` CAM rows (`cams` is `(C, H, W)`, normalised to `[0, 1]`); returns
/// `(C + 1, H, W)` for [`unary_from_softmax`]. psa (`infer_cls.py`) uses `alpha = 4`
/// and `32` for its low and high background, `infer_aff.py` 16.
pub fn psa_background(cams: &[f32], n_classes: usize, alpha: f32) -> Result<Vec<f32>> {
    let n = check_cams(cams, n_classes)?;
    let mut scores = Vec::with_capacity(cams.len() + n);
    scores.extend((0..n).map(|p| {
        let max = (0..n_classes)
            .map(|c| cams[c * n + p])
            .fold(f32::MIN, f32::max);
        (1.0 - max).powf(alpha)
    }));
    scores.extend_from_slice(cams);
    Ok(scores)
}

/// irn's hard labels from CAMs (`step/cam_to_ir_label.py`): the argmax over a constant
/// background row `threshold` followed by the `n_classes` CAM rows (`(C, H, W)`),
/// ties going to the lower row as numpy's `argmax`; label 0 is background and class
/// `c` becomes `c + 1`. irn uses `threshold = 0.30` (confident foreground) and `0.05`
/// (confident background), then [`unary_from_labels`] with `gt_prob = 0.7`,
/// `zero_unsure = false`, `n_labels = C + 1`.
pub fn labels_from_threshold(cams: &[f32], n_classes: usize, threshold: f32) -> Result<Vec<u32>> {
    let n = check_cams(cams, n_classes)?;
    Ok((0..n)
        .map(|p| {
            let mut best = (0u32, threshold);
            for c in 0..n_classes {
                let v = cams[c * n + p];
                if v > best.1 {
                    best = (c as u32 + 1, v);
                }
            }
            best.0
        })
        .collect())
}

/// `ln x` for positive normal `x`, within 2 ulp, branch-free so the map vectorises
/// (Cephes' `logf`: `x = m 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, degree-8
/// polynomial in `m - 1`).
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    // Exponent and mantissa in [1, 2); fold mantissas above sqrt(2) down by one octave.
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    e += i32::from(big);
    m = if big { m * 0.5 } else { m };
    let r = m - 1.0;
    let z = r * r;
    let mut p = 7.037_683_629_2e-2f32;
    for c in [
        -1.151_461_031_0e-1,
        1.167_699_874_0e-1,
        -1.242_014_084_6e-1,
        1.424_932_278_7e-1,
        -1.666_805_766_3e-1,
        2.000_071_476_5e-1,
        -2.499_999_399_3e-1,
        3.333_333_117_4e-1,
    ] {
        p = p * r + c;
    }
    let y = p * r * z - 0.5 * z + r;
    let e = e as f32;
    y + e * -2.121_944_40e-4 + e * 0.693_359_375
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_is_within_two_ulp_of_std() {
        let mut worst = 0f64;
        for i in 0..=400_000 {
            let x = PROBABILITY_CLIP * (1.0 / PROBABILITY_CLIP).powf(i as f32 / 400_000.0);
            let (ours, std) = (ln(x) as f64, (x as f64).ln());
            let ulp = (std.abs() as f32).max(1e-30);
            let ulp = (f32::from_bits(ulp.to_bits() + 1) - ulp) as f64;
            worst = worst.max((ours - std).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
    }
}
