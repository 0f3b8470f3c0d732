//! Visual outputs: heatmaps (jet colour map), heatmap overlays, erased images
//! and palette-coloured segmentation maps, as RGB images ready for PNG, and
//! [`ImageVisuals`], the one set of files per image that training and
//! `eader evaluate --save-visuals` both write.
//!
//! The reference writes `plt.cm.jet_r(g)` through OpenCV, which reads the RGB
//! triplets as BGR; since jet's red and blue channels mirror each other
//! (`R(x) = B(1 - x)`), that is plain `jet` on screen (high values red), which
//! is what [`jet`] gives here.

use image::RgbImage;

use crate::error::{Error, Result};

/// ImageNet mean used to normalise images.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation used to normalise images.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// matplotlib's `jet` segment data: `(x, y)` knots per channel.
const JET_R: [(f32, f32); 5] = [
    (0.0, 0.0),
    (0.35, 0.0),
    (0.66, 1.0),
    (0.89, 1.0),
    (1.0, 0.5),
];
const JET_G: [(f32, f32); 6] = [
    (0.0, 0.0),
    (0.125, 0.0),
    (0.375, 1.0),
    (0.64, 1.0),
    (0.91, 0.0),
    (1.0, 0.0),
];
const JET_B: [(f32, f32); 5] = [
    (0.0, 0.5),
    (0.11, 1.0),
    (0.34, 1.0),
    (0.65, 0.0),
    (1.0, 0.0),
];

fn piecewise(knots: &[(f32, f32)], x: f32) -> f32 {
    for pair in knots.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    knots[knots.len() - 1].1
}

/// matplotlib's `jet` colour of `v` in `[0, 1]` (clamped; NaN -> 0), quantised
/// to 256 levels as matplotlib does, in 8-bit RGB.
pub fn jet(v: f32) -> [u8; 3] {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let level = ((v * 256.0) as usize).min(255) as f32 / 255.0;
    let to_u8 = |c: f32| (c * 255.0).round().clamp(0.0, 255.0) as u8;
    [
        to_u8(piecewise(&JET_R, level)),
        to_u8(piecewise(&JET_G, level)),
        to_u8(piecewise(&JET_B, level)),
    ]
}

fn check_len(what: &str, len: usize, width: u32, height: u32, channels: usize) -> Result<()> {
    let want = width as usize * height as usize * channels;
    if len == want {
        Ok(())
    } else {
        Err(Error::mismatch(
            what,
            format!("{len} values, expected {channels}x{height}x{width}"),
        ))
    }
}

/// A normalised image `(3, H, W)` (row-major, ImageNet-normalised) back to RGB.
pub fn denormalize(chw: &[f32], width: u32, height: u32) -> Result<RgbImage> {
    check_len("image", chw.len(), width, height, 3)?;
    let plane = width as usize * height as usize;
    Ok(RgbImage::from_fn(width, height, |x, y| {
        let i = y as usize * width as usize + x as usize;
        let px = |c: usize| {
            let v = chw[c * plane + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c];
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        };
        image::Rgb([px(0), px(1), px(2)])
    }))
}

/// A map `(H, W)` in `[0, 1]` as a jet heatmap.
pub fn heatmap(map: &[f32], width: u32, height: u32) -> Result<RgbImage> {
    check_len("map", map.len(), width, height, 1)?;
    Ok(RgbImage::from_fn(width, height, |x, y| {
        image::Rgb(jet(map[y as usize * width as usize + x as usize]))
    }))
}

/// The reference's overlay: the mean of the jet heatmap and the image.
pub fn heatmap_overlay(image: &RgbImage, map: &[f32]) -> Result<RgbImage> {
    let heat = heatmap(map, image.width(), image.height())?;
    Ok(blend(image, &heat, 0.5))
}

/// `(1 - w) * a + w * b`, per channel, rounded.
fn blend(a: &RgbImage, b: &RgbImage, w: f32) -> RgbImage {
    RgbImage::from_fn(a.width(), a.height(), |x, y| {
        let (pa, pb) = (a.get_pixel(x, y), b.get_pixel(x, y));
        let mix = |c: usize| ((1.0 - w) * pa[c] as f32 + w * pb[c] as f32).round() as u8;
        image::Rgb([mix(0), mix(1), mix(2)])
    })
}

/// A label map `(H, W)` in `palette` colours, blended as `0.3 image + 0.7 colours`
/// over `image` when given (the reference's overlay).
pub fn color_labels(
    labels: &[u8],
    width: u32,
    height: u32,
    palette: &[[u8; 3]; 256],
    image: Option<&RgbImage>,
) -> Result<RgbImage> {
    check_len("label map", labels.len(), width, height, 1)?;
    let colors = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb(palette[labels[y as usize * width as usize + x as usize] as usize])
    });
    match image {
        None => Ok(colors),
        Some(img) if img.dimensions() == (width, height) => Ok(blend(img, &colors, 0.7)),
        Some(img) => Err(Error::mismatch(
            "label map",
            format!(
                "image is {:?}, labels are {width}x{height}",
                img.dimensions()
            ),
        )),
    }
}

/// A class name made safe for file names (letters, digits, `-`, `_`).
pub fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The soft mask `sigmoid(omega (g - sigma))` of one map `(H, W)`, per pixel
/// (the formula of `eader_erasing::soft_mask`, on the host).
pub fn soft_mask_host(map: &[f32], omega: f64, sigma: f64) -> Vec<f32> {
    map.iter()
        .map(|&g| (1.0 / (1.0 + (-(omega * (g as f64 - sigma))).exp())) as f32)
        .collect()
}

/// `x * (1 - m)` for a `(C, H, W)` image and a mask `(H, W)`.
pub fn erase_host(image: &[f32], mask: &[f32]) -> Vec<f32> {
    let plane = mask.len().max(1);
    image
        .iter()
        .enumerate()
        .map(|(i, &x)| x * (1.0 - mask[i % plane]))
        .collect()
}

/// One image's visual files, as training writes them every few epochs and
/// `eader evaluate --save-visuals` writes them: `<id>_image.png`; per map
/// `<id>_<class>_heatmap.png` (jet over the image), `<id>_<class>_heatmap_raw.png`,
/// `<id>_<class>_mask.png` (the soft mask in jet) and `<id>_<class>_erased.png`
/// (the image times `1 - mask`); `<id>_segmentation.png` (`0.3 image +
/// 0.7 colours`) and `<id>_segmentation_raw.png`. Class names are made
/// file-safe.
#[derive(Debug, Clone, Copy)]
pub struct ImageVisuals<'a> {
    /// Image id (the files' first part).
    pub id: &'a str,
    /// The normalised image `(3, H, W)`.
    pub image: &'a [f32],
    /// Width of the image.
    pub width: usize,
    /// Height of the image.
    pub height: usize,
    /// The normalised maps `(P, H, W)`, in `[0, 1]`.
    pub maps: &'a [f32],
    /// The class name of each map (P of them).
    pub class_names: &'a [&'a str],
    /// The segmentation `(H, W)` in VOC labels (0 background, class + 1).
    pub prediction: &'a [u8],
    /// Steepness of the soft mask.
    pub omega: f64,
    /// Threshold of the soft mask.
    pub sigma: f64,
}

/// The per-map files of [`ImageVisuals`], in the order it renders them.
const MAP_FILES: [&str; 4] = ["heatmap", "heatmap_raw", "mask", "erased"];

impl ImageVisuals<'_> {
    /// The file names [`Self::render`] gives for image `id` with maps of `class_names`.
    pub fn file_names(id: &str, class_names: &[&str]) -> Vec<String> {
        let mut names = vec![format!("{id}_image.png")];
        for class in class_names {
            let class = file_safe(class);
            names.extend(MAP_FILES.iter().map(|k| format!("{id}_{class}_{k}.png")));
        }
        names.push(format!("{id}_segmentation.png"));
        names.push(format!("{id}_segmentation_raw.png"));
        names
    }

    /// Every image with its file name (the order of [`Self::file_names`]).
    pub fn render(&self) -> Result<Vec<(String, RgbImage)>> {
        let (w, h) = (self.width as u32, self.height as u32);
        let plane = self.width * self.height;
        if self.maps.len() != self.class_names.len() * plane {
            return Err(Error::mismatch(
                format!("image {}", self.id),
                format!(
                    "{} map values for {} classes of {}x{}",
                    self.maps.len(),
                    self.class_names.len(),
                    self.width,
                    self.height
                ),
            ));
        }
        let rgb = denormalize(self.image, w, h)?;
        let mut images = vec![rgb.clone()];
        for map in self.maps.chunks(plane.max(1)) {
            let mask = soft_mask_host(map, self.omega, self.sigma);
            let erased = erase_host(self.image, &mask);
            images.push(heatmap_overlay(&rgb, map)?);
            images.push(heatmap(map, w, h)?);
            images.push(heatmap(&mask, w, h)?);
            images.push(denormalize(&erased, w, h)?);
        }
        let palette = eader_dataset::voc_palette();
        images.push(color_labels(self.prediction, w, h, &palette, Some(&rgb))?);
        images.push(color_labels(self.prediction, w, h, &palette, None)?);
        let names = Self::file_names(self.id, self.class_names);
        Ok(names.into_iter().zip(images).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_endpoints_and_middle() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        let mid = jet(0.5);
        assert_eq!(mid[1], 255, "green peaks in the middle: {mid:?}");
        assert!(
            mid[0] > 100 && mid[0] < 150 && mid[2] > 100 && mid[2] < 150,
            "{mid:?}"
        );
        // Red grows, blue shrinks over the upper half.
        assert!(jet(0.9)[0] > jet(0.6)[0] && jet(0.6)[2] > jet(0.9)[2]);
        assert_eq!(jet(f32::NAN), jet(0.0));
        assert_eq!(jet(7.0), jet(1.0));
    }

    #[test]
    fn denormalize_inverts_normalisation() {
        // A 1x2 image: pixel 0 = ImageNet mean (normalised 0) -> mean colour; pixel 1 white.
        let white = |c: usize| (1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        let chw = [0.0, white(0), 0.0, white(1), 0.0, white(2)];
        let img = denormalize(&chw, 2, 1).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [124, 116, 104]);
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        assert!(denormalize(&chw, 3, 1).is_err());
    }

    #[test]
    fn overlays_and_colour_maps() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([100, 100, 100]));
        let over = heatmap_overlay(&img, &[0.0, 1.0]).unwrap();
        assert_eq!(over.get_pixel(0, 0).0, [50, 50, 114]);
        assert_eq!(over.get_pixel(1, 0).0, [114, 50, 50]);
        let mut palette = [[0u8; 3]; 256];
        palette[1] = [200, 0, 0];
        let plain = color_labels(&[0, 1], 2, 1, &palette, None).unwrap();
        assert_eq!(plain.get_pixel(1, 0).0, [200, 0, 0]);
        let blended = color_labels(&[0, 1], 2, 1, &palette, Some(&img)).unwrap();
        assert_eq!(blended.get_pixel(1, 0).0, [170, 30, 30]);
        assert!(color_labels(&[0], 2, 1, &palette, None).is_err());
    }
}
