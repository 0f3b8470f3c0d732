//! Label maps and their PNG files.
//!
//! `SegmentationClassAug/<id>.png` files are single-channel 8-bit grayscale
//! PNGs whose values are class indices (0 background, 1..=20 the VOC
//! classes, 255 void), the form `eader-dataset` reads.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest class index; 255 (void) is the only other value allowed.
pub const MAX_CLASS_IDX: u8 = 20;
/// The void label of VOC's boundaries.
pub const VOID: u8 = 255;

/// A class-index map, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` class indices, row after row.
    pub data: Vec<u8>,
}

impl LabelMap {
    /// The first value that is neither a VOC class index nor void, with its position.
    pub fn first_invalid(&self) -> Option<(u32, u32, u8)> {
        self.first_above(MAX_CLASS_IDX)
    }

    /// The first value that is neither a class index `0..=max_class_idx`
    /// nor void, with its position.
    pub fn first_above(&self, max_class_idx: u8) -> Option<(u32, u32, u8)> {
        let index = self
            .data
            .iter()
            .position(|&v| v > max_class_idx && v != VOID)?;
        let width = self.width.max(1) as usize;
        Some((
            (index % width) as u32,
            (index / width) as u32,
            self.data[index],
        ))
    }
}

/// How a PNG stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngKind {
    /// 8-bit palette PNG (VOC's `SegmentationClass`): the indices are the labels.
    Palette,
    /// 8-bit grayscale PNG (`SegmentationClassAug`).
    Gray,
}

/// Reads an 8-bit PNG of one of `accepted` kinds, without expanding a palette.
pub fn read_png(path: &Path, accepted: &[PngKind]) -> Result<LabelMap> {
    read_png_inner(path, accepted).with_context(|| format!("{}", path.display()))
}

fn read_png_inner(path: &Path, accepted: &[PngKind]) -> Result<LabelMap> {
    let file = File::open(path).context("cannot open")?;
    let decoder = png::Decoder::new(BufReader::new(file));
    let mut reader = decoder.read_info().context("not a readable PNG")?;
    let (color, depth) = {
        let info = reader.info();
        (info.color_type, info.bit_depth)
    };
    let kind = match (color, depth) {
        (png::ColorType::Indexed, png::BitDepth::Eight) => PngKind::Palette,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => PngKind::Gray,
        _ => bail!("a label PNG must be 8-bit palette or grayscale, this one is {color:?} with {depth:?} bits"),
    };
    if !accepted.contains(&kind) {
        let wanted: Vec<String> = accepted.iter().map(|k| format!("{k:?}")).collect();
        bail!("a {kind:?} PNG where {} is expected", wanted.join(" or "));
    }
    let size = reader.output_buffer_size().context("PNG too large")?;
    let mut data = vec![0; size];
    let frame = reader.next_frame(&mut data).context("damaged PNG data")?;
    data.truncate(frame.buffer_size());
    Ok(LabelMap {
        width: frame.width,
        height: frame.height,
        data,
    })
}

/// Writes `map` as an 8-bit grayscale PNG, through `<name>.partial` so the
/// file appears only when complete.
pub fn write_gray_png(path: &Path, map: &LabelMap) -> Result<()> {
    let partial = crate::fetch::partial_path(path);
    let write = || -> Result<()> {
        let file = File::create(&partial).context("cannot create")?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), map.width, map.height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&map.data)?;
        writer.finish()?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_png_round_trip_keeps_indices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let map = LabelMap {
            width: 3,
            height: 2,
            data: vec![0, 1, 20, 255, 7, 0],
        };
        write_gray_png(&path, &map).unwrap();
        assert_eq!(read_png(&path, &[PngKind::Gray]).unwrap(), map);
        let error = read_png(&path, &[PngKind::Palette]).unwrap_err();
        assert!(format!("{error:#}").contains("a Gray PNG where Palette is expected"));
        assert!(!crate::fetch::partial_path(&path).exists());
    }

    #[test]
    fn first_invalid_finds_position_and_value() {
        let map = LabelMap {
            width: 3,
            height: 2,
            data: vec![0, 1, 20, 255, 21, 0],
        };
        assert_eq!(map.first_invalid(), Some((1, 1, 21)));
    }
}
