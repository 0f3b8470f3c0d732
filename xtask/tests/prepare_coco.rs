//! `cargo xtask prepare-coco` end to end, on tiny COCO-layout archives built
//! from the committed synthetic instance files, from local files and from a
//! local HTTP server. No network, no Python.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use support::coco::{self, Faults};
use support::http::{Route, Server};
use support::prepare_coco;

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Decodes a PNG: (colour type, width, height, values).
fn read_png(path: &Path) -> (png::ColorType, u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut data = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut data).unwrap();
    data.truncate(frame.buffer_size());
    (frame.color_type, frame.width, frame.height, data)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Everything a good preparation leaves behind.
fn assert_prepared(root: &Path) {
    // classes.txt: the 80 names in category-id order.
    let mut categories: Vec<(u64, String)> = coco::fixture("instances_val2014.json")["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    categories.sort();
    let names: Vec<String> = categories.into_iter().map(|(_, name)| name).collect();
    assert_eq!(names.len(), 80);
    assert_eq!(lines(&root.join("classes.txt")), names);
    assert_eq!(names[0], "person");
    assert_eq!(names[79], "toothbrush");

    let expected = coco::fixture("expected.json");
    let lists = root.join("ImageSets/Segmentation");
    for split in ["train", "val"] {
        let data = coco::fixture(&format!("instances_{split}2014.json"));
        let mut all: Vec<String> = data["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["file_name"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(".jpg")
                    .to_owned()
            })
            .collect();
        all.sort();
        let listed = lines(&lists.join(format!("{split}.txt")));
        let unlabeled = lines(&lists.join(format!("{split}_unlabeled.txt")));
        let mut both: Vec<String> = listed.iter().chain(&unlabeled).cloned().collect();
        both.sort();
        assert_eq!(both, all, "{split}: every image listed once");
        for id in &all {
            assert!(root.join(format!("JPEGImages/{id}.jpg")).is_file(), "{id}");
        }
        for id in &unlabeled {
            assert!(!root.join(format!("SegmentationClass/{id}.png")).exists());
        }
        for id in &listed {
            let (color, w, h, values) = read_png(&root.join(format!("SegmentationClass/{id}.png")));
            assert_eq!(color, png::ColorType::Grayscale, "{id}");
            let want: Vec<u8> = expected["labels"][id.as_str()]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|run| {
                    std::iter::repeat_n(
                        run[0].as_u64().unwrap() as u8,
                        run[1].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            assert_eq!(values.len(), (w * h) as usize);
            assert_eq!(values, want, "{id}: pycocotools' label map");
        }
    }
    assert_eq!(lines(&lists.join("train_unlabeled.txt")), [coco::UNLABELED]);
    assert!(lines(&lists.join("val_unlabeled.txt")).is_empty());
    assert!(!root.join("captions_train2014.json").exists());
}

fn age(path: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    old
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn prepares_from_local_zips_then_only_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let archives = coco::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");
    let run = prepare_coco(&root, &as_strs(&archives.local_args()));
    assert!(run.success, "{run:?}");
    assert!(
        run.stdout
            .contains("train: 2, val: 4; without annotations: 1"),
        "{run:?}"
    );
    assert!(run.stdout.contains("ok: 6 images with labels"), "{run:?}");
    assert_prepared(&root);

    let label = root.join("SegmentationClass/COCO_val2014_000000002003.png");
    let image = root.join("JPEGImages/COCO_val2014_000000002003.jpg");
    let stamps = [age(&label), age(&image)];
    let again = prepare_coco(&root, &as_strs(&archives.checksum_args()));
    assert!(again.success, "{again:?}");
    assert!(
        again.stderr.contains("already prepared; verifying only"),
        "{again:?}"
    );
    assert_eq!(
        [mtime(&label), mtime(&image)],
        stamps,
        "a verify-only run wrote files"
    );

    // An interrupted run: marker gone, one label missing, one half-written.
    std::fs::remove_file(root.join(".eader-prepare-coco.done")).unwrap();
    std::fs::remove_file(&label).unwrap();
    std::fs::write(label.with_extension("png.partial"), b"half").unwrap();
    let resumed = prepare_coco(&root, &as_strs(&archives.local_args()));
    assert!(resumed.success, "{resumed:?}");
    assert!(
        resumed.stderr.contains("1 written, 3 already there"),
        "{resumed:?}"
    );
    assert_prepared(&root);
}

/// Runs on archives with `faults`; the run must fail with exit status 2,
/// saying `message`, and leave no done marker.
fn assert_refused(faults: Faults, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let archives = coco::build(&dir.path().join("archives"), &faults);
    let root = dir.path().join("data");
    let run = prepare_coco(&root, &as_strs(&archives.local_args()));
    assert!(!run.success, "{run:?}");
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains(message), "{run:?}");
    assert!(!root.join(".eader-prepare-coco.done").exists());
}

#[test]
fn a_truncated_zip_is_named() {
    assert_refused(
        Faults {
            truncated_val_zip: true,
            ..Faults::default()
        },
        "val2014.zip: truncated or not a zip archive",
    );
}

#[test]
fn an_unknown_category_is_named() {
    assert_refused(
        Faults {
            category_id: Some(12),
            ..Faults::default()
        },
        "has category id 12, which is not among the 80 listed categories",
    );
}

#[test]
fn a_polygon_outside_the_image_is_named() {
    assert_refused(
        Faults {
            shift_polygon: Some(500.0),
            ..Faults::default()
        },
        "a polygon outside the",
    );
}

#[test]
fn an_image_missing_from_its_zip_is_named() {
    assert_refused(
        Faults {
            missing_image: Some("COCO_val2014_000000002010.jpg"),
            ..Faults::default()
        },
        "1 of the 4 images listed are missing from",
    );
}

#[test]
fn a_local_zip_with_the_wrong_md5_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let archives = coco::build(&dir.path().join("archives"), &Faults::default());
    let args = [
        "--annotations-zip",
        archives.annotations_zip.to_str().unwrap(),
    ];
    let run = prepare_coco(&dir.path().join("data"), &args);
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains(
            "but the COCO 2014 annotations archive annotations_trainval2014.zip has MD5 0a379cfc70b0e71301e0f377548639bd"
        ),
        "{run:?}"
    );
    let run = prepare_coco(&dir.path().join("data"), &[]);
    assert!(
        run.stderr
            .contains("no COCO 2014 annotations archive: pass --annotations-zip PATH"),
        "{run:?}"
    );
}

#[test]
fn downloads_resuming_a_cut_connection() {
    let faults = Faults::default();
    let train = coco::images_zip("train", &faults);
    let val = coco::images_zip("val", &faults);
    let annotations = coco::annotations_zip(&faults);
    let cut_at = train.len() / 3;
    let server = Server::start(vec![
        (
            "/train2014.zip",
            Route::CutOnce {
                bytes: train.clone(),
                after: cut_at,
            },
        ),
        ("/val2014.zip", Route::File(val.clone())),
        ("/annotations.zip", Route::File(annotations.clone())),
    ]);
    let md5 = support::archives::md5_hex;
    let args = vec![
        "--download".to_owned(),
        "--train-url".to_owned(),
        server.url("/gone.zip"),
        "--train-url".to_owned(),
        server.url("/train2014.zip"),
        "--val-url".to_owned(),
        server.url("/val2014.zip"),
        "--annotations-url".to_owned(),
        server.url("/annotations.zip"),
        "--train-md5".to_owned(),
        md5(&train),
        "--val-md5".to_owned(),
        md5(&val),
        "--annotations-md5".to_owned(),
        md5(&annotations),
        "--expect-counts".to_owned(),
        coco::COUNTS.to_owned(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let run = prepare_coco(&root, &as_strs(&args));
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr.contains("/gone.zip: HTTP 404 Not Found"),
        "{run:?}"
    );
    assert!(run.stderr.contains("resuming"), "{run:?}");
    let ranges: Vec<Option<String>> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/train2014.zip")
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, [None, Some(format!("bytes={cut_at}-"))]);
    assert_eq!(
        std::fs::read(root.join("downloads/train2014.zip")).unwrap(),
        train
    );
    assert_prepared(&root);
}
