//! Where the two archives come from: file names, published MD5s and sizes,
//! and the mirrors tried in turn. This is the one place to edit when a host
//! moves.

use crate::fetch::{ArchiveSpec, Published};

/// MD5 of `VOCtrainval_11-May-2012.tar` (as torchvision's `datasets/voc.py` gives it).
pub const VOC_MD5: &str = "6cd6e144f989b92b3379bac3b3de84fd";
/// MD5 of SBD's `benchmark.tgz` (as torchvision's `datasets/sbd.py` gives it).
pub const SBD_MD5: &str = "82b4d87ceb2ed10f6038a1cba92111cb";
/// Size of `VOCtrainval_11-May-2012.tar` in bytes.
pub const VOC_SIZE: u64 = 1_999_639_040;
/// Size of `benchmark.tgz` in bytes.
pub const SBD_SIZE: u64 = 1_419_539_633;

/// Known copies of `VOCtrainval_11-May-2012.tar`: Oxford's current host (the
/// one torchvision uses), the original host, the AWS copy used by Dive into
/// Deep Learning (d2l), and Joseph Redmon's mirror.
pub const VOC_MIRRORS: &[&str] = &[
    "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar",
    "https://pjreddie.com/media/files/VOCtrainval_11-May-2012.tar",
];

/// Known copies of SBD's `benchmark.tgz`: Berkeley's `www2` host (the one
/// torchvision uses) and the original `www` address.
pub const SBD_MIRRORS: &[&str] = &[
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
    "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
];

/// Environment variable replacing [`VOC_MIRRORS`] (URLs separated by spaces or commas).
pub const VOC_URLS_ENV: &str = "EADER_VOC_URLS";
/// Environment variable replacing [`SBD_MIRRORS`].
pub const SBD_URLS_ENV: &str = "EADER_SBD_URLS";

/// The published VOC archive.
pub const VOC: Published = Published {
    label: "VOC 2012",
    key: "voc",
    path_option: "--voc-tar",
    urls_env: VOC_URLS_ENV,
    file_name: "VOCtrainval_11-May-2012.tar",
    md5: VOC_MD5,
    size: VOC_SIZE,
    mirrors: VOC_MIRRORS,
};

/// The published SBD archive.
pub const SBD: Published = Published {
    label: "SBD",
    key: "sbd",
    path_option: "--sbd-tgz",
    urls_env: SBD_URLS_ENV,
    file_name: "benchmark.tgz",
    md5: SBD_MD5,
    size: SBD_SIZE,
    mirrors: SBD_MIRRORS,
};

/// The published VOC archive, with `urls` if given, else the list in
/// [`VOC_URLS_ENV`], else [`VOC_MIRRORS`]; `md5` replaces the published
/// checksum (and drops the known size).
pub fn voc(urls: &[String], md5: Option<&str>) -> ArchiveSpec {
    ArchiveSpec::new(&VOC, urls, md5)
}

/// The published SBD archive; arguments as for [`voc`], with [`SBD_URLS_ENV`].
pub fn sbd(urls: &[String], md5: Option<&str>) -> ArchiveSpec {
    ArchiveSpec::new(&SBD, urls, md5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_specs_carry_checksum_size_and_mirrors() {
        let voc = voc(&[], None);
        assert_eq!(voc.md5, VOC_MD5);
        assert_eq!(voc.size, Some(VOC_SIZE));
        assert_eq!(voc.file_name, "VOCtrainval_11-May-2012.tar");
        if std::env::var_os(VOC_URLS_ENV).is_none() {
            assert_eq!(voc.urls.len(), VOC_MIRRORS.len());
        }
        let sbd = sbd(&["http://127.0.0.1:1/b.tgz".to_owned()], None);
        assert_eq!(sbd.urls, ["http://127.0.0.1:1/b.tgz"]);
        assert_eq!(sbd.size, Some(SBD_SIZE));
    }

    #[test]
    fn another_checksum_drops_the_known_size() {
        let voc = voc(&[], Some("0123456789ABCDEF0123456789abcdef"));
        assert_eq!(voc.md5, "0123456789abcdef0123456789abcdef");
        assert_eq!(voc.size, None);
    }
}
