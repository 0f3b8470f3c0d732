//! Fetching an archive over HTTP(S): mirrors in turn, resume with `Range`,
//! progress bar, MD5 check before the file gets its real name.
//!
//! A download goes to `<name>.part` and is renamed to `<name>` only once its
//! MD5 matches, so a file with the archive's name is always a good one. A
//! connection cut mid-way is resumed from the bytes already on disk, on the
//! same mirror while it makes progress, then on the next mirror; so is a
//! `.part` left by an earlier, interrupted run.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::checksum::{self, Origin};
use super::progress;
use super::ArchiveSpec;

/// Attempts on one mirror that bring no new byte before giving up on it.
const MAX_STALLED_ATTEMPTS: u32 = 3;

/// Downloads `spec` into `dir` (created if needed) and returns the path of
/// the verified archive. Tries every URL of `spec` in turn; the error lists
/// what went wrong with each.
pub fn download(spec: &ArchiveSpec, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(spec.file_name);
    let part = dir.join(format!("{}.part", spec.file_name));
    let agent = agent();
    let mut failures = Vec::new();
    for url in &spec.urls {
        eprintln!("downloading {} from {url}", spec.file_name);
        let outcome = fetch(&agent, url, &part, spec.size)
            .and_then(|()| checksum::verify(&part, spec, Origin::Downloaded));
        match outcome {
            Ok(()) => {
                std::fs::rename(&part, &target).with_context(|| {
                    format!("cannot rename {} to {}", part.display(), target.display())
                })?;
                return Ok(target);
            }
            Err(error) => {
                eprintln!("warning: {url}: {error:#}");
                failures.push(format!("{url}: {error:#}"));
            }
        }
    }
    bail!(
        "could not download {} from any mirror:\n  {}\n(fetch it by other means and pass {} PATH, \
         or list other mirrors with --{}-url or {})",
        spec.file_name,
        failures.join("\n  "),
        spec.path_option,
        spec.key,
        spec.urls_env,
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .user_agent(concat!("eader-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn part_len(part: &Path) -> u64 {
    std::fs::metadata(part).map(|m| m.len()).unwrap_or(0)
}

/// Fetches `url` into `part`, resuming from its current length. Returns when
/// the whole file is there (by `Content-Length`/`Content-Range`, or `size`).
fn fetch(agent: &ureq::Agent, url: &str, part: &Path, size: Option<u64>) -> Result<()> {
    let mut stalled = 0;
    loop {
        let mut have = part_len(part);
        if let Some(size) = size {
            if have == size {
                return Ok(());
            }
            if have > size {
                truncate(part)?;
                have = 0;
            }
        }
        let mut request = agent.get(url).header("Accept-Encoding", "identity");
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = request.call().context("request failed")?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let content_length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let content_range = header("content-range");
        let (start, total) = match status {
            200 => (0, content_length),
            206 => {
                let (first, total) = content_range
                    .as_deref()
                    .and_then(parse_content_range)
                    .ok_or_else(|| anyhow!("206 response without a usable Content-Range"))?;
                if first != have {
                    bail!("asked for bytes from {have}, the server sent them from {first}");
                }
                (first, total.or(content_length.map(|len| first + len)))
            }
            416 if have > 0 => {
                // Nothing after our bytes: the file is complete, or ours is too long.
                let total = content_range.as_deref().and_then(parse_unsatisfied_range);
                if total == Some(have) || (total.is_none() && size.is_none()) {
                    return Ok(());
                }
                truncate(part)?;
                stalled += 1;
                if stalled >= MAX_STALLED_ATTEMPTS {
                    bail!("the server refuses every byte range");
                }
                continue;
            }
            404 => bail!("HTTP 404 Not Found"),
            other => bail!("HTTP {other}"),
        };
        if let (Some(size), Some(total)) = (size, total) {
            if total != size {
                bail!("the server has a {total}-byte file, the archive has {size} bytes");
            }
        }
        let mut file = if start == 0 {
            File::create(part)
        } else {
            OpenOptions::new().append(true).open(part)
        }
        .with_context(|| format!("cannot write {}", part.display()))?;

        let name = part
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bar = progress::bytes(
            total.or(size),
            format!("download {}", name.trim_end_matches(".part")),
        );
        bar.set_position(start);
        let mut body = response.into_body().into_reader();
        let mut received = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        let read_result = loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    file.write_all(&buf[..n])
                        .with_context(|| format!("cannot write {}", part.display()))?;
                    received += n as u64;
                    bar.inc(n as u64);
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => break Err(error),
            }
        };
        bar.finish_and_clear();
        file.flush()
            .with_context(|| format!("cannot write {}", part.display()))?;
        drop(file);

        let now = part_len(part);
        let complete = match total.or(size) {
            Some(total) => now >= total,
            None => read_result.is_ok(),
        };
        if complete {
            return Ok(());
        }
        let reason = match read_result {
            Err(error) => format!("connection lost after {now} bytes: {error}"),
            Ok(()) => format!("connection closed after {now} bytes"),
        };
        stalled = if received > 0 { 0 } else { stalled + 1 };
        if stalled >= MAX_STALLED_ATTEMPTS {
            bail!("{reason}; no progress in {MAX_STALLED_ATTEMPTS} attempts");
        }
        eprintln!("{reason}; resuming");
    }
}

fn truncate(part: &Path) -> Result<()> {
    File::create(part)
        .map(drop)
        .with_context(|| format!("cannot truncate {}", part.display()))
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`) -> (FIRST, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, _last) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, total))
}

/// `bytes */TOTAL` (the Content-Range of a 416 answer) -> TOTAL.
fn parse_unsatisfied_range(value: &str) -> Option<u64> {
    value.trim().strip_prefix("bytes */")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_unsatisfied_range("bytes */200"), Some(200));
        assert_eq!(parse_unsatisfied_range("bytes 1-2/3"), None);
    }
}
