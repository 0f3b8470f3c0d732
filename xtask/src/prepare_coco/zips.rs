//! COCO's zip archives: the central directory is read once, entries are
//! streamed one at a time (the `zip` crate, deflate through flate2).
//!
//! Only an entry's file name is used to place it (`train2014/x.jpg` ->
//! `JPEGImages/x.jpg`), after the zip crate's `enclosed_name` refused
//! absolute paths and `..`, so nothing is written outside the root. A file
//! already there with the entry's size is not written again; others go
//! through `<name>.partial`.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::fetch::{partial_path, progress};

/// An open zip archive.
pub struct Zip {
    archive: zip::ZipArchive<BufReader<File>>,
    /// Where it lives (for messages).
    path: std::path::PathBuf,
}

impl Zip {
    /// Opens `path`; a cut or damaged file is one named error.
    pub fn open(path: &Path) -> Result<Zip> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let archive =
            zip::ZipArchive::new(BufReader::with_capacity(1 << 16, file)).map_err(|error| {
                anyhow::anyhow!(
                    "{}: truncated or not a zip archive ({error})",
                    path.display()
                )
            })?;
        Ok(Zip {
            archive,
            path: path.to_owned(),
        })
    }

    /// File name -> entry index for the files whose name ends with `suffix`
    /// (directories and hidden files left out).
    pub fn files_ending(&self, suffix: &str) -> Result<HashMap<String, usize>> {
        let mut files = HashMap::new();
        for index in 0..self.archive.len() {
            let Some(name) = self.archive.name_for_index(index) else {
                continue;
            };
            if name.ends_with('/') {
                continue;
            }
            let Some(file_name) = Path::new(name).file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if file_name.ends_with(suffix) && !file_name.starts_with('.') {
                files.insert(file_name.to_owned(), index);
            }
        }
        Ok(files)
    }

    /// Streams entry `index` to `reader`'s consumer.
    pub fn read_entry<T>(
        &mut self,
        index: usize,
        consume: impl FnOnce(&mut dyn std::io::Read) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let mut entry = self
            .archive
            .by_index(index)
            .map_err(|error| anyhow::anyhow!("{}: damaged entry ({error})", path.display()))?;
        let name = entry.name().to_owned();
        consume(&mut entry).with_context(|| format!("{}: {name}", path.display()))
    }

    /// Extracts the entries `(index, file name)` into `dir`, skipping files
    /// already there with the entry's size; returns (written, skipped).
    pub fn extract(&mut self, entries: &[(usize, String)], dir: &Path) -> Result<(usize, usize)> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bar = progress::items(entries.len() as u64, format!("extract {name}"));
        let (mut written, mut skipped) = (0, 0);
        for (index, file_name) in entries {
            let path = self.path.clone();
            let mut entry = self
                .archive
                .by_index(*index)
                .map_err(|error| anyhow::anyhow!("{}: damaged entry ({error})", path.display()))?;
            if entry.enclosed_name().is_none() {
                bail!(
                    "{}: entry {:?} would land outside the root",
                    path.display(),
                    entry.name()
                );
            }
            let dest = dir.join(file_name);
            if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == entry.size()) {
                skipped += 1;
                bar.inc(1);
                continue;
            }
            let partial = partial_path(&dest);
            let mut out = File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            std::io::copy(&mut entry, &mut out)
                .with_context(|| format!("{}: cannot extract {}", path.display(), entry.name()))?;
            drop(out);
            std::fs::rename(&partial, &dest).with_context(|| {
                format!("cannot rename {} to {}", partial.display(), dest.display())
            })?;
            written += 1;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok((written, skipped))
    }
}
