//! Per-class attention maps to a segmentation map (method.md, "Evaluation").

/// The constant background score stacked under the class maps (the reference's
/// `combined_gcams[0] = 1e-5`).
pub const BACKGROUND_SCORE: f32 = 1e-5;

/// A segmentation map `(H, W)` of labels `0..=K` (0 = background, class `c` ->
/// `c + 1`) from normalised maps of one image.
///
/// `maps[i]` is the map of class `classes[i]`, `height * width` values in
/// `[0, 1]`, row-major. Values below `threshold` count as 0; each pixel takes
/// the argmax over `[BACKGROUND_SCORE, map_0, ..., map_K-1]` with ties going to
/// the lowest label, as `torch.argmax` does on the reference's stacked tensor.
/// Panics never: a map of the wrong length is an `Err` naming it.
pub fn segmentation_map(
    maps: &[&[f32]],
    classes: &[usize],
    height: usize,
    width: usize,
    threshold: f32,
) -> Result<Vec<u8>, String> {
    if maps.len() != classes.len() {
        return Err(format!("{} maps for {} classes", maps.len(), classes.len()));
    }
    let n = height * width;
    if let Some((i, m)) = maps.iter().enumerate().find(|(_, m)| m.len() != n) {
        return Err(format!(
            "map {i} (class {}) has {} values, expected {height}x{width}",
            classes[i],
            m.len()
        ));
    }
    if let Some(&c) = classes.iter().find(|&&c| c >= 255) {
        return Err(format!("class {c} does not fit a u8 label map"));
    }
    let mut order: Vec<usize> = (0..maps.len()).collect();
    order.sort_by_key(|&i| classes[i]);
    let mut out = vec![0u8; n];
    for (px, label) in out.iter_mut().enumerate() {
        let mut best = BACKGROUND_SCORE;
        for &i in &order {
            let v = maps[i][px];
            let v = if v < threshold { 0.0 } else { v };
            if v > best {
                best = v;
                *label = (classes[i] + 1) as u8;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_with_threshold_and_background() {
        // 1x4 image, classes 3 and 0.
        let a = [0.9f32, 0.2, 0.5, 0.0]; // class 3
        let b = [0.8f32, 0.25, 0.5, 0.0]; // class 0
        let seg = segmentation_map(&[&a, &b], &[3, 0], 1, 4, 0.3).unwrap();
        // px0: 0.9 (class 3) wins; px1: both below threshold -> background;
        // px2: tie 0.5 -> lowest label (class 0 -> 1); px3: background.
        assert_eq!(seg, vec![4, 0, 1, 0]);
        // Threshold 0: a value of 0.2 beats the background's 1e-5.
        let seg = segmentation_map(&[&a, &b], &[3, 0], 1, 4, 0.0).unwrap();
        assert_eq!(seg, vec![4, 1, 1, 0]);
        // No maps: all background.
        assert_eq!(segmentation_map(&[], &[], 2, 2, 0.3).unwrap(), vec![0; 4]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let a = [0.5f32; 3];
        assert!(segmentation_map(&[&a], &[1], 2, 2, 0.3)
            .unwrap_err()
            .contains("class 1"));
        assert!(segmentation_map(&[&a], &[], 1, 3, 0.3).is_err());
        assert!(segmentation_map(&[&a], &[300], 1, 3, 0.3).is_err());
    }
}
