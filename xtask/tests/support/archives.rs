//! Tiny VOC 2012 and SBD archives in the real layouts, built by the tests:
//! `VOCtrainval_11-May-2012.tar` (`VOCdevkit/VOC2012/...`, with folders the
//! preparation must skip) and `benchmark.tgz` (`benchmark_RELEASE/dataset/...`
//! with `cls/*.mat` files in MATLAB v5 format, compressed and not).

use std::io::Write;
use std::path::{Path, PathBuf};

use eader_matfile::{
    CellArray, MatFile, NumericArray, NumericData, SparseArray, StructArray, Value, Variable,
    WriteOptions,
};
use md5::{Digest, Md5};

/// VOC's segmentation train list.
pub const VOC_TRAIN: &[&str] = &["2007_000001", "2007_000002", "2008_000003"];
/// VOC's segmentation val list.
pub const VOC_VAL: &[&str] = &["2007_000010", "2008_000011"];
/// SBD's train list: overlaps VOC train (2007_000001) and VOC val (2007_000010).
pub const SBD_TRAIN: &[&str] = &["2007_000001", "2009_000020", "2009_000021", "2007_000010"];
/// SBD's val list.
pub const SBD_VAL: &[&str] = &["2009_000022", "2010_000030"];
/// An image in no segmentation list.
pub const OTHER: &[&str] = &["2011_000099"];
/// SBD train ∪ SBD val ∪ VOC train − VOC val, sorted: what train_aug.txt must hold.
pub const TRAIN_AUG: &[&str] = &[
    "2007_000001",
    "2007_000002",
    "2008_000003",
    "2009_000020",
    "2009_000021",
    "2009_000022",
    "2010_000030",
];
/// `--expect-counts` for these archives.
pub const COUNTS: &str = "7,3,2";

/// Faults to build into the archives.
#[derive(Default, Clone)]
pub struct Faults {
    /// An SBD id whose `.mat` file is cut short.
    pub truncated_mat: Option<&'static str>,
}

/// The two archives and their MD5s.
pub struct Archives {
    pub voc_tar: PathBuf,
    pub sbd_tgz: PathBuf,
    pub voc_md5: String,
    pub sbd_md5: String,
}

impl Archives {
    /// The options pointing `prepare-voc` at these local files.
    pub fn local_args(&self) -> Vec<String> {
        let mut args = vec![
            "--voc-tar".to_owned(),
            self.voc_tar.display().to_string(),
            "--sbd-tgz".to_owned(),
            self.sbd_tgz.display().to_string(),
        ];
        args.extend(self.checksum_args());
        args
    }

    /// `--voc-md5`, `--sbd-md5` and `--expect-counts` for these archives.
    pub fn checksum_args(&self) -> Vec<String> {
        vec![
            "--voc-md5".to_owned(),
            self.voc_md5.clone(),
            "--sbd-md5".to_owned(),
            self.sbd_md5.clone(),
            "--expect-counts".to_owned(),
            COUNTS.to_owned(),
        ]
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// Index of an id among all ids, to vary sizes and contents.
fn seed(id: &str) -> usize {
    id.bytes().map(usize::from).sum()
}

/// Image size of an id: small, never square.
pub fn size_of(id: &str) -> (u32, u32) {
    let s = seed(id);
    (12 + (s % 5) as u32, 8 + (s % 3) as u32)
}

/// The label SBD gives an id (row-major), values 0..=20.
pub fn sbd_label(id: &str) -> Vec<u8> {
    let (w, h) = size_of(id);
    let s = seed(id);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| ((x as usize + 2 * y as usize + s) % 21) as u8))
        .collect()
}

/// The label VOC gives an id (row-major): classes, with a void top row.
pub fn voc_label(id: &str) -> Vec<u8> {
    let (w, h) = size_of(id);
    let s = seed(id);
    (0..h)
        .flat_map(|y| {
            (0..w).map(move |x| {
                if y == 0 {
                    255
                } else {
                    ((3 * x as usize + y as usize + s) % 21) as u8
                }
            })
        })
        .collect()
}

fn jpeg(id: &str) -> Vec<u8> {
    let (w, h) = size_of(id);
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 25) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The standard VOC colour map, 256 entries.
fn voc_palette() -> Vec<u8> {
    let mut palette = Vec::with_capacity(768);
    for index in 0..256u32 {
        let (mut r, mut g, mut b, mut c) = (0u8, 0u8, 0u8, index);
        for shift in (0..8).rev() {
            r |= ((c & 1) as u8) << shift;
            g |= (((c >> 1) & 1) as u8) << shift;
            b |= (((c >> 2) & 1) as u8) << shift;
            c >>= 3;
        }
        palette.extend_from_slice(&[r, g, b]);
    }
    palette
}

/// A palette PNG as VOC ships its labels.
pub fn palette_png(width: u32, height: u32, indices: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(voc_palette());
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(indices).unwrap();
    writer.finish().unwrap();
    out
}

/// A grayscale PNG.
pub fn gray_png(width: u32, height: u32, values: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(values).unwrap();
    writer.finish().unwrap();
    out
}

/// An SBD `cls/<id>.mat`: struct GTcls with Boundaries (20x1 cell of sparse
/// logical), Segmentation (uint8, column-major) and CategoriesPresent.
pub fn sbd_mat(id: &str, compress: bool) -> Vec<u8> {
    let (w, h) = size_of(id);
    let (w, h) = (w as usize, h as usize);
    let row_major = sbd_label(id);
    let column_major: Vec<u8> = (0..w)
        .flat_map(|x| (0..h).map(move |y| (x, y)))
        .map(|(x, y)| row_major[y * w + x])
        .collect();
    let boundaries = (0..20)
        .map(|class_idx| {
            // One boundary pixel for class 1, none elsewhere.
            let (row_indices, col_starts, values) = if class_idx == 0 {
                (
                    vec![0],
                    std::iter::once(0)
                        .chain(std::iter::repeat_n(1, w))
                        .collect(),
                    vec![1],
                )
            } else {
                (vec![], vec![0; w + 1], vec![])
            };
            Value::Sparse(SparseArray {
                rows: h,
                cols: w,
                logical: true,
                row_indices,
                col_starts,
                real: NumericData::UInt8(values),
                imag: None,
            })
        })
        .collect();
    let mut present: Vec<u8> = row_major.iter().copied().filter(|&v| v > 0).collect();
    present.sort_unstable();
    present.dedup();
    let gtcls = Value::Struct(StructArray {
        dims: vec![1, 1],
        field_names: vec![
            "Boundaries".to_owned(),
            "Segmentation".to_owned(),
            "CategoriesPresent".to_owned(),
        ],
        values: vec![
            Value::Cell(CellArray {
                dims: vec![20, 1],
                cells: boundaries,
            }),
            Value::Numeric(NumericArray::new(
                vec![h, w],
                NumericData::UInt8(column_major),
            )),
            Value::Numeric(NumericArray::new(
                vec![present.len(), 1],
                NumericData::UInt8(present),
            )),
        ],
    });
    MatFile {
        header_text: "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan 10 2011"
            .to_owned(),
        variables: vec![Variable {
            name: "GTcls".to_owned(),
            global: false,
            value: gtcls,
        }],
    }
    .to_bytes(WriteOptions { compress })
    .unwrap()
}

fn append(builder: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_336_000_000);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, data).unwrap();
}

fn append_dir(builder: &mut tar::Builder<impl Write>, path: &str) {
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Directory);
    builder.append_data(&mut header, path, &[][..]).unwrap();
}

fn lines(ids: &[&str]) -> Vec<u8> {
    ids.iter()
        .map(|id| format!("{id}\n"))
        .collect::<String>()
        .into_bytes()
}

/// The VOC tar's bytes.
pub fn voc_tar_bytes() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let root = "VOCdevkit/VOC2012";
    for dir in [
        "VOCdevkit/",
        "VOCdevkit/VOC2012/",
        "VOCdevkit/VOC2012/JPEGImages/",
    ] {
        append_dir(&mut builder, dir);
    }
    let annotated: Vec<&str> = VOC_TRAIN.iter().chain(VOC_VAL).copied().collect();
    let all: Vec<&str> = annotated
        .iter()
        .chain(SBD_TRAIN)
        .chain(SBD_VAL)
        .chain(OTHER)
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for id in &all {
        append(
            &mut builder,
            &format!("{root}/JPEGImages/{id}.jpg"),
            &jpeg(id),
        );
        append(
            &mut builder,
            &format!("{root}/Annotations/{id}.xml"),
            format!("<annotation><filename>{id}.jpg</filename></annotation>").as_bytes(),
        );
    }
    for id in &annotated {
        let (w, h) = size_of(id);
        let png = palette_png(w, h, &voc_label(id));
        append(
            &mut builder,
            &format!("{root}/SegmentationClass/{id}.png"),
            &png,
        );
        append(
            &mut builder,
            &format!("{root}/SegmentationObject/{id}.png"),
            &png,
        );
    }
    let sets = format!("{root}/ImageSets/Segmentation");
    append(
        &mut builder,
        &format!("{sets}/train.txt"),
        &lines(VOC_TRAIN),
    );
    append(&mut builder, &format!("{sets}/val.txt"), &lines(VOC_VAL));
    append(
        &mut builder,
        &format!("{sets}/trainval.txt"),
        &lines(&annotated),
    );
    append(
        &mut builder,
        &format!("{root}/ImageSets/Main/train.txt"),
        &lines(&all),
    );
    builder.into_inner().unwrap()
}

/// SBD's tgz bytes.
pub fn sbd_tgz_bytes(faults: &Faults) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    append_dir(&mut builder, "benchmark_RELEASE/");
    append_dir(&mut builder, "benchmark_RELEASE/dataset/");
    for (i, id) in SBD_TRAIN.iter().chain(SBD_VAL).enumerate() {
        let mut mat = sbd_mat(id, i % 2 == 0);
        if faults.truncated_mat == Some(*id) {
            mat.truncate(mat.len() / 2);
        }
        append(
            &mut builder,
            &format!("benchmark_RELEASE/dataset/cls/{id}.mat"),
            &mat,
        );
        append(
            &mut builder,
            &format!("benchmark_RELEASE/dataset/inst/{id}.mat"),
            &mat,
        );
        append(
            &mut builder,
            &format!("benchmark_RELEASE/dataset/img/{id}.jpg"),
            &jpeg(id),
        );
    }
    append(
        &mut builder,
        "benchmark_RELEASE/dataset/train.txt",
        &lines(SBD_TRAIN),
    );
    append(
        &mut builder,
        "benchmark_RELEASE/dataset/val.txt",
        &lines(SBD_VAL),
    );
    append(
        &mut builder,
        "benchmark_RELEASE/README",
        b"Semantic Boundaries Dataset\n",
    );
    builder.into_inner().unwrap().finish().unwrap()
}

/// Writes both archives into `dir`.
pub fn build(dir: &Path, faults: &Faults) -> Archives {
    std::fs::create_dir_all(dir).unwrap();
    let voc = voc_tar_bytes();
    let sbd = sbd_tgz_bytes(faults);
    let voc_tar = dir.join("VOCtrainval_11-May-2012.tar");
    let sbd_tgz = dir.join("benchmark.tgz");
    std::fs::write(&voc_tar, &voc).unwrap();
    std::fs::write(&sbd_tgz, &sbd).unwrap();
    Archives {
        voc_tar,
        sbd_tgz,
        voc_md5: md5_hex(&voc),
        sbd_md5: md5_hex(&sbd),
    }
}
