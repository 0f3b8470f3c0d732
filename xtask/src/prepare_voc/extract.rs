//! Streaming extraction of the parts of each archive the dataset needs.
//!
//! The archive is read once, front to back (gzip through flate2, tar through
//! the tar crate); entries outside the wanted folders are skipped without
//! touching the disk, and a file already present with the entry's size is
//! not written again, so an interrupted extraction resumes cheaply. Files are
//! written to `<name>.partial` and renamed when complete. Entry paths are
//! rebuilt from their normal components only, so `..` or absolute paths in
//! an archive can never write outside the root.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::fetch::{partial_path, progress};

/// Which archive an extraction reads, and so which entries it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `VOCtrainval_11-May-2012.tar`: `VOCdevkit/VOC2012/{JPEGImages,
    /// SegmentationClass, ImageSets/Segmentation}/*`.
    Voc,
    /// SBD's `benchmark.tgz`: `benchmark_RELEASE/dataset/{cls/*.mat, train.txt, val.txt}`.
    Sbd,
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files written.
    pub written: usize,
    /// Files already present with the right size.
    pub skipped: usize,
}

/// Extracts the entries `kind` keeps from `archive` into `root`.
pub fn extract(archive: &Path, kind: Kind, root: &Path) -> Result<Stats> {
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let name = archive
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let bar = progress::bytes(len, format!("extract {name}"));
    let reader = progress::Reader::new(BufReader::with_capacity(1 << 20, file), bar.clone());
    let stats = match kind {
        Kind::Voc => extract_entries(reader, kind, root),
        Kind::Sbd => extract_entries(flate2::read::MultiGzDecoder::new(reader), kind, root),
    }
    .with_context(|| format!("cannot extract {}", archive.display()))?;
    bar.finish_and_clear();
    Ok(stats)
}

fn extract_entries(reader: impl Read, kind: Kind, root: &Path) -> Result<Stats> {
    let mut archive = tar::Archive::new(reader);
    let mut stats = Stats::default();
    for entry in archive.entries().context("not a tar archive")? {
        let mut entry = entry.context("damaged tar entry")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().context("tar entry with an unreadable path")?;
        let Some(relative) = destination(&path, kind) else {
            continue;
        };
        let dest = root.join(&relative);
        let size = entry.size();
        if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) {
            stats.skipped += 1;
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let partial = partial_path(&dest);
        let mut out = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        std::io::copy(&mut entry, &mut out)
            .with_context(|| format!("cannot extract {}", relative.display()))?;
        drop(out);
        std::fs::rename(&partial, &dest).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), dest.display())
        })?;
        stats.written += 1;
    }
    Ok(stats)
}

/// Where an archive entry goes, relative to the root; `None` to skip it.
fn destination(path: &Path, kind: Kind) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            // `..`, `/`, `C:`: never follow them out of the root.
            _ => return None,
        }
    }
    let keep = match kind {
        Kind::Voc => match parts.as_slice() {
            ["VOCdevkit", "VOC2012", "JPEGImages" | "SegmentationClass", file] => {
                !file.starts_with('.')
            }
            ["VOCdevkit", "VOC2012", "ImageSets", "Segmentation", file] => file.ends_with(".txt"),
            _ => false,
        },
        Kind::Sbd => {
            // Also accept an archive packed from inside benchmark_RELEASE.
            if parts.first() == Some(&"benchmark_RELEASE") {
                parts.remove(0);
            }
            let keep = match parts.as_slice() {
                ["dataset", "cls", file] => file.ends_with(".mat") && !file.starts_with('.'),
                ["dataset", "train.txt" | "val.txt"] => true,
                _ => false,
            };
            parts.insert(0, "benchmark_RELEASE");
            keep
        }
    };
    keep.then(|| parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_keeps_images_labels_and_segmentation_lists_only() {
        let dest = |p: &str| destination(Path::new(p), Kind::Voc);
        assert_eq!(
            dest("VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg"),
            Some(PathBuf::from(
                "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg"
            ))
        );
        assert_eq!(
            dest("./VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt"),
            Some(PathBuf::from(
                "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt"
            ))
        );
        assert!(dest("VOCdevkit/VOC2012/SegmentationClass/2007_000032.png").is_some());
        assert_eq!(dest("VOCdevkit/VOC2012/Annotations/2007_000032.xml"), None);
        assert_eq!(
            dest("VOCdevkit/VOC2012/SegmentationObject/2007_000032.png"),
            None
        );
        assert_eq!(dest("VOCdevkit/VOC2012/ImageSets/Main/train.txt"), None);
        assert_eq!(
            dest("VOCdevkit/VOC2012/JPEGImages/../../../etc/passwd"),
            None
        );
        assert_eq!(dest("/VOCdevkit/VOC2012/JPEGImages/a.jpg"), None);
    }

    #[test]
    fn sbd_keeps_class_labels_and_lists_only() {
        let dest = |p: &str| destination(Path::new(p), Kind::Sbd);
        assert_eq!(
            dest("benchmark_RELEASE/dataset/cls/2008_000002.mat"),
            Some(PathBuf::from(
                "benchmark_RELEASE/dataset/cls/2008_000002.mat"
            ))
        );
        assert_eq!(
            dest("dataset/train.txt"),
            Some(PathBuf::from("benchmark_RELEASE/dataset/train.txt"))
        );
        assert_eq!(dest("benchmark_RELEASE/dataset/inst/2008_000002.mat"), None);
        assert_eq!(dest("benchmark_RELEASE/dataset/img/2008_000002.jpg"), None);
        assert_eq!(dest("benchmark_RELEASE/dataset/cls/../../x.mat"), None);
    }
}
