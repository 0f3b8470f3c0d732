//! What the `prepare-*` tasks share: an archive's published checksum and
//! mirrors ([`ArchiveSpec`]), finding or downloading it ([`obtain`],
//! [`download`]: mirrors in turn, `Range` resume, `.part` renamed only after
//! its MD5 matches), the MD5 check ([`checksum`]), progress bars
//! ([`progress`]) and files that appear only when complete
//! ([`partial_path`], [`write_atomic`]).

pub mod checksum;
pub mod download;
pub mod progress;
mod spec;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use checksum::Origin;
pub use spec::{is_md5, ArchiveSpec, Published};

/// Finds (or, with `download`, fetches into `downloads`) one archive and
/// checks its MD5: `local` if given (never moved, even when it fails), else
/// `downloads/<file name>` from an earlier run, else a download.
pub fn obtain(
    spec: &ArchiveSpec,
    local: Option<&Path>,
    download: bool,
    downloads: &Path,
) -> Result<PathBuf> {
    if let Some(path) = local {
        if !path.is_file() {
            bail!(
                "{}: no such file (given with {})",
                path.display(),
                spec.path_option
            );
        }
        eprintln!("checking the MD5 of {}", path.display());
        checksum::verify(path, spec, Origin::User)?;
        return Ok(path.to_owned());
    }
    let cached = downloads.join(spec.file_name);
    if cached.is_file() {
        eprintln!("checking the MD5 of {}", cached.display());
        checksum::verify(&cached, spec, Origin::Downloaded).with_context(|| {
            format!(
                "{} was damaged; run again with --download to fetch it anew",
                cached.display()
            )
        })?;
        return Ok(cached);
    }
    if download {
        return download::download(spec, downloads);
    }
    bail!(
        "no {} archive: pass {} PATH (a copy of {}) or --download",
        spec.label,
        spec.path_option,
        spec.file_name
    )
}

/// `<name>.partial` next to `path`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` through [`partial_path`], so the file appears
/// only when complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
}

/// `--expect-counts`: `any` (no check) or one number per split named in
/// `splits`, comma separated (`82081,40137`).
pub fn parse_counts(text: &str, splits: &[&str]) -> Result<Option<Vec<usize>>> {
    if text == "any" {
        return Ok(None);
    }
    let numbers: Vec<usize> = text
        .split(',')
        .map(|n| n.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .ok()
        .filter(|numbers: &Vec<usize>| numbers.len() == splits.len())
        .with_context(|| {
            format!(
                "--expect-counts {text:?} is not {} ({} numbers) or `any`",
                splits.join(","),
                splits.len()
            )
        })?;
    Ok(Some(numbers))
}

/// Checks the `--*-md5` options given: each must be 32 hex digits.
pub fn check_md5_options(options: &[(Option<&str>, &str)]) -> Result<()> {
    for &(md5, option) in options {
        if let Some(md5) = md5 {
            if !is_md5(md5) {
                bail!("{option} {md5:?} is not an MD5 (32 hex digits)");
            }
        }
    }
    Ok(())
}

/// `--jobs`: at least 1; not given, the machine's parallelism.
pub fn jobs(given: Option<usize>) -> Result<usize> {
    match given {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(jobs) => Ok(jobs),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
