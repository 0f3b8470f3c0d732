//! Class names: VOC's twenty by default, or a dataset's own `classes.txt`.

use std::path::Path;

use crate::error::{Error, Result};

/// The 20 PASCAL VOC foreground classes, in the order of the multi-hot vector
/// (segmentation label = index + 1; 0 is background, 255 void).
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// File name of a dataset's own class list, looked up in the dataset folder.
pub const CLASSES_FILE: &str = "classes.txt";

/// Largest number of foreground classes: labels 1..=254 (0 is background,
/// 255 void).
pub const MAX_CLASSES: usize = 254;

/// The foreground class names of a dataset, in multi-hot order.
///
/// Class `i` (0-based) has segmentation label `i + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassList {
    names: Vec<String>,
}

impl ClassList {
    /// VOC's 20 classes ([`VOC_CLASSES`]).
    pub fn voc() -> Self {
        Self {
            names: VOC_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A list from names; 1..=254 distinct, non-empty names without
    /// surrounding whitespace.
    pub fn new<S: AsRef<str>>(names: &[S]) -> std::result::Result<Self, String> {
        let names: Vec<String> = names.iter().map(|s| s.as_ref().to_string()).collect();
        if names.is_empty() {
            return Err("class list is empty".into());
        }
        if names.len() > MAX_CLASSES {
            return Err(format!(
                "{} classes given, at most {MAX_CLASSES} fit in a u8 label map",
                names.len()
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name.trim() != name {
                return Err(format!(
                    "class {} has an empty or padded name {name:?}",
                    i + 1
                ));
            }
            if names[..i].contains(name) {
                return Err(format!("class name {name:?} appears twice"));
            }
        }
        Ok(Self { names })
    }

    /// Reads `classes.txt`: one foreground class name per line, in label
    /// order (line 1 = label 1); blank lines and surrounding spaces are
    /// ignored. A first line `background` (label 0, as some tools write it)
    /// is skipped.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut names: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if names
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case("background") || *n == "_background_")
        {
            names.remove(0);
        }
        Self::new(&names).map_err(|message| Error::InvalidClassList {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Number of foreground classes (the length of the multi-hot vector).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: a list has at least one class.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of foreground class `class_idx` (0-based, multi-hot order).
    pub fn name(&self, class_idx: usize) -> Option<&str> {
        self.names.get(class_idx).map(String::as_str)
    }

    /// All foreground names, in multi-hot order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names of all segmentation labels: `background` then the foreground
    /// classes (what a 21-class metrics table wants for VOC).
    pub fn with_background(&self) -> Vec<String> {
        std::iter::once("background".to_string())
            .chain(self.names.iter().cloned())
            .collect()
    }
}

impl Default for ClassList {
    fn default() -> Self {
        Self::voc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_list_is_method_order() {
        let classes = ClassList::voc();
        assert_eq!(classes.len(), 20);
        assert_eq!(classes.name(0), Some("aeroplane"));
        assert_eq!(classes.name(14), Some("person"));
        assert_eq!(classes.name(19), Some("tvmonitor"));
        assert_eq!(classes.name(20), None);
        assert_eq!(classes.with_background()[0], "background");
        assert_eq!(classes.with_background().len(), 21);
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(ClassList::new::<&str>(&[]).is_err());
        assert!(ClassList::new(&["a", "a"]).is_err());
        assert!(ClassList::new(&["a", ""]).is_err());
        assert!(ClassList::new(&[" a"]).is_err());
        let many: Vec<String> = (0..255).map(|i| format!("c{i}")).collect();
        assert!(ClassList::new(&many).is_err());
        assert!(ClassList::new(&many[..254]).is_ok());
    }

    #[test]
    fn reads_file_skipping_blanks_and_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CLASSES_FILE);
        std::fs::write(&path, "background\n cat \n\ndog\r\n").unwrap();
        let classes = ClassList::from_file(&path).unwrap();
        assert_eq!(classes.names(), &["cat".to_string(), "dog".to_string()]);
        std::fs::write(&path, "cat\ncat\n").unwrap();
        let err = ClassList::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("classes.txt") && err.contains("twice"),
            "{err}"
        );
    }
}
