//! Where to crop and what size to resize to: torchvision's parameter logic.

/// A crop rectangle in torchvision's `(i, j, h, w)` order: `top` row,
/// `left` column, `height`, `width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CropBox {
    /// First row (torchvision's `i`).
    pub top: u32,
    /// First column (torchvision's `j`).
    pub left: u32,
    /// Rows (torchvision's `h`).
    pub height: u32,
    /// Columns (torchvision's `w`).
    pub width: u32,
}

impl CropBox {
    /// The whole of a `width x height` image.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            top: 0,
            left: 0,
            height,
            width,
        }
    }

    /// Whether the box lies inside a `width x height` image and is not empty.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        self.width > 0
            && self.height > 0
            && self.left as u64 + self.width as u64 <= width as u64
            && self.top as u64 + self.height as u64 <= height as u64
    }
}

/// The random draws [`RandomResizedCrop`] makes, so tests can script them.
///
/// Implemented for every [`rand::Rng`].
pub trait CropRandom {
    /// A uniform draw in `[low, high)` (torch's `uniform_`).
    fn uniform(&mut self, low: f64, high: f64) -> f64;
    /// A uniform integer in `0..n` (torch's `randint(0, n)`); `n >= 1`.
    fn below(&mut self, n: u32) -> u32;
}

impl<R: rand::Rng + ?Sized> CropRandom for R {
    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        if high > low {
            self.random_range(low..high)
        } else {
            low
        }
    }

    fn below(&mut self, n: u32) -> u32 {
        self.random_range(0..n.max(1))
    }
}

/// torchvision's `RandomResizedCrop`: pick a box covering a random fraction
/// (`scale`) of the image with a random aspect ratio (`ratio`, drawn
/// log-uniformly), then resize it to `width x height`.
///
/// The box search is torchvision's `get_params`: up to 10 tries, then a
/// centre crop clamped to the ratio range. Rounding follows Python's
/// `round` (half to even).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomResizedCrop {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Range of the crop's area as a fraction of the image's (default 0.08..1).
    pub scale: (f64, f64),
    /// Range of the crop's width / height (default 3/4..4/3).
    pub ratio: (f64, f64),
}

impl RandomResizedCrop {
    /// A square output of `size x size` with torchvision's default ranges.
    pub fn new(size: u32) -> Self {
        Self {
            width: size,
            height: size,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }

    /// The crop box for a `width x height` image (torchvision's `get_params`).
    pub fn params(&self, width: u32, height: u32, rng: &mut (impl CropRandom + ?Sized)) -> CropBox {
        let area = width as f64 * height as f64;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * rng.uniform(self.scale.0, self.scale.1);
            let aspect = rng.uniform(log_lo, log_hi).exp();
            let w = (target_area * aspect).sqrt().round_ties_even();
            let h = (target_area / aspect).sqrt().round_ties_even();
            if 0.0 < w && w <= width as f64 && 0.0 < h && h <= height as f64 {
                let (w, h) = (w as u32, h as u32);
                let top = rng.below(height - h + 1);
                let left = rng.below(width - w + 1);
                return CropBox {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        // Fallback: central crop with the ratio clamped into range.
        let in_ratio = width as f64 / height as f64;
        let (min_r, max_r) = (
            self.ratio.0.min(self.ratio.1),
            self.ratio.0.max(self.ratio.1),
        );
        let (w, h) = if in_ratio < min_r {
            (width, (width as f64 / min_r).round_ties_even() as u32)
        } else if in_ratio > max_r {
            ((height as f64 * max_r).round_ties_even() as u32, height)
        } else {
            (width, height)
        };
        CropBox {
            top: (height - h) / 2,
            left: (width - w) / 2,
            height: h,
            width: w,
        }
    }
}

/// Output size `(width, height)` of torchvision's `Resize(size)` with an
/// int `size`: the shorter side becomes `size`, the longer
/// `int(size * long / short)` (truncated).
pub fn shorter_side_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = ((size as u64 * long as u64) as f64 / short.max(1) as f64) as u32;
    if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// Placement of torchvision's `CenterCrop`: the crop box when the image is
/// at least as large as the crop; otherwise the image is first padded
/// (left/top get `(crop - size) / 2`, the rest on the right/bottom), and the
/// returned `(pad_left, pad_top, box)` places the crop on the padded canvas.
pub fn center_crop_placement(
    width: u32,
    height: u32,
    crop_width: u32,
    crop_height: u32,
) -> (u32, u32, CropBox) {
    let pad_left = crop_width.saturating_sub(width) / 2;
    let pad_top = crop_height.saturating_sub(height) / 2;
    let padded_w = width.max(crop_width);
    let padded_h = height.max(crop_height);
    let top = ((padded_h - crop_height) as f64 / 2.0).round_ties_even() as u32;
    let left = ((padded_w - crop_width) as f64 / 2.0).round_ties_even() as u32;
    (
        pad_left,
        pad_top,
        CropBox {
            top,
            left,
            height: crop_height,
            width: crop_width,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shorter_side_matches_torchvision_examples() {
        // torchvision: Resize(470) on 500x375 -> (h=470, w=int(470*500/375)=626).
        assert_eq!(shorter_side_size(500, 375, 470), (626, 470));
        assert_eq!(shorter_side_size(375, 500, 470), (470, 626));
        assert_eq!(shorter_side_size(10, 10, 7), (7, 7));
    }

    #[test]
    fn center_crop_rounds_half_to_even() {
        // (7 - 4) / 2 = 1.5 -> 2; (6 - 4) / 2 = 1.
        assert_eq!(
            center_crop_placement(7, 6, 4, 4).2,
            CropBox {
                top: 1,
                left: 2,
                height: 4,
                width: 4
            }
        );
        let (pl, pt, b) = center_crop_placement(3, 8, 6, 4);
        assert_eq!((pl, pt), (1, 0));
        assert_eq!(
            b,
            CropBox {
                top: 2,
                left: 0,
                height: 4,
                width: 6
            }
        );
    }

    #[test]
    fn random_boxes_fit_and_respect_ranges() {
        let rrc = RandomResizedCrop::new(32);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (w, h) in [(500, 375), (40, 41), (1, 1), (1000, 20), (20, 1000)] {
            for _ in 0..200 {
                let b = rrc.params(w, h, &mut rng);
                assert!(b.fits(w, h), "{b:?} in {w}x{h}");
            }
        }
        // A very wide image always falls back to the clamped centre crop.
        let b = rrc.params(1000, 20, &mut rng);
        assert_eq!(
            b,
            CropBox {
                top: 0,
                left: (1000 - 27) / 2,
                height: 20,
                width: 27
            }
        );
    }
}
