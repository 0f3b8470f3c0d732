//! Label maps, multi-hot vectors, the VOC colour palette, and label PNG I/O.

use std::io::Cursor;
use std::path::Path;

use crate::error::{Error, Result};

/// Label of pixels to ignore (object borders, "difficult" regions).
pub const VOID_LABEL: u8 = 255;

/// Label of background pixels.
pub const BACKGROUND_LABEL: u8 = 0;

/// A segmentation label map: one `u8` per pixel, row-major.
///
/// `0` is background, `1..=n_classes` the foreground classes (class index
/// + 1), [`VOID_LABEL`] (255) is void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` labels, row-major.
    pub data: Vec<u8>,
}

impl LabelMap {
    /// A map from raw labels; errors when `data` does not hold
    /// `width * height` labels.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let expected = width as usize * height as usize;
        if data.len() != expected {
            return Err(Error::LabelMapSize {
                width,
                height,
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// A map filled with one label.
    pub fn filled(width: u32, height: u32, label: u8) -> Self {
        Self {
            width,
            height,
            data: vec![label; width as usize * height as usize],
        }
    }

    /// Label at column `x`, row `y` (panics outside the map, like slice indexing).
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// The first pixel `(x, y, label)` whose label is neither a class of
    /// `n_classes` foreground classes, background, nor void.
    pub fn first_out_of_range(&self, n_classes: usize) -> Option<(u32, u32, u8)> {
        let pos = self
            .data
            .iter()
            .position(|&l| l != VOID_LABEL && l as usize > n_classes)?;
        let w = self.width.max(1) as usize;
        Some(((pos % w) as u32, (pos / w) as u32, self.data[pos]))
    }

    /// The image-level targets of this map: every class present other than
    /// background and void. Labels above `n_classes` are ignored (call
    /// [`LabelMap::first_out_of_range`] to reject them).
    pub fn multi_hot(&self, n_classes: usize) -> MultiHot {
        let mut seen = [false; 256];
        for &l in &self.data {
            seen[l as usize] = true;
        }
        MultiHot {
            present: (1..=n_classes).map(|label| seen[label]).collect(),
        }
    }
}

/// Image-level targets: one flag per foreground class, in class-list order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultiHot {
    present: Vec<bool>,
}

impl MultiHot {
    /// A vector of `n_classes` flags, all false.
    pub fn empty(n_classes: usize) -> Self {
        Self {
            present: vec![false; n_classes],
        }
    }

    /// A vector from flags.
    pub fn from_flags(present: Vec<bool>) -> Self {
        Self { present }
    }

    /// A vector of `n_classes` flags with `class_indices` (0-based) set;
    /// indices past the end are ignored.
    pub fn from_indices(n_classes: usize, class_indices: &[usize]) -> Self {
        let mut m = Self::empty(n_classes);
        for &c in class_indices {
            if let Some(p) = m.present.get_mut(c) {
                *p = true;
            }
        }
        m
    }

    /// Number of classes (the vector's length).
    pub fn len(&self) -> usize {
        self.present.len()
    }

    /// True when the vector has no entries at all (zero classes).
    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    /// Whether class `class_idx` (0-based) is present.
    pub fn contains(&self, class_idx: usize) -> bool {
        self.present.get(class_idx).copied().unwrap_or(false)
    }

    /// Whether at least one foreground class is present.
    pub fn has_foreground(&self) -> bool {
        self.present.iter().any(|&p| p)
    }

    /// The flags.
    pub fn flags(&self) -> &[bool] {
        &self.present
    }

    /// Indices (0-based) of the present classes, ascending.
    pub fn indices(&self) -> Vec<usize> {
        (0..self.present.len())
            .filter(|&i| self.present[i])
            .collect()
    }

    /// The vector as `0.0` / `1.0` floats (a row of the `(B, K)` target tensor).
    pub fn to_f32(&self) -> Vec<f32> {
        self.present
            .iter()
            .map(|&p| if p { 1.0 } else { 0.0 })
            .collect()
    }
}

/// The standard PASCAL VOC colour map (`bitget`-based, as in the devkit's
/// `VOClabelcolormap.m`): label 0 black, 1 `(128, 0, 0)`, ..., 255 `(224, 224, 192)`.
pub fn voc_palette() -> [[u8; 3]; 256] {
    let mut palette = [[0u8; 3]; 256];
    for (label, colour) in palette.iter_mut().enumerate() {
        let mut c = label;
        let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
        for shift in (0..8).rev() {
            r |= ((c & 1) as u8) << shift;
            g |= (((c >> 1) & 1) as u8) << shift;
            b |= (((c >> 2) & 1) as u8) << shift;
            c >>= 3;
        }
        *colour = [r, g, b];
    }
    palette
}

/// Encodes a label map as an 8-bit palette PNG with the VOC colour map, the
/// format of VOC's `SegmentationClass` (viewers show colours, readers get
/// the labels back as palette indices).
pub fn encode_palette_png(map: &LabelMap) -> Result<Vec<u8>> {
    check_map(map)?;
    let mut out = Vec::new();
    let palette: Vec<u8> = voc_palette().iter().flatten().copied().collect();
    let mut encoder = png::Encoder::new(&mut out, map.width, map.height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette);
    let encode_err = |e: png::EncodingError| Error::InvalidConfig(format!("png encoding: {e}"));
    let mut writer = encoder.write_header().map_err(encode_err)?;
    writer.write_image_data(&map.data).map_err(encode_err)?;
    writer.finish().map_err(encode_err)?;
    Ok(out)
}

/// Writes a label map as a VOC palette PNG (see [`encode_palette_png`]).
pub fn write_palette_png(path: &Path, map: &LabelMap) -> Result<()> {
    let bytes = encode_palette_png(map)?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Writes a label map as a single-channel 8-bit PNG (the format of
/// `SegmentationClassAug`).
pub fn write_index_png(path: &Path, map: &LabelMap) -> Result<()> {
    check_map(map)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, map.width, map.height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let encode_err = |e: png::EncodingError| Error::InvalidConfig(format!("png encoding: {e}"));
    let mut writer = encoder.write_header().map_err(encode_err)?;
    writer.write_image_data(&map.data).map_err(encode_err)?;
    writer.finish().map_err(encode_err)?;
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

fn check_map(map: &LabelMap) -> Result<()> {
    let expected = map.width as usize * map.height as usize;
    if map.data.len() != expected || expected == 0 {
        return Err(Error::LabelMapSize {
            width: map.width,
            height: map.height,
            expected,
            actual: map.data.len(),
        });
    }
    Ok(())
}

/// Reads a label PNG: a palette PNG (its palette *indices* are the labels,
/// whatever the colours) or a single-channel 8-bit PNG (its values are the
/// labels). Palette PNGs of 1, 2 or 4 bits per pixel are unpacked.
pub fn read_label_png(path: &Path) -> Result<LabelMap> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_label_png(&bytes, path)
}

/// [`read_label_png`] on bytes already in memory; `path` names the file in errors.
pub fn decode_label_png(bytes: &[u8], path: &Path) -> Result<LabelMap> {
    let decode_err = |e: png::DecodingError| Error::Decode {
        path: path.to_path_buf(),
        kind: "mask",
        message: e.to_string(),
    };
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(decode_err)?;
    let (color, depth) = reader.output_color_type();
    let bits = match (color, depth) {
        (png::ColorType::Indexed, d) => d as u8,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 8,
        (c, d) => {
            return Err(Error::UnsupportedLabelPng {
                path: path.to_path_buf(),
                found: format!("{c:?} with {} bits per sample", d as u8),
            })
        }
    };
    let size = reader.output_buffer_size().ok_or_else(|| Error::Decode {
        path: path.to_path_buf(),
        kind: "mask",
        message: "image too large".into(),
    })?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(decode_err)?;
    let (width, height) = (info.width, info.height);
    let line = info.line_size;
    let data = if bits == 8 && line == width as usize {
        buf.truncate(width as usize * height as usize);
        buf
    } else {
        let per_byte = 8 / bits as usize;
        let mask = ((1u16 << bits) - 1) as u8;
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for row in buf.chunks(line).take(height as usize) {
            for x in 0..width as usize {
                if bits == 8 {
                    data.push(row[x]);
                } else {
                    let byte = row[x / per_byte];
                    let shift = 8 - bits as usize * (x % per_byte + 1);
                    data.push((byte >> shift) & mask);
                }
            }
        }
        data
    };
    LabelMap::new(width, height, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_matches_voc_devkit() {
        let p = voc_palette();
        assert_eq!(p[0], [0, 0, 0]);
        assert_eq!(p[1], [128, 0, 0]);
        assert_eq!(p[2], [0, 128, 0]);
        assert_eq!(p[3], [128, 128, 0]);
        assert_eq!(p[15], [192, 128, 128]);
        assert_eq!(p[20], [0, 64, 128]);
        assert_eq!(p[255], [224, 224, 192]);
    }

    #[test]
    fn multi_hot_ignores_background_and_void() {
        let map = LabelMap::new(3, 2, vec![0, 3, 255, 3, 1, 0]).unwrap();
        let m = map.multi_hot(4);
        assert_eq!(m.flags(), &[true, false, true, false]);
        assert_eq!(m.indices(), vec![0, 2]);
        assert_eq!(m.to_f32(), vec![1.0, 0.0, 1.0, 0.0]);
        assert!(m.has_foreground());
        assert!(!LabelMap::filled(2, 2, 255).multi_hot(4).has_foreground());
        assert_eq!(map.first_out_of_range(4), None);
        assert_eq!(map.first_out_of_range(2), Some((1, 0, 3)));
    }

    #[test]
    fn palette_and_index_pngs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let map =
            LabelMap::new(5, 3, (0..15).map(|i| [0, 1, 7, 20, 255][i % 5]).collect()).unwrap();
        let a = dir.path().join("a.png");
        let b = dir.path().join("b.png");
        write_palette_png(&a, &map).unwrap();
        write_index_png(&b, &map).unwrap();
        assert_eq!(read_label_png(&a).unwrap(), map);
        assert_eq!(read_label_png(&b).unwrap(), map);
        // The image crate sees the palette colours.
        let rgb = image::open(&a).unwrap().to_rgb8();
        assert_eq!(rgb.get_pixel(1, 0).0, [128, 0, 0]);
        assert_eq!(rgb.get_pixel(4, 0).0, [224, 224, 192]);
    }

    #[test]
    fn rejects_rgb_png_and_bad_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgb.png");
        image::RgbImage::new(4, 4).save(&path).unwrap();
        let err = read_label_png(&path).unwrap_err().to_string();
        assert!(err.contains("rgb.png") && err.contains("Rgb"), "{err}");
        assert!(LabelMap::new(2, 2, vec![0; 3]).is_err());
    }
}
