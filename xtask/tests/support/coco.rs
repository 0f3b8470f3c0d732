//! Tiny COCO 2014 archives in the real layouts, built by the tests from the
//! committed synthetic instance files (`tests/fixtures/coco/`, made by
//! `make_fixtures.py`): `train2014.zip` / `val2014.zip` (`<split>2014/*.jpg`)
//! and `annotations_trainval2014.zip` (`annotations/instances_*2014.json`
//! with a captions file the preparation must skip), with faults on demand.

// Each test binary uses a part of the support code.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Faults to build into the archives.
#[derive(Default, Clone)]
pub struct Faults {
    /// Leave this image file out of its zip.
    pub missing_image: Option<&'static str>,
    /// Cut the val zip to half its length.
    pub truncated_val_zip: bool,
    /// Give the first val annotation this category id.
    pub category_id: Option<u64>,
    /// Move the first val annotation's polygon this far right.
    pub shift_polygon: Option<f64>,
}

/// Annotated images per split, as `--expect-counts` takes them.
pub const COUNTS: &str = "2,4";
/// The train image without annotations.
pub const UNLABELED: &str = "COCO_train2014_000000001010";

/// The three archives and their MD5s.
pub struct Archives {
    pub train_zip: PathBuf,
    pub val_zip: PathBuf,
    pub annotations_zip: PathBuf,
    pub md5s: [String; 3],
}

impl Archives {
    /// Options pointing `prepare-coco` at these local files.
    pub fn local_args(&self) -> Vec<String> {
        let mut args = vec![
            "--train-zip".to_owned(),
            self.train_zip.display().to_string(),
            "--val-zip".to_owned(),
            self.val_zip.display().to_string(),
            "--annotations-zip".to_owned(),
            self.annotations_zip.display().to_string(),
        ];
        args.extend(self.checksum_args());
        args
    }

    /// `--*-md5` and `--expect-counts` for these archives.
    pub fn checksum_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (key, md5) in ["train", "val", "annotations"].iter().zip(&self.md5s) {
            args.extend([format!("--{key}-md5"), md5.clone()]);
        }
        args.extend(["--expect-counts".to_owned(), COUNTS.to_owned()]);
        args
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/coco")
}

/// A committed fixture, parsed.
pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

/// The instances file of `split`, with `faults` applied to val.
pub fn instances(split: &str, faults: &Faults) -> Value {
    let mut data = fixture(&format!("instances_{split}2014.json"));
    if split == "val" {
        let first = &mut data["annotations"][0];
        if let Some(id) = faults.category_id {
            first["category_id"] = id.into();
        }
        if let Some(dx) = faults.shift_polygon {
            let shifted = serde_json::json!([[dx, 1.0, dx + 5.0, 1.0, dx + 5.0, 6.0]]);
            first["segmentation"] = shifted;
        }
    }
    data
}

/// A JPEG of `width` x `height`.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 9) as u8, 100])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A zip of `(name, bytes)` entries (names ending in `/` are folders).
pub fn zip_bytes(entries: &[(String, Vec<u8>)], compress: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if compress {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        if let Some(folder) = name.strip_suffix('/') {
            writer.add_directory(folder, options).unwrap();
        } else {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(bytes).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

/// The image zip of `split`.
pub fn images_zip(split: &str, faults: &Faults) -> Vec<u8> {
    let data = instances(split, &Faults::default());
    let mut entries = vec![(format!("{split}2014/"), Vec::new())];
    for image in data["images"].as_array().unwrap() {
        let name = image["file_name"].as_str().unwrap();
        if faults.missing_image == Some(name) {
            continue;
        }
        let (w, h) = (
            image["width"].as_u64().unwrap(),
            image["height"].as_u64().unwrap(),
        );
        entries.push((format!("{split}2014/{name}"), jpeg(w as u32, h as u32)));
    }
    let mut bytes = zip_bytes(&entries, false);
    if split == "val" && faults.truncated_val_zip {
        bytes.truncate(bytes.len() / 2);
    }
    bytes
}

/// `annotations_trainval2014.zip`.
pub fn annotations_zip(faults: &Faults) -> Vec<u8> {
    let mut entries = vec![("annotations/".to_owned(), Vec::new())];
    for split in ["train", "val"] {
        entries.push((
            format!("annotations/instances_{split}2014.json"),
            serde_json::to_vec(&instances(split, faults)).unwrap(),
        ));
    }
    entries.push((
        "annotations/captions_train2014.json".to_owned(),
        b"{}".to_vec(),
    ));
    zip_bytes(&entries, true)
}

/// Writes the three archives into `dir`.
pub fn build(dir: &Path, faults: &Faults) -> Archives {
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, super::archives::md5_hex(&bytes))
    };
    let (train_zip, train_md5) = write("train2014.zip", images_zip("train", faults));
    let (val_zip, val_md5) = write("val2014.zip", images_zip("val", faults));
    let (annotations_zip, annotations_md5) =
        write("annotations_trainval2014.zip", annotations_zip(faults));
    Archives {
        train_zip,
        val_zip,
        annotations_zip,
        md5s: [train_md5, val_md5, annotations_md5],
    }
}
