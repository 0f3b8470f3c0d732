//! The demo dataset through the VOC reader.

use eader_dataset::demo::{ensure, generate, DemoConfig, MARKER_FILE};
use eader_dataset::{read_label_png, VocDataset};

fn tiny() -> DemoConfig {
    DemoConfig {
        n_train: 12,
        n_val: 4,
        image_size: 40,
        ..DemoConfig::default()
    }
}

#[test]
fn generated_dataset_reads_as_voc() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny();
    generate(dir.path(), &cfg).unwrap();
    let train = VocDataset::open(dir.path(), "train").unwrap();
    let val = VocDataset::open(dir.path(), "val").unwrap();
    assert_eq!((train.len(), val.len()), (12, 4));
    assert_eq!(VocDataset::open(dir.path(), "trainval").unwrap().len(), 16);
    assert_eq!(
        train.classes().names(),
        &["stripes", "checks", "dots", "rings", "cross"]
    );
    let mut class_counts = [0usize; 5];
    for i in 0..train.len() {
        let s = train.load(i).unwrap();
        assert!(s.labels.has_foreground());
        assert!(s.labels.indices().len() <= 3);
        for c in s.labels.indices() {
            class_counts[c] += 1;
        }
        assert!(s.mask.data.contains(&255), "void band");
    }
    assert!(
        class_counts.iter().filter(|&&n| n > 0).count() >= 4,
        "{class_counts:?}"
    );
    // Masks are palette PNGs: the image crate sees VOC colours.
    let path = train.mask_path(0).unwrap();
    let colours = image::open(path).unwrap().to_rgb8();
    let labels = read_label_png(path).unwrap();
    let palette = eader_dataset::voc_palette();
    for (p, &l) in colours.pixels().zip(&labels.data) {
        assert_eq!(p.0, palette[l as usize]);
    }
    let (_, report) = train.for_training().unwrap();
    assert_eq!(report.removed, 0);
}

#[test]
fn ensure_generates_once_and_regenerates_on_a_new_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny();
    let root = ensure(dir.path(), &cfg).unwrap();
    assert!(root.join(MARKER_FILE).is_file());
    let first = std::fs::metadata(root.join(MARKER_FILE))
        .unwrap()
        .modified()
        .unwrap();
    // A sentinel file survives a reuse...
    std::fs::write(root.join("sentinel"), b"x").unwrap();
    assert_eq!(ensure(dir.path(), &cfg).unwrap(), root);
    assert!(root.join("sentinel").exists());
    assert_eq!(
        std::fs::metadata(root.join(MARKER_FILE))
            .unwrap()
            .modified()
            .unwrap(),
        first
    );
    // ...but not a regeneration for another config.
    let other = DemoConfig { n_train: 5, ..cfg };
    assert_eq!(ensure(dir.path(), &other).unwrap(), root);
    assert!(!root.join("sentinel").exists());
    assert_eq!(VocDataset::open(&root, "train").unwrap().len(), 5);
    // No temporary folders are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    // A damaged marker triggers regeneration.
    std::fs::write(root.join(MARKER_FILE), "{").unwrap();
    ensure(dir.path(), &other).unwrap();
    assert!(std::fs::read_to_string(root.join(MARKER_FILE))
        .unwrap()
        .contains("n_train"));
}

#[test]
fn generation_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = DemoConfig {
        n_train: 3,
        n_val: 2,
        ..tiny()
    };
    generate(a.path(), &cfg).unwrap();
    generate(b.path(), &cfg).unwrap();
    for sub in [
        "JPEGImages/demo_000001.jpg",
        "SegmentationClass/demo_000004.png",
        "classes.txt",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(sub)).unwrap(),
            std::fs::read(b.path().join(sub)).unwrap(),
            "{sub}"
        );
    }
}
