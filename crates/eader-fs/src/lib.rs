//! Atomic file writes, the one way every eader stage writes an output file.
//!
//! A file is written to `<name>.tmp` beside its destination and renamed over
//! it only when complete, so a reader (or a resumed run) sees the old file or
//! the new one, never a partial one. [`Durability::Synced`] also flushes the
//! data to disk before the rename (checkpoints, configurations);
//! [`Durability::Renamed`] skips that for outputs that can be recomputed.
//! The crate depends on nothing, so every other crate can use it.
#![warn(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// How hard a write tries to survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Temporary file then rename: never a partial file after a crash of the process.
    Renamed,
    /// Also `fsync` the data before the rename: survives a power loss too.
    Synced,
}

/// A write that failed: the file (the temporary one when the failure happened
/// there) and the cause.
#[derive(Debug)]
pub struct WriteError {
    /// The file being written.
    pub path: PathBuf,
    /// What went wrong.
    pub source: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `path` with `suffix` appended to its file name (`a/b.json` -> `a/b.json.tmp`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The temporary file a write of `path` goes through: `<path>.tmp`.
pub fn temporary_path(path: &Path) -> PathBuf {
    with_suffix(path, ".tmp")
}

/// Writes `path` atomically: `write` fills the temporary file it is given
/// (any writer that takes a path: safetensors, npz, PNG encoders), which is
/// then synced (with [`Durability::Synced`]) and renamed over `path`. On any
/// failure the temporary file is removed and `path` is left as it was.
pub fn write_with(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let tmp = temporary_path(path);
    let fail = |path: &Path, source: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        WriteError {
            path: path.to_owned(),
            source,
        }
    };
    write(&tmp).map_err(|e| fail(&tmp, e))?;
    if durability == Durability::Synced {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| fail(path, e))
}

/// Writes `bytes` to `path` atomically (see [`write_with`]).
pub fn write_bytes(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), WriteError> {
    write_with(path, durability, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_failures_leave_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        for durability in [Durability::Renamed, Durability::Synced] {
            write_bytes(&path, b"one", durability).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"one");
        }
        assert!(!temporary_path(&path).exists());
        let err = write_with(&path, Durability::Synced, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("encoder failed"))
        })
        .unwrap_err();
        assert!(err.path.ends_with("a.json.tmp"), "{err}");
        assert!(err.to_string().contains("encoder failed"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert!(!temporary_path(&path).exists());
        // A missing folder names the temporary file.
        let missing = dir.path().join("no").join("b.png");
        let err = write_bytes(&missing, b"x", Durability::Renamed).unwrap_err();
        assert!(err.path.ends_with("b.png.tmp"), "{err}");
        assert_eq!(
            with_suffix(Path::new("x/y.png"), ".old"),
            Path::new("x/y.png.old")
        );
    }
}
