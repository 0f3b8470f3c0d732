//! `eader infer` end to end on a folder of demo images.

use serde_json::Value;

use crate::util::*;

#[test]
fn a_folder_in_predictions_and_pngs_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = demo(dir.path(), 1, 3, 40);
    let exp = dir.path().join("exp");
    // A demo run: class names come from the demo.
    checkpoint(&exp, &network(5, 7), None);
    let out = dir.path().join("out");
    let images = root.join("JPEGImages");
    let stdout = eader_ok(&[
        "infer",
        s(&images),
        "--checkpoint",
        s(&exp),
        "--output-dir",
        s(&out),
        "--min-prob",
        "0",
        "--scales",
        "1,0.5",
        "--flip",
        "--device",
        "cpu",
        "--quiet",
    ]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("image") && lines[0].contains("predicted"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 1 + 4, "{stdout}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("predictions.json")).unwrap())
            .unwrap();
    let records = json.as_array().unwrap();
    assert_eq!(records.len(), 4);
    for r in records {
        let probs = r["probabilities"].as_object().unwrap();
        assert_eq!(probs.len(), 5);
        assert!(probs.contains_key("stripes"), "{r}");
        // --min-prob 0: every class is predicted and gets a heatmap.
        assert_eq!(r["predicted"].as_array().unwrap().len(), 5);
        for map in r["maps"].as_array().unwrap() {
            assert!(std::path::Path::new(map.as_str().unwrap()).is_file());
        }
        let seg = eader_dataset::read_label_png(std::path::Path::new(
            r["segmentation"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(
            (seg.width as u64, seg.height as u64),
            (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
        );
        assert!(seg.data.iter().all(|&l| l <= 5));
        let stem = r["image"].as_str().unwrap();
        assert!(out.join(format!("{stem}_segmentation.png")).is_file());
    }
    // The output folder is not reused without --overwrite.
    let e = eader_err(&[
        "infer",
        s(&images),
        "--checkpoint",
        s(&exp),
        "--output-dir",
        s(&out),
        "--device",
        "cpu",
    ]);
    assert!(e.contains("--overwrite"), "{e}");
}

#[test]
fn bad_input_gives_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("loc.safetensors");
    eader_models::weights::save(&network(5, 1), &weights).unwrap();
    let base = |inputs: &[&str], out: &str| {
        let mut args = vec!["infer"];
        args.extend_from_slice(inputs);
        args.extend_from_slice(&[
            "--localizer-model",
            "resnet18",
            "--weights-localizer",
            s(&weights),
            "--output-dir",
            out,
            "--device",
            "cpu",
            "--quiet",
        ]);
        eader_err(&args)
    };
    let out = dir.path().join("o");
    let e = base(&[s(&dir.path().join("missing.jpg"))], s(&out));
    assert!(e.contains("missing.jpg") && e.contains("no such"), "{e}");
    let bad = dir.path().join("broken.jpg");
    std::fs::write(&bad, b"not an image").unwrap();
    let e = base(&[s(&bad)], s(&out));
    assert!(e.contains("broken.jpg"), "{e}");
    let folder = dir.path().join("imgs");
    std::fs::create_dir(&folder).unwrap();
    let e = base(&[s(&folder)], s(&dir.path().join("o2")));
    assert!(e.contains("imgs") && e.contains("no image"), "{e}");
    let classes = dir.path().join("classes.txt");
    std::fs::write(&classes, "a\nb\n").unwrap();
    let img = dir.path().join("ok.png");
    image::RgbImage::new(40, 32).save(&img).unwrap();
    let o3 = dir.path().join("o3");
    let e = eader_err(&[
        "infer",
        s(&img),
        "--classes",
        s(&classes),
        "--localizer-model",
        "resnet18",
        "--weights-localizer",
        s(&weights),
        "--output-dir",
        s(&o3),
        "--device",
        "cpu",
    ]);
    assert!(e.contains("--classes") && e.contains("5-class"), "{e}");
}
