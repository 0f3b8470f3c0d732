//! One archive: what it is called, how to check it, where to fetch it.

/// One archive, as a task uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// Short name in messages (`VOC 2012`, `SBD`, `COCO train2014`).
    pub label: &'static str,
    /// Prefix of its command-line options (`voc` for `--voc-url`, `--voc-md5`).
    pub key: &'static str,
    /// The option that gives a local copy (`--voc-tar`, `--train-zip`).
    pub path_option: &'static str,
    /// The environment variable listing mirrors.
    pub urls_env: &'static str,
    /// File name, as published.
    pub file_name: &'static str,
    /// Lowercase hex MD5 the file must have.
    pub md5: String,
    /// Size in bytes when known (the published archives), to refuse a mirror
    /// that serves something else before downloading gigabytes of it.
    pub size: Option<u64>,
    /// URLs tried in order.
    pub urls: Vec<String>,
}

/// What is published about an archive: the constant part of an [`ArchiveSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// See [`ArchiveSpec::label`].
    pub label: &'static str,
    /// See [`ArchiveSpec::key`].
    pub key: &'static str,
    /// See [`ArchiveSpec::path_option`].
    pub path_option: &'static str,
    /// See [`ArchiveSpec::urls_env`].
    pub urls_env: &'static str,
    /// See [`ArchiveSpec::file_name`].
    pub file_name: &'static str,
    /// The published MD5, lowercase hex.
    pub md5: &'static str,
    /// The published size in bytes.
    pub size: u64,
    /// Known copies, tried in order.
    pub mirrors: &'static [&'static str],
}

impl ArchiveSpec {
    /// The published archive, with `urls` if given, else the list in its
    /// environment variable (URLs separated by spaces or commas), else its
    /// mirrors; `md5` replaces the published checksum (and drops the known
    /// size).
    pub fn new(published: &Published, urls: &[String], md5: Option<&str>) -> ArchiveSpec {
        let md5 = md5.unwrap_or(published.md5).to_ascii_lowercase();
        let size = (md5 == published.md5).then_some(published.size);
        ArchiveSpec {
            label: published.label,
            key: published.key,
            path_option: published.path_option,
            urls_env: published.urls_env,
            file_name: published.file_name,
            md5,
            size,
            urls: mirrors(urls, published.urls_env, published.mirrors),
        }
    }
}

fn mirrors(flag: &[String], env: &str, default: &[&str]) -> Vec<String> {
    if !flag.is_empty() {
        return flag.to_vec();
    }
    let from_env = std::env::var(env).unwrap_or_default();
    let listed: Vec<String> = from_env
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if listed.is_empty() {
        default.iter().map(|&url| url.to_owned()).collect()
    } else {
        listed
    }
}

/// Whether `text` is 32 hex digits.
pub fn is_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_syntax() {
        assert!(is_md5("6cd6e144f989b92b3379bac3b3de84fd"));
        assert!(!is_md5("6cd6e144f989b92b3379bac3b3de84f"));
        assert!(!is_md5("6cd6e144f989b92b3379bac3b3de84fg"));
    }
}
