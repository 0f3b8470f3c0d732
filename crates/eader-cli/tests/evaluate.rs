//! `eader evaluate` end to end on tiny demo datasets.

use std::path::Path;

use eader_dataset::{read_label_png, voc_palette, VocDataset};
use eader_metrics::ConfusionMatrix;
use serde_json::Value;

use crate::util::*;

fn metrics(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The palette and indices of a PNG, as PIL's mode 'P' reads them.
fn palette_png(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!(info.color_type, png::ColorType::Indexed, "{path:?}");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{path:?}");
    let palette = info.palette.as_ref().unwrap().to_vec();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    buf.truncate(frame.buffer_size());
    (palette, buf)
}

#[test]
fn sweep_multi_scale_and_saved_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 2, 5, 40);
    let exp = dir.path().join("exp");
    checkpoint(&exp, &network(5, 1), Some(&root));
    let (pred, maps, vis, out) = (
        dir.path().join("pred"),
        dir.path().join("maps"),
        dir.path().join("vis"),
        dir.path().join("out"),
    );
    let stdout = eader_ok(&[
        "evaluate",
        "--checkpoint",
        s(&exp),
        "--thresholds",
        "0.1:0.5:0.2",
        "--select-on",
        "2",
        "--scales",
        "1,0.5",
        "--flip",
        "--save-predictions",
        s(&pred),
        "--save-maps",
        s(&maps),
        "--save-visuals",
        s(&vis),
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
        "--quiet",
    ]);
    let card = stdout.lines().next().unwrap();
    assert!(
        card.starts_with("protocol eader (custom: scales, flip) | ")
            && card.contains("split val (5 images)")
            && card.contains("scales 1,0.5 + flip")
            && card.contains("epoch 2"),
        "{stdout}"
    );
    assert!(stdout.contains("oracle-best threshold"), "{stdout}");
    assert!(stdout.contains("chosen on 2 held-out images"), "{stdout}");
    let m = metrics(&out);
    assert_eq!(m["card"]["split"], "val");
    assert_eq!(m["card_line"], card);
    assert_eq!(m["images"], 5);
    let entries = m["sweep"]["entries"].as_array().unwrap();
    let ts: Vec<f64> = entries
        .iter()
        .map(|e| e["threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(ts.len(), 3);
    assert!((ts[1] - 0.3).abs() < 1e-6, "{ts:?}");
    assert_eq!(m["sweep"]["held_out"]["held_out_images"], 3);
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(m["timing"]["forward_s"].as_f64().unwrap() > 0.0);

    // Predictions: VOC palette PNGs of the image's size, labels intact; scoring
    // them again gives the reported numbers.
    let ds = VocDataset::open(&root, "val").unwrap();
    let mut confusion = ConfusionMatrix::new(6).unwrap();
    for (i, id) in ds.ids().iter().enumerate() {
        let file = pred.join(format!("{id}.png"));
        let (palette, indices) = palette_png(&file);
        let voc: Vec<u8> = voc_palette().iter().flatten().copied().collect();
        assert_eq!(palette, voc);
        let labels = read_label_png(&file).unwrap();
        assert_eq!(labels.data, indices);
        let mask = ds.load_mask(i).unwrap();
        assert_eq!((labels.width, labels.height), (mask.width, mask.height));
        confusion.update(&labels.data, &mask.data).unwrap();
        // Only ground-truth classes (or background) are predicted.
        let present = mask.multi_hot(5);
        assert!(labels
            .data
            .iter()
            .all(|&l| l == 0 || present.contains(l as usize - 1)));
        // Maps: (P, H, W) float32 and their classes.
        let npz = candle::Tensor::read_npz(maps.join(format!("{id}.npz"))).unwrap();
        let get = |n: &str| npz.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let (m, c) = (get("maps"), get("classes"));
        assert_eq!(m.dtype(), candle::DType::F32);
        assert_eq!(
            m.dims(),
            &[
                present.indices().len(),
                mask.height as usize,
                mask.width as usize
            ]
        );
        let c: Vec<i64> = c.to_vec1().unwrap();
        let want: Vec<i64> = present.indices().iter().map(|&c| c as i64).collect();
        assert_eq!(c, want);
        assert!(vis.join(format!("{id}_segmentation.png")).is_file());
    }
    let names = ds.classes().with_background();
    let again = confusion.metrics(&names).unwrap();
    let reported = m["metrics"]["miou"].as_f64().unwrap();
    assert!(
        (again.miou - reported).abs() < 1e-12,
        "{} vs {reported}",
        again.miou
    );
    let fixed = m["sweep"]["fixed"]["miou"].as_f64().unwrap();
    assert!((fixed - reported).abs() < 1e-12);
    // metrics.json is not replaced without --overwrite.
    let err = eader_err(&[
        "evaluate",
        "--checkpoint",
        s(&exp),
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(
        err.contains("metrics.json exists") && err.contains("--overwrite"),
        "{err}"
    );
}

#[test]
fn resume_completes_an_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 2, 4, 40);
    let exp = dir.path().join("exp");
    checkpoint(&exp, &network(5, 2), Some(&root));
    let pred = dir.path().join("pred");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "evaluate",
            "--checkpoint",
            s(&exp),
            "--save-predictions",
            s(&pred),
            "--device",
            "cpu",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        eader(&args)
    };
    assert!(run(&[]).status.success());
    // Default output folder: next to the checkpoint.
    let out = exp.join("eval-eader-val");
    let first = metrics(&out);
    let err = String::from_utf8(run(&[]).stderr).unwrap();
    assert!(err.contains("metrics.json exists"), "{err}");
    let err = String::from_utf8(run(&["--output-dir", s(&dir.path().join("o2"))]).stderr).unwrap();
    assert!(
        err.contains("--save-predictions") && err.contains("--resume"),
        "{err}"
    );
    let ids = VocDataset::open(&root, "val").unwrap();
    let lost = pred.join(format!("{}.png", ids.ids()[1]));
    std::fs::remove_file(&lost).unwrap();
    let resumed = run(&["--resume"]);
    assert!(resumed.status.success());
    let stderr = String::from_utf8(resumed.stderr).unwrap();
    assert!(
        stderr.contains("resumed: 3 images scored from their saved files, 1 through the network"),
        "{stderr}"
    );
    assert!(lost.is_file());
    let second = metrics(&out);
    assert_eq!(second["metrics"], first["metrics"]);
    assert_eq!(second["reused_images"], 3);
}

#[test]
fn wsss_protocol_scores_voc_masks_of_train_with_scales_and_flip() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 3, 1, 40);
    let weights = dir.path().join("loc.safetensors");
    eader_models::weights::save(&network(5, 3), &weights).unwrap();
    let out = dir.path().join("out");
    let args = [
        "evaluate",
        "--localizer-model",
        "resnet18",
        "--weights-localizer",
        s(&weights),
        "--dataset-root",
        s(&root),
        "--protocol",
        "wsss",
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
        "--quiet",
    ];
    let stdout = eader_ok(&args);
    assert!(
        stdout.starts_with("protocol wsss | ")
            && stdout.contains("split train (3 images), labels SegmentationClass")
            && stdout.contains("scales 1,0.5,1.5,2 + flip"),
        "{stdout}"
    );
    assert_eq!(metrics(&out)["card"]["flip"], true);
    // A mask only in SegmentationClassAug is refused, naming the image.
    let ds = VocDataset::open(&root, "train").unwrap();
    let id = ds.ids()[0].to_owned();
    std::fs::create_dir_all(root.join("SegmentationClassAug")).unwrap();
    std::fs::rename(
        root.join("SegmentationClass").join(format!("{id}.png")),
        root.join("SegmentationClassAug").join(format!("{id}.png")),
    )
    .unwrap();
    let err = eader_err(&args);
    assert!(
        err.contains(&id) && err.contains("VOC's own masks"),
        "{err}"
    );
}

#[test]
fn the_demo_dataset_needs_no_dataset_root() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp");
    checkpoint(&exp, &network(5, 4), None);
    let cache = dir.path().join("cache");
    let out = eader(&[
        "evaluate",
        "--checkpoint",
        s(&exp),
        "--demo-cache",
        s(&cache),
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("protocol eader | demo split val (100 images)"),
        "{stdout}"
    );
    assert!(cache.join("eader-demo").join("eader-demo.json").is_file());
    assert_eq!(metrics(&exp.join("eval-eader-val"))["images"], 100);
}

#[test]
fn bad_input_gives_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 2, 3, 40);
    let exp = dir.path().join("exp");
    checkpoint(&exp, &network(5, 5), Some(&root));
    let base = |extra: &[&str]| -> String {
        let mut args = vec!["evaluate", "--device", "cpu", "--quiet"];
        args.extend_from_slice(extra);
        eader_err(&args)
    };
    let missing = dir.path().join("nope");
    let e = base(&["--checkpoint", s(&missing)]);
    assert!(e.contains("nope") && e.contains("no such"), "{e}");
    let e = base(&[]);
    assert!(e.contains("--checkpoint PATH"), "{e}");
    // Weights of another architecture.
    let weights = dir.path().join("r18.safetensors");
    eader_models::weights::save(&network(5, 5), &weights).unwrap();
    let e = base(&[
        "--localizer-model",
        "resnet50",
        "--weights-localizer",
        s(&weights),
        "--dataset-root",
        s(&root),
    ]);
    assert!(
        e.contains("r18.safetensors") && e.contains("resnet50"),
        "{e}"
    );
    // A missing split names the file and the splits there are.
    let e = base(&["--checkpoint", s(&exp), "--split", "test"]);
    assert!(e.contains("test.txt") && e.contains("val"), "{e}");
    // A class count that does not fit the dataset.
    let other = dir.path().join("other");
    checkpoint(&other, &network(20, 5), Some(&root));
    let e = base(&["--checkpoint", s(&other)]);
    assert!(e.contains("20 classes"), "{e}");
    // Bad options.
    let e = base(&["--checkpoint", s(&exp), "--thresholds", "0.5:0.1:0.1"]);
    assert!(e.contains("--thresholds"), "{e}");
    let e = base(&["--checkpoint", s(&exp), "--scales", "1,0"]);
    assert!(e.contains("--scales"), "{e}");
    let e = base(&[
        "--checkpoint",
        s(&exp),
        "--thresholds",
        "0.1:0.5:0.1",
        "--select-on",
        "3",
    ]);
    assert!(e.contains("--select-on"), "{e}");
    // An image that does not decode, then an image/mask size mismatch.
    let ds = VocDataset::open(&root, "val").unwrap();
    let jpg = ds.image_path(1).unwrap().to_path_buf();
    let good = std::fs::read(&jpg).unwrap();
    std::fs::write(&jpg, b"not a jpeg").unwrap();
    let e = base(&[
        "--checkpoint",
        s(&exp),
        "--output-dir",
        s(&dir.path().join("o1")),
    ]);
    assert!(e.contains(jpg.to_str().unwrap()), "{e}");
    assert_eq!(
        e.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{e}"
    );
    std::fs::write(&jpg, good).unwrap();
    let png = ds.mask_path(2).unwrap().to_path_buf();
    let small = eader_dataset::LabelMap::filled(8, 8, 0);
    eader_dataset::write_palette_png(&png, &small).unwrap();
    let e = base(&[
        "--checkpoint",
        s(&exp),
        "--output-dir",
        s(&dir.path().join("o2")),
    ]);
    assert!(e.contains(png.to_str().unwrap()), "{e}");
}

#[test]
fn crf_refined_maps_are_scored_beside_the_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 2, 4, 40);
    let exp = dir.path().join("exp");
    checkpoint(&exp, &network(5, 2), Some(&root));
    let (pred, out) = (dir.path().join("pred"), dir.path().join("out"));
    let stdout = eader_ok(&[
        "evaluate",
        "--checkpoint",
        s(&exp),
        "--crf",
        "irn",
        "--save-predictions",
        s(&pred),
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
        "--quiet",
    ]);
    assert!(
        stdout.contains("crf irn (gaussian 3/3, bilateral 50/5/10"),
        "{stdout}"
    );
    assert!(stdout.contains("with CRF: mIoU"), "{stdout}");
    let m = metrics(&out);
    assert!(
        m["card"]["crf"].as_str().unwrap().starts_with("crf irn"),
        "{m}"
    );
    let plain = m["metrics"]["miou"].as_f64().unwrap();
    let refined = m["crf"]["metrics"]["miou"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&plain) && (0.0..=1.0).contains(&refined));
    // The saved pseudo labels are the refined ones: scoring them gives the CRF row.
    let ds = VocDataset::open(&root, "val").unwrap();
    let mut cm = ConfusionMatrix::new(6).unwrap();
    for (i, id) in ds.ids().iter().enumerate() {
        let p = read_label_png(&pred.join(format!("{id}.png"))).unwrap();
        cm.update(&p.data, &ds.load_mask(i).unwrap().data).unwrap();
    }
    let names = ds.classes().with_background();
    assert!((cm.metrics(&names).unwrap().miou - refined).abs() < 1e-12);
    // An unknown preset is one message, exit 2.
    let bad = eader(&["evaluate", "--checkpoint", s(&exp), "--crf", "fcn"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fcn"));
}
