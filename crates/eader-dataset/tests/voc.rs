//! Reading VOC layout: both label PNG kinds, class lists, every error case.

use eader_dataset::{ClassList, Error, LabelMap, VocDataset};

use crate::util::{item, mask_path, small_dataset, write_voc, MaskKind};

#[test]
fn opens_every_root_form_and_decodes_both_mask_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let voc = dir.path().join("VOCdevkit/VOC2012");
    let items = vec![
        item("a", 40, 30, 3, MaskKind::Palette),
        item("b", 33, 41, 20, MaskKind::Index),
    ];
    write_voc(
        &voc,
        &items,
        &[("train", vec!["a", "b"]), ("val", vec!["b"])],
    );
    for root in [
        dir.path().to_path_buf(),
        dir.path().join("VOCdevkit"),
        voc.clone(),
    ] {
        let ds = VocDataset::open(&root, "train").unwrap();
        assert_eq!(ds.root(), voc.as_path());
        assert_eq!(ds.ids(), vec!["a", "b"]);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.classes(), &ClassList::voc());
        assert!(eader_dataset::has_split(&root, "val"));
        assert!(!eader_dataset::has_split(&root, "train_aug"));
    }
    assert!(!eader_dataset::has_split(
        dir.path().join("nowhere"),
        "train"
    ));
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    for (i, it) in items.iter().enumerate() {
        let s = ds.load(i).unwrap();
        assert_eq!(s.id, it.id);
        assert_eq!(s.image.dimensions(), it.image.dimensions());
        assert_eq!(
            s.mask, it.mask,
            "labels of {} (palette indices, not colours)",
            it.id
        );
        let class = it
            .mask
            .data
            .iter()
            .copied()
            .find(|&l| l != 0 && l != 255)
            .unwrap();
        assert_eq!(s.labels.indices(), vec![class as usize - 1]);
        assert_eq!(s.labels.len(), 20);
    }
    // The JPEG round trip stays close to the written pixels.
    let s = ds.load(0).unwrap();
    let diff: f64 = s
        .image
        .as_raw()
        .iter()
        .zip(items[0].image.as_raw())
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .sum::<f64>()
        / s.image.as_raw().len() as f64;
    assert!(diff < 8.0, "mean abs diff {diff}");
    assert_eq!(
        VocDataset::open(dir.path(), "val").unwrap().ids(),
        vec!["b"]
    );
}

#[test]
fn classes_txt_replaces_voc_classes() {
    let dir = tempfile::tempdir().unwrap();
    write_voc(
        dir.path(),
        &[item("a", 20, 20, 2, MaskKind::Palette)],
        &[("train", vec!["a"])],
    );
    std::fs::write(dir.path().join("classes.txt"), "cat\ndog\n").unwrap();
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    assert_eq!(
        ds.classes().names(),
        &["cat".to_string(), "dog".to_string()]
    );
    let s = ds.load(0).unwrap();
    assert_eq!(s.labels.flags(), &[false, true]);
    // A label above the class count is an error naming the mask and the label.
    std::fs::write(dir.path().join("classes.txt"), "cat\n").unwrap();
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let err = ds.load(0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                label: 2,
                n_classes: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("a.png") && msg.contains("label 2"), "{msg}");
    // An invalid classes.txt fails at open.
    std::fs::write(dir.path().join("classes.txt"), "\n\n").unwrap();
    let err = VocDataset::open(dir.path(), "train").unwrap_err();
    assert!(err.to_string().contains("classes.txt"), "{err}");
}

#[test]
fn label_above_voc_class_count_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_voc(
        dir.path(),
        &[item("a", 20, 20, 21, MaskKind::Palette)],
        &[("train", vec!["a"])],
    );
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let err = ds.load(0).unwrap_err().to_string();
    assert!(
        err.contains("a.png") && err.contains("label 21") && err.contains("0..=20"),
        "{err}"
    );
    // scan_labels (and so for_training) reports it too, before training starts.
    assert!(matches!(
        ds.scan_labels(),
        Err(Error::LabelOutOfRange { label: 21, .. })
    ));
}

#[test]
fn missing_files_are_reported_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let items = vec![
        item("a", 20, 20, 1, MaskKind::Palette),
        item("b", 20, 20, 1, MaskKind::Missing),
        item("c", 20, 20, 1, MaskKind::Missing),
    ];
    write_voc(
        dir.path(),
        &items,
        &[
            ("masks", vec!["a", "b", "c"]),
            ("images", vec!["a", "zz", "yy"]),
        ],
    );
    let err = VocDataset::open(dir.path(), "masks").unwrap_err();
    match &err {
        Error::MissingFile {
            path,
            kind,
            missing,
            listed,
        } => {
            assert_eq!(*kind, "mask");
            assert_eq!((*missing, *listed), (2, 3));
            assert!(path.ends_with("SegmentationClass/b.png"), "{path:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("b.png"), "{err}");
    let err = VocDataset::open(dir.path(), "images").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::MissingFile {
                kind: "image",
                missing: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("zz.jpg"), "{err}");
}

#[test]
fn missing_split_empty_split_and_wrong_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_voc(
        dir.path(),
        &[item("a", 20, 20, 1, MaskKind::Palette)],
        &[("train", vec!["a"]), ("empty", vec![])],
    );
    let err = VocDataset::open(dir.path(), "train_aug").unwrap_err();
    assert!(matches!(err, Error::MissingSplit { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("train_aug.txt") && msg.contains("available splits: empty, train"),
        "{msg}"
    );
    assert!(matches!(
        VocDataset::open(dir.path(), "empty"),
        Err(Error::EmptySplit { .. })
    ));
    let other = tempfile::tempdir().unwrap();
    let err = VocDataset::open(other.path(), "train").unwrap_err();
    assert!(matches!(err, Error::NotVocLayout { .. }), "{err:?}");
}

#[test]
fn undecodable_files_and_size_mismatch_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let items = vec![
        item("good", 20, 20, 1, MaskKind::Palette),
        item("badjpg", 20, 20, 1, MaskKind::Palette),
        item("badpng", 20, 20, 1, MaskKind::Palette),
        item("size", 20, 20, 1, MaskKind::Palette),
        item("rgbmask", 20, 20, 1, MaskKind::Palette),
    ];
    write_voc(
        dir.path(),
        &items,
        &[
            ("train", items.iter().map(|i| i.id.as_str()).collect()),
            ("size", vec!["good", "size"]),
        ],
    );
    std::fs::write(
        dir.path().join("JPEGImages/badjpg.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    std::fs::write(
        mask_path(dir.path(), &items[2]),
        b"\x89PNG\r\n\x1a\n truncated",
    )
    .unwrap();
    eader_dataset::write_palette_png(
        &mask_path(dir.path(), &items[3]),
        &LabelMap::filled(21, 20, 1),
    )
    .unwrap();
    image::RgbImage::new(20, 20)
        .save(mask_path(dir.path(), &items[4]))
        .unwrap();
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    assert!(ds.load(0).is_ok());
    let err = ds.load(1).unwrap_err();
    assert!(
        matches!(err, Error::Decode { kind: "image", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("badjpg.jpg"), "{err}");
    let err = ds.load(2).unwrap_err();
    assert!(matches!(err, Error::Decode { kind: "mask", .. }), "{err:?}");
    assert!(err.to_string().contains("badpng.png"), "{err}");
    let err = ds.load(3).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SizeMismatch {
                mask_width: 21,
                image_width: 20,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("size.png") && err.to_string().contains("size.jpg"),
        "{err}"
    );
    let err = ds.load(4).unwrap_err();
    assert!(matches!(err, Error::UnsupportedLabelPng { .. }), "{err:?}");
    assert!(err.to_string().contains("rgbmask.png"), "{err}");
    assert!(matches!(
        ds.load(5),
        Err(Error::IndexOutOfRange { index: 5, len: 5 })
    ));
    // Scanning for training stops at the first bad file, in split order.
    let err = ds.clone().scan_labels().unwrap_err();
    assert!(err.to_string().contains("badjpg.jpg"), "{err}");
    let only_size = VocDataset::open(dir.path(), "size").unwrap();
    let err = only_size.for_training().unwrap_err();
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
}

#[test]
fn foreground_less_images_leave_training_but_stay_for_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let items = vec![
        item("fg1", 20, 20, 4, MaskKind::Palette),
        item("bg1", 20, 20, 0, MaskKind::Palette),
        item("fg2", 20, 20, 7, MaskKind::Index),
        item("bg2", 20, 20, 0, MaskKind::Index),
    ];
    write_voc(
        dir.path(),
        &items,
        &[
            ("train", vec!["fg1", "bg1", "fg2", "bg2"]),
            ("none", vec!["bg1"]),
        ],
    );
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    assert_eq!(ds.len(), 4);
    assert!(!ds.load(1).unwrap().labels.has_foreground());
    let (train, report) = ds.for_training().unwrap();
    assert_eq!(train.ids(), vec!["fg1", "fg2"]);
    assert_eq!((report.total, report.removed), (4, 2));
    assert_eq!(report.first_ids, vec!["bg1".to_string(), "bg2".to_string()]);
    assert!(report.to_string().contains("2 of 4 images"), "{report}");
    let known = train.known_labels().unwrap();
    assert_eq!(known[0].indices(), vec![3]);
    assert_eq!(known[1].indices(), vec![6]);
    assert_eq!(train.load(1).unwrap().id, "fg2");
    let none = VocDataset::open(dir.path(), "none").unwrap();
    assert!(matches!(
        none.for_training(),
        Err(Error::NoForeground { .. })
    ));
}

#[test]
fn low_bit_depth_palette_pngs_are_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.png");
    // 5x2 labels, 4 bits per pixel: 0 1 2 3 15 / 15 3 2 1 0.
    let labels = [0u8, 1, 2, 3, 15, 15, 3, 2, 1, 0];
    let mut packed = Vec::new();
    for row in labels.chunks(5) {
        let mut bytes = vec![0u8; 3];
        for (x, &l) in row.iter().enumerate() {
            bytes[x / 2] |= l << (4 * (1 - x % 2));
        }
        packed.extend(bytes);
    }
    let file = std::fs::File::create(&path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 5, 2);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Four);
    enc.set_palette(vec![7u8; 16 * 3]);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&packed).unwrap();
    w.finish().unwrap();
    let map = eader_dataset::read_label_png(&path).unwrap();
    assert_eq!(map.data, labels);
    assert_eq!((map.width, map.height), (5, 2));
}

#[test]
fn small_dataset_helper_has_both_mask_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let ids = small_dataset(dir.path(), 6);
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    assert_eq!(ds.ids(), ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ds
        .mask_path(2)
        .unwrap()
        .to_string_lossy()
        .contains("SegmentationClassAug"));
    assert!(ds
        .mask_path(0)
        .unwrap()
        .to_string_lossy()
        .contains("SegmentationClass/"));
    for i in 0..ds.len() {
        assert!(ds.load(i).unwrap().labels.has_foreground());
    }
}
