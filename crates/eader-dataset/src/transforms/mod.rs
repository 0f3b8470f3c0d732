//! Image and label-map transforms with torchvision's semantics on PIL images.
//!
//! Images stay `u8` RGB through the geometric transforms, exactly as PIL
//! images do in a torchvision pipeline, and become `f32` only in the last
//! step ([`Normalize`], which is `ToTensor` + `Normalize`). Resizing is
//! Pillow's bilinear filter with its antialiasing, reproduced bit for bit
//! (see [`resize`]); label maps are resized with Pillow's nearest neighbour.
//! Random transforms take an explicit RNG (see [`CropRandom`]).

mod geometry;
mod resample;

use image::RgbImage;

pub use geometry::{
    center_crop_placement, shorter_side_size, CropBox, CropRandom, RandomResizedCrop,
};
pub(crate) use resample::{nearest_indices, resample_rows, RgbView};

use crate::label::{LabelMap, VOID_LABEL};

/// ImageNet channel means (RGB), torchvision's `Normalize` for pretrained models.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Crops `rect` and resizes it to `width x height` with Pillow's bilinear
/// filter (antialiased when shrinking): torchvision's `resized_crop` on a
/// PIL image.
///
/// # Panics
/// When `rect` does not lie inside the image (see [`CropBox::fits`]) or an
/// output side is 0: crop boxes come from code, not from data.
pub fn resized_crop(img: &RgbImage, rect: CropBox, width: u32, height: u32) -> RgbImage {
    assert!(
        rect.fits(img.width(), img.height()),
        "crop {rect:?} outside image"
    );
    let mut out = vec![0u8; width as usize * height as usize * 3];
    let w3 = width as usize * 3;
    resample_rows(
        RgbView {
            data: img.as_raw(),
            stride: img.width() as usize * 3,
        },
        rect,
        width as usize,
        height as usize,
        |y, row| out[y * w3..(y + 1) * w3].copy_from_slice(row),
    );
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Resizes the whole image to `width x height` (Pillow bilinear, antialiased).
pub fn resize(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    resized_crop(img, CropBox::full(img.width(), img.height()), width, height)
}

/// torchvision's `Resize(size)`: the shorter side becomes `size` (see
/// [`shorter_side_size`]); an image already at that size is returned as is.
pub fn resize_shorter(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = shorter_side_size(img.width(), img.height(), size);
    if (w, h) == img.dimensions() {
        return img.clone();
    }
    resize(img, w, h)
}

/// torchvision's `CenterCrop`; an image smaller than the crop is padded
/// with black first, like torchvision does.
pub fn center_crop(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (pad_left, pad_top, b) = center_crop_placement(img.width(), img.height(), width, height);
    RgbImage::from_fn(width, height, |x, y| {
        let (sx, sy) = (x + b.left, y + b.top);
        if sx < pad_left || sy < pad_top {
            return image::Rgb([0, 0, 0]);
        }
        let (sx, sy) = (sx - pad_left, sy - pad_top);
        if sx < img.width() && sy < img.height() {
            *img.get_pixel(sx, sy)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}

/// Mirrors the image left to right.
pub fn hflip(img: &RgbImage) -> RgbImage {
    image::imageops::flip_horizontal(img)
}

/// Crops `rect` of a label map and resizes it to `width x height` with
/// Pillow's nearest neighbour (the label-map twin of [`resized_crop`]).
///
/// # Panics
/// Like [`resized_crop`], when `rect` does not fit the map.
pub fn resized_crop_labels(map: &LabelMap, rect: CropBox, width: u32, height: u32) -> LabelMap {
    assert!(
        rect.fits(map.width, map.height),
        "crop {rect:?} outside label map"
    );
    let xs = nearest_indices(rect.left as usize, rect.width as usize, width as usize);
    let ys = nearest_indices(rect.top as usize, rect.height as usize, height as usize);
    let w = map.width as usize;
    let mut data = Vec::with_capacity(xs.len() * ys.len());
    for &y in &ys {
        let row = &map.data[y * w..(y + 1) * w];
        data.extend(xs.iter().map(|&x| row[x]));
    }
    LabelMap {
        width,
        height,
        data,
    }
}

/// torchvision's `Resize(size, NEAREST)` on a label map.
pub fn resize_shorter_labels(map: &LabelMap, size: u32) -> LabelMap {
    let (w, h) = shorter_side_size(map.width, map.height, size);
    resized_crop_labels(map, CropBox::full(map.width, map.height), w, h)
}

/// `CenterCrop` on a label map; padding (when the map is smaller than the
/// crop) is void ([`VOID_LABEL`]), not background.
pub fn center_crop_labels(map: &LabelMap, width: u32, height: u32) -> LabelMap {
    let (pad_left, pad_top, b) = center_crop_placement(map.width, map.height, width, height);
    let mut data = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = (x + b.left, y + b.top);
            let inside = sx >= pad_left
                && sy >= pad_top
                && sx - pad_left < map.width
                && sy - pad_top < map.height;
            data.push(if inside {
                map.get(sx - pad_left, sy - pad_top)
            } else {
                VOID_LABEL
            });
        }
    }
    LabelMap {
        width,
        height,
        data,
    }
}

/// Mirrors a label map left to right.
pub fn hflip_labels(map: &LabelMap) -> LabelMap {
    let w = map.width as usize;
    let mut data = map.data.clone();
    if w > 0 {
        for row in data.chunks_exact_mut(w) {
            row.reverse();
        }
    }
    LabelMap {
        width: map.width,
        height: map.height,
        data,
    }
}

/// `ToTensor` + `Normalize(mean, std)`: `u8` RGB to `f32` channel-first
/// values `(v / 255 - mean) / std`, computed in `f32` with the same
/// operations as torch (through a 256-entry table per channel, so the
/// results are torch's bit for bit).
#[derive(Debug, Clone)]
pub struct Normalize {
    table: [[f32; 256]; 3],
}

impl Normalize {
    /// Normalisation with the given channel means and standard deviations.
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Self {
        let mut table = [[0f32; 256]; 3];
        for c in 0..3 {
            for (v, t) in table[c].iter_mut().enumerate() {
                *t = (v as f32 / 255.0 - mean[c]) / std[c];
            }
        }
        Self { table }
    }

    /// ImageNet normalisation ([`IMAGENET_MEAN`], [`IMAGENET_STD`]).
    pub fn imagenet() -> Self {
        Self::new(IMAGENET_MEAN, IMAGENET_STD)
    }

    /// The normalised value of an 8-bit sample of channel `c`.
    #[inline]
    pub fn value(&self, c: usize, v: u8) -> f32 {
        self.table[c][v as usize]
    }

    /// The image as a `(3, H, W)` `f32` buffer, row-major.
    pub fn to_chw(&self, img: &RgbImage) -> Vec<f32> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut out = vec![0f32; 3 * w * h];
        for (y, row) in img.as_raw().chunks_exact(w * 3).enumerate() {
            self.write_row(row, y, w, h, false, &mut out);
        }
        out
    }

    /// Writes one interleaved RGB row (`w * 3` bytes) as row `y` of a
    /// `(3, h, w)` buffer, mirrored when `flip`.
    #[inline]
    pub(crate) fn write_row(
        &self,
        row: &[u8],
        y: usize,
        w: usize,
        h: usize,
        flip: bool,
        out: &mut [f32],
    ) {
        let plane = w * h;
        for c in 0..3 {
            let table = &self.table[c];
            let dst = &mut out[c * plane + y * w..][..w];
            let src = row.iter().skip(c).step_by(3);
            if flip {
                for (d, &v) in dst.iter_mut().rev().zip(src) {
                    *d = table[v as usize];
                }
            } else {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = table[v as usize];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_map_ops_keep_labels() {
        let map = LabelMap::new(4, 2, vec![0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        assert_eq!(hflip_labels(&map).data, vec![3, 2, 1, 0, 7, 6, 5, 4]);
        let up = resized_crop_labels(&map, CropBox::full(4, 2), 8, 4);
        assert_eq!(&up.data[..8], &[0, 0, 1, 1, 2, 2, 3, 3]);
        let c = center_crop_labels(&map, 2, 4);
        assert_eq!(c.data, vec![255, 255, 1, 2, 5, 6, 255, 255]);
    }

    #[test]
    fn normalize_matches_formula_and_flips() {
        let img = RgbImage::from_raw(2, 1, vec![0, 128, 255, 10, 20, 30]).unwrap();
        let n = Normalize::imagenet();
        let chw = n.to_chw(&img);
        assert_eq!(chw.len(), 6);
        assert_eq!(chw[0], (0.0 / 255.0 - 0.485) / 0.229);
        assert_eq!(chw[1], (10.0f32 / 255.0 - 0.485) / 0.229);
        assert_eq!(chw[2], (128.0f32 / 255.0 - 0.456) / 0.224);
        let mut flipped = vec![0f32; 6];
        n.write_row(img.as_raw(), 0, 2, 1, true, &mut flipped);
        assert_eq!(flipped[0], chw[1]);
        assert_eq!(flipped[1], chw[0]);
        assert_eq!(n.to_chw(&hflip(&img)), flipped);
    }
}
