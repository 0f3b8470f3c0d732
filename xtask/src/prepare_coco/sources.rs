//! Where COCO 2014's three archives come from: file names, published MD5s
//! and sizes, mirrors. The one place to edit when a host moves.
//!
//! The MD5s are those many projects check the official files against (for
//! instance Salesforce LAVIS' `download_coco.py` for the two image archives;
//! PaddleDetection's and paddlenlp's COCO downloaders for all three), and the
//! annotations' one is also the ETag of the S3 object behind
//! images.cocodataset.org; the sizes are the official servers'
//! `Content-Length` as wget logs and download scripts record them.

use crate::fetch::{ArchiveSpec, Published};

/// MD5 of `train2014.zip`.
pub const TRAIN_MD5: &str = "0da8c0bd3d6becc4dcb32757491aca88";
/// MD5 of `val2014.zip`.
pub const VAL_MD5: &str = "a3d79f5ed8d289b7a7554ce06a5782b3";
/// MD5 of `annotations_trainval2014.zip`.
pub const ANNOTATIONS_MD5: &str = "0a379cfc70b0e71301e0f377548639bd";
/// Size of `train2014.zip` in bytes.
pub const TRAIN_SIZE: u64 = 13_510_573_713;
/// Size of `val2014.zip` in bytes.
pub const VAL_SIZE: u64 = 6_645_013_297;
/// Size of `annotations_trainval2014.zip` in bytes.
pub const ANNOTATIONS_SIZE: u64 = 252_872_794;

/// The official host, then the S3 bucket behind it.
pub const TRAIN_MIRRORS: &[&str] = &[
    "http://images.cocodataset.org/zips/train2014.zip",
    "https://s3.amazonaws.com/images.cocodataset.org/zips/train2014.zip",
];
/// As [`TRAIN_MIRRORS`].
pub const VAL_MIRRORS: &[&str] = &[
    "http://images.cocodataset.org/zips/val2014.zip",
    "https://s3.amazonaws.com/images.cocodataset.org/zips/val2014.zip",
];
/// As [`TRAIN_MIRRORS`].
pub const ANNOTATIONS_MIRRORS: &[&str] = &[
    "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
    "https://s3.amazonaws.com/images.cocodataset.org/annotations/annotations_trainval2014.zip",
];

/// `train2014.zip`.
pub const TRAIN: Published = Published {
    label: "COCO train2014",
    key: "train",
    path_option: "--train-zip",
    urls_env: "EADER_COCO_TRAIN_URLS",
    file_name: "train2014.zip",
    md5: TRAIN_MD5,
    size: TRAIN_SIZE,
    mirrors: TRAIN_MIRRORS,
};

/// `val2014.zip`.
pub const VAL: Published = Published {
    label: "COCO val2014",
    key: "val",
    path_option: "--val-zip",
    urls_env: "EADER_COCO_VAL_URLS",
    file_name: "val2014.zip",
    md5: VAL_MD5,
    size: VAL_SIZE,
    mirrors: VAL_MIRRORS,
};

/// `annotations_trainval2014.zip`.
pub const ANNOTATIONS: Published = Published {
    label: "COCO 2014 annotations",
    key: "annotations",
    path_option: "--annotations-zip",
    urls_env: "EADER_COCO_ANNOTATIONS_URLS",
    file_name: "annotations_trainval2014.zip",
    md5: ANNOTATIONS_MD5,
    size: ANNOTATIONS_SIZE,
    mirrors: ANNOTATIONS_MIRRORS,
};

/// `published` with `urls` (else its environment variable, else its
/// mirrors) and `md5` replacing the published checksum.
pub fn spec(published: &Published, urls: &[String], md5: Option<&str>) -> ArchiveSpec {
    ArchiveSpec::new(published, urls, md5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_specs_carry_checksum_and_size() {
        for (published, md5, size) in [
            (&TRAIN, TRAIN_MD5, TRAIN_SIZE),
            (&VAL, VAL_MD5, VAL_SIZE),
            (&ANNOTATIONS, ANNOTATIONS_MD5, ANNOTATIONS_SIZE),
        ] {
            let spec = spec(published, &[], None);
            assert!(crate::fetch::is_md5(&spec.md5));
            assert_eq!((spec.md5.as_str(), spec.size), (md5, Some(size)));
        }
        let other = spec(
            &VAL,
            &["http://127.0.0.1:1/v.zip".to_owned()],
            Some(TRAIN_MD5),
        );
        assert_eq!(other.size, None);
        assert_eq!(other.urls, ["http://127.0.0.1:1/v.zip"]);
    }
}
