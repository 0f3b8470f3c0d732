//! Small VOC-layout fixtures written into temporary folders.

use std::path::{Path, PathBuf};

use eader_dataset::{write_index_png, write_palette_png, LabelMap};
use image::{Rgb, RgbImage};

/// How an image's label map is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MaskKind {
    /// `SegmentationClass/<id>.png`, palette PNG.
    Palette,
    /// `SegmentationClassAug/<id>.png`, single-channel PNG.
    Index,
    /// No mask file.
    Missing,
}

/// One image of a fixture dataset.
pub struct Item {
    pub id: String,
    pub image: RgbImage,
    pub mask: LabelMap,
    pub kind: MaskKind,
}

/// A textured test image whose pixels depend on `seed`.
pub fn test_image(width: u32, height: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed.wrapping_mul(101);
        Rgb([
            (v % 251) as u8,
            ((x * 7 + seed) % 256) as u8,
            ((y * 5 + x) % 256) as u8,
        ])
    })
}

/// A label map with background, a rectangle of `class_label`, and a void border.
pub fn test_mask(width: u32, height: u32, class_label: u8) -> LabelMap {
    let mut data = vec![0u8; (width * height) as usize];
    for y in height / 4..height * 3 / 4 {
        for x in width / 4..width * 3 / 4 {
            let border = y == height / 4 || x == width / 4;
            data[(y * width + x) as usize] = if border { 255 } else { class_label };
        }
    }
    LabelMap::new(width, height, data).unwrap()
}

/// An item with a test image and mask of one class (`class_label = 0`: no foreground).
pub fn item(id: &str, width: u32, height: u32, class_label: u8, kind: MaskKind) -> Item {
    Item {
        id: id.to_string(),
        image: test_image(width, height, id.len() as u32 * 7 + class_label as u32),
        mask: test_mask(width, height, class_label),
        kind,
    }
}

/// Writes `items` in VOC layout under `root` (the folder holding JPEGImages/)
/// with the given splits (name, ids); images are lossless-ish JPEG (q 95).
pub fn write_voc(root: &Path, items: &[Item], splits: &[(&str, Vec<&str>)]) {
    for d in [
        "JPEGImages",
        "SegmentationClass",
        "SegmentationClassAug",
        "ImageSets/Segmentation",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for it in items {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&it.image)
            .unwrap();
        std::fs::write(root.join("JPEGImages").join(format!("{}.jpg", it.id)), jpeg).unwrap();
        match it.kind {
            MaskKind::Palette => write_palette_png(&mask_path(root, it), &it.mask).unwrap(),
            MaskKind::Index => write_index_png(&mask_path(root, it), &it.mask).unwrap(),
            MaskKind::Missing => {}
        }
    }
    for (name, ids) in splits {
        let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
        std::fs::write(
            root.join("ImageSets/Segmentation")
                .join(format!("{name}.txt")),
            text,
        )
        .unwrap();
    }
}

/// Where `write_voc` puts an item's mask.
pub fn mask_path(root: &Path, it: &Item) -> PathBuf {
    let dir = if it.kind == MaskKind::Index {
        "SegmentationClassAug"
    } else {
        "SegmentationClass"
    };
    root.join(dir).join(format!("{}.png", it.id))
}

/// A small dataset of `n` images with varied sizes and classes 1..=3, all
/// with foreground, in split "train".
pub fn small_dataset(root: &Path, n: usize) -> Vec<String> {
    let items: Vec<Item> = (0..n)
        .map(|i| {
            let kind = if i % 3 == 2 {
                MaskKind::Index
            } else {
                MaskKind::Palette
            };
            item(
                &format!("img_{i:03}"),
                40 + (i as u32 % 5) * 7,
                30 + (i as u32 % 4) * 9,
                1 + (i % 3) as u8,
                kind,
            )
        })
        .collect();
    let ids: Vec<&str> = items.iter().map(|it| it.id.as_str()).collect();
    write_voc(root, &items, &[("train", ids.clone())]);
    ids.iter().map(|s| s.to_string()).collect()
}
