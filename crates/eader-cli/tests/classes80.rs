//! 80 classes (COCO's count) end to end: nothing assumes VOC's 20. A demo
//! dataset whose `classes.txt` lists 80 names (its objects use the first
//! five) trains, evaluates with an 81-row table, and infers segmentation maps
//! whose labels go past VOC's 21 colours.

use crate::util::*;

#[test]
fn eighty_classes_train_evaluate_and_write_pseudo_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 8, 3, 40);
    let names: Vec<String> = (0..80).map(|c| format!("thing{c}")).collect();
    std::fs::write(root.join("classes.txt"), names.join("\n") + "\n").unwrap();
    let runs = dir.path().join("runs");
    let train = train_tiny(&root, &runs, &["--experiment-name", "c80", "--seed", "1"])
        .output()
        .unwrap();
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let exp = runs.join("c80");
    let pred = dir.path().join("pred");
    let out = dir.path().join("eval");
    let stdout = eader_ok(&[
        "evaluate",
        "--checkpoint",
        s(&exp),
        "--threshold",
        "0",
        "--save-predictions",
        s(&pred),
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(stdout.contains("thing79"), "{stdout}");
    assert!(stdout.contains("mean over all 81 classes"), "{stdout}");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["metrics"]["classes"].as_array().unwrap().len(), 81);
    // The checkpoint's network has 80 outputs; its predictions read back as labels.
    let loaded = eader_train::checkpoint::load_localizer(&exp, &candle::Device::Cpu).unwrap();
    assert_eq!(loaded.model.num_classes(), 80);
    let ds = eader_dataset::VocDataset::open(&root, "val").unwrap();
    assert_eq!(ds.classes().len(), 80);
    for id in ds.ids() {
        let p = eader_dataset::read_label_png(&pred.join(format!("{id}.png"))).unwrap();
        assert!(p.data.iter().all(|&l| l <= 80), "{id}");
    }
    // Inference names the 80 classes from the run's dataset.
    let inf = dir.path().join("infer");
    let img = root.join("JPEGImages").join(format!("{}.jpg", ds.ids()[0]));
    let stdout = eader_ok(&[
        "infer",
        s(&img),
        "--checkpoint",
        s(&exp),
        "--min-prob",
        "0",
        "--output-dir",
        s(&inf),
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(stdout.contains("thing79"), "{stdout}");
    // With maps for all 80 classes the segmentation uses labels past VOC's 21
    // colours; the palette PNG keeps them.
    let stem = ds.ids()[0].to_string();
    let seg = eader_dataset::read_label_png(&inf.join(format!("{stem}.png"))).unwrap();
    assert!(seg.data.iter().all(|&l| l <= 80));
    assert!(seg.data.iter().any(|&l| l > 21), "labels {:?}", {
        let mut u = seg.data.clone();
        u.sort();
        u.dedup();
        u
    });
}
