//! MD5 of an archive, and what happens to one that does not match.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};

use super::progress;
use super::ArchiveSpec;

/// Lowercase hex MD5 of the file at `path`, with a progress bar.
pub fn md5_file(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let bar = progress::bytes(len, format!("md5 {name}"));
    let mut reader = progress::Reader::new(file, bar.clone());
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    bar.finish_and_clear();
    Ok(format!("{:x}", hasher.finalize()))
}

/// The name a download of `file_name` whose MD5 is `actual` is kept under,
/// next to `path`: it no longer ends in `.tar`/`.tgz` and says why it was set
/// aside.
pub fn quarantine_path(path: &Path, file_name: &str, actual: &str) -> PathBuf {
    path.with_file_name(format!("{file_name}.md5-mismatch-{actual}.bad"))
}

/// Who owns an archive: files we downloaded are renamed when they fail the
/// check; files the user gave are never touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given with an option (`--voc-tar`, `--train-zip`).
    User,
    /// Downloaded into the root's `downloads/`.
    Downloaded,
}

/// Checks `path` against `spec.md5`. A downloaded file that fails is renamed
/// with [`quarantine_path`]; both cases are an error that says so.
pub fn verify(path: &Path, spec: &ArchiveSpec, origin: Origin) -> Result<()> {
    let actual = md5_file(path)?;
    if actual == spec.md5 {
        return Ok(());
    }
    match origin {
        Origin::User => bail!(
            "{} has MD5 {actual}, but the {} archive {} has MD5 {}: it is another or a damaged file \
             (pass --{}-md5 {actual} if it is another release you mean to use)",
            path.display(),
            spec.label,
            spec.file_name,
            spec.md5,
            spec.key,
        ),
        Origin::Downloaded => {
            let bad = quarantine_path(path, spec.file_name, &actual);
            std::fs::rename(path, &bad).with_context(|| {
                format!("cannot rename {} to {}", path.display(), bad.display())
            })?;
            bail!(
                "MD5 mismatch: downloaded {} has MD5 {actual}, expected {}; kept it as {}",
                spec.file_name,
                spec.md5,
                bad.display()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_a_known_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"The quick brown fox jumps over the lazy dog").unwrap();
        // RFC 1321's test suite and Python's hashlib agree on this value.
        assert_eq!(md5_file(&path).unwrap(), "9e107d9d372bb6826bd81d3542a419d6");
    }

    #[test]
    fn quarantined_name_cannot_pass_for_the_archive() {
        let bad = quarantine_path(Path::new("/x/benchmark.tgz.part"), "benchmark.tgz", "abc");
        assert_eq!(bad, Path::new("/x/benchmark.tgz.md5-mismatch-abc.bad"));
    }
}
