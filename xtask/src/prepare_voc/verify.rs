//! The final check: split sizes, and for every listed id an image and a
//! label that agree in size and hold only class indices or void.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use super::labels::{self, PngKind};
use super::{splits, Layout};
use crate::fetch::progress;

/// Sizes of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Ids in `train_aug.txt`.
    pub train_aug: usize,
    /// Ids in VOC's `train.txt`.
    pub train: usize,
    /// Ids in VOC's `val.txt`.
    pub val: usize,
}

impl Counts {
    /// The published VOC 2012 + SBD numbers.
    pub const PUBLISHED: Counts = Counts {
        train_aug: 10_582,
        train: 1_464,
        val: 1_449,
    };
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "train_aug: {}, train: {}, val: {}",
            self.train_aug, self.train, self.val
        )
    }
}

/// What the check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Split sizes.
    pub counts: Counts,
    /// Images (and as many label maps) checked: `train_aug` ∪ `val`.
    pub checked: usize,
}

/// Checks the prepared dataset; the error lists every problem found (the
/// first few in full).
pub fn verify(
    layout: &Layout,
    expected: Option<Counts>,
    pool: &rayon::ThreadPool,
) -> Result<Report> {
    let train_aug = splits::read_ids(&layout.list("train_aug"))?;
    let train = splits::read_ids(&layout.list("train"))?;
    let val = splits::read_ids(&layout.list("val"))?;
    let counts = Counts {
        train_aug: train_aug.len(),
        train: train.len(),
        val: val.len(),
    };
    let mut problems = Vec::new();
    if let Some(expected) = expected {
        if counts != expected {
            problems.push(format!("split sizes are {counts}, expected {expected}"));
        }
    }
    let val_set: BTreeSet<&String> = val.iter().collect();
    let leaked: Vec<&String> = train_aug.iter().filter(|id| val_set.contains(id)).collect();
    if let Some(first) = leaked.first() {
        problems.push(format!(
            "{} val ids are in train_aug.txt (first: {first})",
            leaked.len()
        ));
    }
    for id in train.iter().chain(&val) {
        let path = layout.voc_label(id);
        if !path.is_file() {
            problems.push(format!("{}: missing (VOC's own label)", path.display()));
        }
    }

    let ids: Vec<&String> = train_aug
        .iter()
        .chain(&val)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let bar = progress::items(ids.len() as u64, "verify");
    let mut found: Vec<String> = pool.install(|| {
        ids.par_iter()
            .filter_map(|id| {
                let problem = check_id(layout, id).err().map(|error| format!("{error:#}"));
                bar.inc(1);
                problem
            })
            .collect()
    });
    bar.finish_and_clear();
    found.sort();
    problems.extend(found);

    fail_on_problems(&problems, &layout.voc)?;
    Ok(Report {
        counts,
        checked: ids.len(),
    })
}

/// An error listing `problems` (the first 20 in full) found in `dir`, if any.
pub fn fail_on_problems(problems: &[String], dir: &Path) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "{} problem{} in {}:\n  {}{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        dir.display(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  "),
        if problems.len() > 20 {
            format!("\n  ... and {} more", problems.len() - 20)
        } else {
            String::new()
        }
    )
}

/// One id: the JPEG exists and has a size, the label is a gray index PNG of
/// the same size with valid values.
fn check_id(layout: &Layout, id: &str) -> Result<()> {
    check_pair(
        &layout.image(id),
        &layout.aug_label(id),
        labels::MAX_CLASS_IDX,
    )
}

/// An image and its label: the JPEG exists and has a size, the label is a
/// gray index PNG of the same size holding only `0..=max_class_idx` or void.
pub fn check_pair(image: &Path, label_path: &Path, max_class_idx: u8) -> Result<()> {
    let (width, height) = jpeg_size(image).with_context(|| format!("{}", image.display()))?;
    let label = labels::read_png(label_path, &[PngKind::Gray])?;
    if (label.width, label.height) != (width, height) {
        bail!(
            "{}: label is {}x{} but the image is {width}x{height}",
            label_path.display(),
            label.width,
            label.height
        );
    }
    if let Some((x, y, value)) = label.first_above(max_class_idx) {
        bail!(
            "{}: value {value} at (x {x}, y {y}) is neither a class index 0..={max_class_idx} nor {}",
            label_path.display(),
            labels::VOID
        );
    }
    Ok(())
}

/// Width and height from a JPEG's start-of-frame marker, reading only the
/// markers before it.
pub fn jpeg_size(path: &Path) -> Result<(u32, u32)> {
    let file = File::open(path).context("missing image")?;
    let mut reader = BufReader::with_capacity(8192, file);
    let byte = |reader: &mut BufReader<File>| -> Result<u8> {
        let mut b = [0u8; 1];
        reader
            .read_exact(&mut b)
            .context("not a JPEG (ends before its frame header)")?;
        Ok(b[0])
    };
    if byte(&mut reader)? != 0xFF || byte(&mut reader)? != 0xD8 {
        bail!("not a JPEG (no start-of-image marker)");
    }
    loop {
        if byte(&mut reader)? != 0xFF {
            bail!("not a JPEG (expected a marker)");
        }
        let mut marker = byte(&mut reader)?;
        while marker == 0xFF {
            marker = byte(&mut reader)?;
        }
        // Markers without a length: TEM, RST0..RST7, SOI; EOI ends the image.
        if marker == 0xD9 {
            bail!("not a JPEG (image ends before its frame header)");
        }
        if marker == 0x01 || (0xD0..=0xD8).contains(&marker) {
            continue;
        }
        let len = u16::from_be_bytes([byte(&mut reader)?, byte(&mut reader)?]);
        if len < 2 {
            bail!("not a JPEG (segment length {len})");
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let mut frame = [0u8; 5];
            reader
                .read_exact(&mut frame)
                .context("not a JPEG (truncated frame header)")?;
            let height = u16::from_be_bytes([frame[1], frame[2]]);
            let width = u16::from_be_bytes([frame[3], frame[4]]);
            if width == 0 || height == 0 {
                bail!("JPEG with a {width}x{height} frame");
            }
            return Ok((u32::from(width), u32::from(height)));
        }
        reader
            .seek_relative(i64::from(len) - 2)
            .context("not a JPEG (truncated segment)")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn jpeg_size_skips_segments_and_reads_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        // SOI, APP0 (16 bytes), DQT-like segment, SOF2 (progressive) 375x500.
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        bytes.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        bytes.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x04, 0x00, 0x00]);
        bytes.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x11, 0x08, 0x01, 0x77, 0x01, 0xF4, 0x03]);
        let path = write(dir.path(), "a.jpg", &bytes);
        assert_eq!(jpeg_size(&path).unwrap(), (500, 375));

        let cut = write(dir.path(), "b.jpg", &bytes[..20]);
        let error = format!("{:#}", jpeg_size(&cut).unwrap_err());
        assert!(error.contains("ends before its frame header"), "{error}");
        let png = write(dir.path(), "c.jpg", b"\x89PNG\r\n\x1a\n");
        let error = format!("{:#}", jpeg_size(&png).unwrap_err());
        assert!(error.contains("no start-of-image marker"), "{error}");
    }
}
