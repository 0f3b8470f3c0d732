//! Building `SegmentationClassAug/`: one single-channel index PNG per id of
//! `train_aug` ∪ `val`, in parallel.
//!
//! Ids that VOC annotates (its segmentation train and val lists) take VOC's
//! own label, copied from the palette PNG's indices (with its 255 void
//! borders); the others take SBD's `GTcls.Segmentation` from
//! `dataset/cls/<id>.mat`. This is the usual `SegmentationClassAug`
//! (DeepLab's), and VOC's `SegmentationClass/` is only read, never written.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use eader_matfile::{MatFile, Value};
use rayon::prelude::*;

use super::labels::{self, LabelMap, PngKind};
use crate::fetch::progress;

/// Where the label of one id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A VOC palette PNG (`SegmentationClass/<id>.png`).
    VocPng(PathBuf),
    /// An SBD MATLAB file (`dataset/cls/<id>.mat`).
    SbdMat(PathBuf),
}

/// What a conversion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// PNGs written.
    pub written: usize,
    /// PNGs already there.
    pub skipped: usize,
}

/// Reads `GTcls.Segmentation` from an SBD `.mat` file as a label map.
pub fn label_from_mat(path: &Path) -> Result<LabelMap> {
    let file = MatFile::open(path)?;
    let describe = || -> Result<LabelMap> {
        let Some(gtcls) = file.get("GTcls") else {
            let names: Vec<&str> = file.variables.iter().map(|v| v.name.as_str()).collect();
            bail!("no variable GTcls (variables: {})", names.join(", "));
        };
        let Some(fields) = gtcls.as_struct() else {
            bail!("GTcls is a {}, expected a struct", gtcls.class_name());
        };
        let segmentation = gtcls.field("Segmentation").ok_or_else(|| {
            anyhow!(
                "GTcls ({:?} struct) has no field Segmentation (fields: {})",
                fields.dims,
                fields.field_names.join(", ")
            )
        })?;
        let matrix = segmentation
            .as_numeric()
            .and_then(|array| array.to_matrix_u8())
            .ok_or_else(|| {
                let dims = match segmentation {
                    Value::Numeric(array) => format!(" {:?}", array.dims),
                    _ => String::new(),
                };
                anyhow!(
                    "GTcls.Segmentation is a {}{dims} array, expected a 2-D uint8 one",
                    segmentation.class_name()
                )
            })?;
        Ok(LabelMap {
            width: u32::try_from(matrix.cols).context("image too wide")?,
            height: u32::try_from(matrix.rows).context("image too high")?,
            data: matrix.data,
        })
    };
    describe().with_context(|| format!("{}", path.display()))
}

fn load(source: &Source) -> Result<(LabelMap, &Path)> {
    Ok(match source {
        Source::VocPng(path) => (
            labels::read_png(path, &[PngKind::Palette, PngKind::Gray])?,
            path.as_path(),
        ),
        Source::SbdMat(path) => (label_from_mat(path)?, path.as_path()),
    })
}

/// Writes `out_dir/<id>.png` for every `(id, source)` whose PNG is missing,
/// on `pool`. Every failure is collected; the error lists the first ones.
pub fn convert(
    jobs: &[(String, Source)],
    out_dir: &Path,
    pool: &rayon::ThreadPool,
) -> Result<Stats> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let bar = progress::items(jobs.len() as u64, "labels");
    let results: Vec<Result<bool>> = pool.install(|| {
        jobs.par_iter()
            .map(|(id, source)| {
                let dest = out_dir.join(format!("{id}.png"));
                let result = if dest.is_file() {
                    Ok(false)
                } else {
                    load(source).and_then(|(map, path)| {
                        if let Some((x, y, value)) = map.first_invalid() {
                            bail!(
                                "{}: label {value} at (x {x}, y {y}) is neither a class index 0..={} nor {}",
                                path.display(),
                                labels::MAX_CLASS_IDX,
                                labels::VOID
                            );
                        }
                        labels::write_gray_png(&dest, &map).map(|()| true)
                    })
                };
                bar.inc(1);
                result
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut stats = Stats::default();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(true) => stats.written += 1,
            Ok(false) => stats.skipped += 1,
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} of {} labels could not be converted:\n  {}{}",
            errors.len(),
            jobs.len(),
            errors
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  "),
            if errors.len() > 10 { "\n  ..." } else { "" }
        );
    }
    Ok(stats)
}
