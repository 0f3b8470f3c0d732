//! Image-id lists (`ImageSets/Segmentation/*.txt`, SBD's `train.txt`/`val.txt`)
//! and the `train_aug` split computed from them.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Reads one id per line (blank lines ignored, surrounding spaces trimmed).
pub fn read_ids(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut ids = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!(
                "{}:{}: {id:?} is not an image id (letters, digits, '_' and '-' only)",
                path.display(),
                line_idx + 1
            );
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// `train_aug` = SBD train ∪ SBD val ∪ VOC train, minus VOC val; sorted, no duplicates.
pub fn train_aug(
    sbd_train: &[String],
    sbd_val: &[String],
    voc_train: &[String],
    voc_val: &[String],
) -> Vec<String> {
    let val: BTreeSet<&String> = voc_val.iter().collect();
    let all: BTreeSet<&String> = sbd_train.iter().chain(sbd_val).chain(voc_train).collect();
    all.into_iter()
        .filter(|id| !val.contains(id))
        .cloned()
        .collect()
}

/// Writes `ids`, one per line (no ids: an empty file), unless the file already holds exactly that;
/// returns whether it wrote.
pub fn write_ids(path: &Path, ids: &[String]) -> Result<bool> {
    let mut text = ids.join("\n");
    if !ids.is_empty() {
        text.push('\n');
    }
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    crate::fetch::write_atomic(path, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn train_aug_is_the_union_minus_val_sorted() {
        let result = train_aug(
            &ids(&["b", "a", "v1"]),
            &ids(&["c", "a"]),
            &ids(&["t", "b"]),
            &ids(&["v1", "v2"]),
        );
        assert_eq!(result, ids(&["a", "b", "c", "t"]));
    }

    #[test]
    fn lists_are_read_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.txt");
        std::fs::write(&path, "2007_000032\r\n 2008_000002 \n\n").unwrap();
        assert_eq!(
            read_ids(&path).unwrap(),
            ids(&["2007_000032", "2008_000002"])
        );
        std::fs::write(&path, "2007_000032\n../etc/passwd\n").unwrap();
        let error = format!("{:#}", read_ids(&path).unwrap_err());
        assert!(
            error.ends_with(
                "l.txt:2: \"../etc/passwd\" is not an image id (letters, digits, '_' and '-' only)"
            ),
            "{error}"
        );
    }

    #[test]
    fn write_ids_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.txt");
        assert!(write_ids(&path, &ids(&["a", "b"])).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        assert!(!write_ids(&path, &ids(&["a", "b"])).unwrap());
        assert!(write_ids(&path, &ids(&["a"])).unwrap());
    }
}
