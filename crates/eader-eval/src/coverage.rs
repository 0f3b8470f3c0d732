//! How much of the image the maps cover, and where their mass goes: the
//! paper's claim that erasing grows attention from an object's most
//! discriminative part into the rest, measured.
//!
//! - **Area**: per (image, class) map, the fraction of pixels at or above the
//!   segmentation threshold; averaged over maps.
//! - **Part shares** (datasets with part maps, such as the demo's
//!   `SegmentationPart/`): of all the maps' mass (the sum of their values),
//!   the share on the faces of objects of the map's own class, on their
//!   bodies, on the background, and elsewhere (other classes' objects and
//!   void boundaries). The four shares sum to 1.

use eader_dataset::demo::{PART_BACKGROUND, PART_BODY, PART_FACE};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Running sums over maps; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapCoverage {
    maps: u64,
    area_sum: f64,
    part_maps: u64,
    face: f64,
    body: f64,
    background: f64,
    total: f64,
}

/// Where the maps' mass went, as fractions of their total mass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartShares {
    /// Maps with part maps behind these shares.
    pub maps: u64,
    /// On the faces of objects of the map's class (the discriminative part).
    pub face: f64,
    /// On the bodies of objects of the map's class.
    pub body: f64,
    /// On background pixels.
    pub background: f64,
    /// On other classes' objects and void boundaries.
    pub other: f64,
}

/// The summary of a [`MapCoverage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageReport {
    /// Maps scored.
    pub maps: u64,
    /// Mean fraction of a map's pixels at or above the threshold (`None`: no maps).
    pub map_area: Option<f64>,
    /// The part shares, when the dataset has part maps.
    pub parts: Option<PartShares>,
}

impl MapCoverage {
    /// Adds one image's maps `(P, H, W)` of the 0-based `classes`, with its
    /// label map and, when the dataset has them, its part map (both `(H, W)`).
    pub fn add(
        &mut self,
        maps: &[f32],
        classes: &[usize],
        threshold: f32,
        labels: &[u8],
        parts: Option<&[u8]>,
    ) -> Result<()> {
        let pixels = labels.len();
        if maps.len() != classes.len() * pixels || parts.is_some_and(|p| p.len() != pixels) {
            return Err(Error::mismatch(
                "coverage",
                format!(
                    "{} map values for {} classes, {pixels} labels and {:?} part values",
                    maps.len(),
                    classes.len(),
                    parts.map(<[u8]>::len)
                ),
            ));
        }
        for (i, &class) in classes.iter().enumerate() {
            let map = &maps[i * pixels..(i + 1) * pixels];
            let above = map.iter().filter(|&&v| v >= threshold).count();
            self.maps += 1;
            self.area_sum += above as f64 / pixels.max(1) as f64;
            let Some(parts) = parts else { continue };
            let own = (class + 1) as u8;
            self.part_maps += 1;
            for ((&v, &l), &p) in map.iter().zip(labels).zip(parts) {
                let v = v as f64;
                self.total += v;
                if l == own && p == PART_FACE {
                    self.face += v;
                } else if l == own && p == PART_BODY {
                    self.body += v;
                } else if l == 0 && p == PART_BACKGROUND {
                    self.background += v;
                }
            }
        }
        Ok(())
    }

    /// Adds the sums of `other`.
    pub fn merge(&mut self, other: &Self) {
        self.maps += other.maps;
        self.area_sum += other.area_sum;
        self.part_maps += other.part_maps;
        self.face += other.face;
        self.body += other.body;
        self.background += other.background;
        self.total += other.total;
    }

    /// The means and shares.
    pub fn report(&self) -> CoverageReport {
        let share = |x: f64| {
            if self.total > 0.0 {
                x / self.total
            } else {
                0.0
            }
        };
        CoverageReport {
            maps: self.maps,
            map_area: (self.maps > 0).then(|| self.area_sum / self.maps as f64),
            parts: (self.part_maps > 0).then(|| PartShares {
                maps: self.part_maps,
                face: share(self.face),
                body: share(self.body),
                background: share(self.background),
                other: share(self.total - self.face - self.body - self.background),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_and_shares_by_hand() {
        // 1x5 image: face and body of class 2 (label 3), background, class 0's body, void.
        let labels = [3u8, 3, 0, 1, 255];
        let parts = [PART_FACE, PART_BODY, PART_BACKGROUND, PART_BODY, 255];
        // Map of class 2: mass 1 + 0.5 + 0.25 + 0.25 + 0 = 2.
        let maps = [1.0f32, 0.5, 0.25, 0.25, 0.0];
        let mut c = MapCoverage::default();
        c.add(&maps, &[2], 0.3, &labels, Some(&parts)).unwrap();
        let r = c.report();
        assert_eq!(r.maps, 1);
        assert!((r.map_area.unwrap() - 0.4).abs() < 1e-12); // 2 of 5 pixels >= 0.3
        let p = r.parts.unwrap();
        assert!((p.face - 0.5).abs() < 1e-12);
        assert!((p.body - 0.25).abs() < 1e-12);
        assert!((p.background - 0.125).abs() < 1e-12);
        assert!((p.other - 0.125).abs() < 1e-12); // class 0's body
        assert!((p.face + p.body + p.background + p.other - 1.0).abs() < 1e-12);
        // Without part maps: the area only; merging adds up.
        let mut d = MapCoverage::default();
        d.add(&maps, &[2], 0.6, &labels, None).unwrap();
        assert!(d.report().parts.is_none());
        d.merge(&c);
        assert_eq!(d.report().maps, 2);
        assert!((d.report().map_area.unwrap() - 0.3).abs() < 1e-12);
        assert!(MapCoverage::default().report().map_area.is_none());
        assert!(c.add(&maps, &[1, 2], 0.3, &labels, None).is_err());
    }
}
