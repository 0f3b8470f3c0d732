//! `cargo xtask prepare-voc` end to end, on tiny archives built here, from
//! local files and from a local HTTP server. No network.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use support::archives::{self, Faults};
use support::http::{Route, Server};
use support::prepare_voc;

fn voc(root: &Path) -> PathBuf {
    root.join("VOCdevkit/VOC2012")
}

/// Decodes a PNG without expanding its palette: (colour type, width, height, values).
fn read_png(path: &Path) -> (png::ColorType, u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut data = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut data).unwrap();
    data.truncate(frame.buffer_size());
    (frame.color_type, frame.width, frame.height, data)
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Sets a file's modification time far in the past, so a rewrite shows.
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

/// Everything a good preparation leaves behind.
fn assert_prepared(root: &Path) {
    let voc = voc(root);
    let listed = std::fs::read_to_string(voc.join("ImageSets/Segmentation/train_aug.txt")).unwrap();
    let expected: String = archives::TRAIN_AUG
        .iter()
        .map(|id| format!("{id}\n"))
        .collect();
    assert_eq!(listed, expected);
    // VOC's own lists are untouched.
    let train = std::fs::read_to_string(voc.join("ImageSets/Segmentation/train.txt")).unwrap();
    assert_eq!(
        train,
        archives::VOC_TRAIN
            .iter()
            .map(|id| format!("{id}\n"))
            .collect::<String>()
    );

    let aug = voc.join("SegmentationClassAug");
    let mut written: Vec<String> = std::fs::read_dir(&aug)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut wanted: Vec<String> = archives::TRAIN_AUG
        .iter()
        .chain(archives::VOC_VAL)
        .map(|id| format!("{id}.png"))
        .collect();
    wanted.sort();
    assert_eq!(
        written, wanted,
        "one label per train_aug ∪ val id, nothing else"
    );

    for id in archives::TRAIN_AUG.iter().chain(archives::VOC_VAL) {
        let (color, width, height, values) = read_png(&aug.join(format!("{id}.png")));
        assert_eq!(color, png::ColorType::Grayscale, "{id}");
        assert_eq!((width, height), archives::size_of(id), "{id}");
        let voc_annotated = archives::VOC_TRAIN.contains(id) || archives::VOC_VAL.contains(id);
        if voc_annotated {
            assert_eq!(values, archives::voc_label(id), "{id}: VOC's label wins");
        } else {
            assert_eq!(
                values,
                archives::sbd_label(id),
                "{id}: SBD's label, row-major"
            );
        }
    }
    // VOC's palette labels stay palette PNGs with their own values.
    for id in archives::VOC_TRAIN.iter().chain(archives::VOC_VAL) {
        let (color, _, _, values) = read_png(&voc.join(format!("SegmentationClass/{id}.png")));
        assert_eq!(color, png::ColorType::Indexed);
        assert_eq!(values, archives::voc_label(id));
    }
    // Only what the dataset needs was extracted.
    for skipped in ["Annotations", "SegmentationObject", "ImageSets/Main"] {
        assert!(!voc.join(skipped).exists(), "{skipped} extracted");
    }
    for skipped in ["inst", "img"] {
        assert!(
            !root
                .join("benchmark_RELEASE/dataset")
                .join(skipped)
                .exists(),
            "{skipped} extracted"
        );
    }
}

#[test]
fn prepares_from_local_archives_then_only_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archives::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");

    let run = prepare_voc(&root, &as_strs(&archives.local_args()));
    assert!(run.success, "{run:?}");
    assert!(
        run.stdout.contains("train_aug: 7, train: 3, val: 2"),
        "{run:?}"
    );
    assert!(run.stdout.contains("ok: 9 images with labels"), "{run:?}");
    assert_prepared(&root);

    // Second run: no archives needed, nothing rewritten.
    let label = voc(&root).join("SegmentationClassAug/2009_000020.png");
    let image = voc(&root).join("JPEGImages/2009_000020.jpg");
    let list = voc(&root).join("ImageSets/Segmentation/train_aug.txt");
    let stamps: Vec<SystemTime> = [&label, &image, &list].iter().map(|p| age(p)).collect();
    let again = prepare_voc(&root, &as_strs(&archives.checksum_args()));
    assert!(again.success, "{again:?}");
    assert!(
        again.stderr.contains("already prepared; verifying only"),
        "{again:?}"
    );
    assert!(
        again.stdout.contains("train_aug: 7, train: 3, val: 2"),
        "{again:?}"
    );
    let after: Vec<SystemTime> = [&label, &image, &list].iter().map(|p| mtime(p)).collect();
    assert_eq!(after, stamps, "a verify-only run wrote files");
}

#[test]
fn resumes_after_an_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archives::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");
    let first = prepare_voc(&root, &as_strs(&archives.local_args()));
    assert!(first.success, "{first:?}");

    // What an interruption leaves: no done marker, labels and the list not yet
    // written, a half-extracted image, a stray partial file.
    let voc = voc(&root);
    std::fs::remove_file(root.join(".eader-prepare-voc.done")).unwrap();
    std::fs::remove_file(voc.join("SegmentationClassAug/2009_000021.png")).unwrap();
    std::fs::remove_file(voc.join("SegmentationClassAug/2007_000010.png")).unwrap();
    std::fs::remove_file(voc.join("ImageSets/Segmentation/train_aug.txt")).unwrap();
    let cut_image = voc.join("JPEGImages/2008_000003.jpg");
    let full_len = std::fs::metadata(&cut_image).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&cut_image)
        .unwrap()
        .set_len(full_len / 2)
        .unwrap();
    // Killed while writing a label: the partial file is there, the label not.
    std::fs::remove_file(voc.join("SegmentationClassAug/2009_000022.png")).unwrap();
    std::fs::write(
        voc.join("SegmentationClassAug/2009_000022.png.partial"),
        b"half",
    )
    .unwrap();
    let kept_label = voc.join("SegmentationClassAug/2009_000020.png");
    let kept_image = voc.join("JPEGImages/2009_000020.jpg");
    let old = [age(&kept_label), age(&kept_image)];

    let run = prepare_voc(&root, &as_strs(&archives.local_args()));
    assert!(run.success, "{run:?}");
    assert!(run.stderr.contains("3 written, 6 already there"), "{run:?}");
    assert_eq!(std::fs::metadata(&cut_image).unwrap().len(), full_len);
    assert_eq!(
        [mtime(&kept_label), mtime(&kept_image)],
        old,
        "finished work was redone"
    );
    assert!(root.join(".eader-prepare-voc.done").is_file());
    assert_prepared(&root);
}

#[test]
fn damaged_results_fail_verification_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archives::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");
    assert!(prepare_voc(&root, &as_strs(&archives.local_args())).success);

    let voc = voc(&root);
    let (w, h) = archives::size_of("2009_000021");
    let mut values = archives::sbd_label("2009_000021");
    values[w as usize + 2] = 42;
    std::fs::write(
        voc.join("SegmentationClassAug/2009_000021.png"),
        archives::gray_png(w, h, &values),
    )
    .unwrap();
    std::fs::remove_file(voc.join("JPEGImages/2010_000030.jpg")).unwrap();

    let run = prepare_voc(&root, &as_strs(&archives.checksum_args()));
    assert!(!run.success, "{run:?}");
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("2 problems in"), "{run:?}");
    assert!(
        run.stderr.contains(
            "2009_000021.png: value 42 at (x 2, y 1) is neither a class index 0..=20 nor 255"
        ),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("2010_000030.jpg: missing image"),
        "{run:?}"
    );
    assert!(run.stderr.contains("delete"), "{run:?}");
}

#[test]
fn unexpected_split_sizes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archives::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");
    let mut args = archives.local_args();
    let last = args.len() - 1;
    args[last] = "10582,1464,1449".to_owned();
    let run = prepare_voc(&root, &as_strs(&args));
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains("split sizes are train_aug: 7, train: 3, val: 2, expected train_aug: 10582, train: 1464, val: 1449"),
        "{run:?}"
    );
    assert!(!root.join(".eader-prepare-voc.done").exists());
}

#[test]
fn a_broken_mat_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        truncated_mat: Some("2009_000021"),
    };
    let archives = archives::build(&dir.path().join("archives"), &faults);
    let root = dir.path().join("data");
    let run = prepare_voc(&root, &as_strs(&archives.local_args()));
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains("1 of 9 labels could not be converted"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("cls/2009_000021.mat: truncated"),
        "{run:?}"
    );
    // The other labels were written and will not be redone.
    assert!(voc(&root)
        .join("SegmentationClassAug/2009_000020.png")
        .is_file());
}

#[test]
fn a_local_archive_with_the_wrong_md5_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archives::build(&dir.path().join("archives"), &Faults::default());
    let root = dir.path().join("data");
    // No --voc-md5: the published checksum applies.
    let args = [
        "--voc-tar",
        archives.voc_tar.to_str().unwrap(),
        "--sbd-tgz",
        archives.sbd_tgz.to_str().unwrap(),
    ];
    let run = prepare_voc(&root, &args);
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "has MD5 {}, but the VOC 2012 archive VOCtrainval_11-May-2012.tar has MD5 6cd6e144f989b92b3379bac3b3de84fd",
            archives.voc_md5
        )),
        "{run:?}"
    );
    assert!(archives.voc_tar.is_file(), "the user's file was moved");
}

#[test]
fn missing_archives_say_how_to_get_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = prepare_voc(dir.path(), &[]);
    assert!(!run.success);
    assert!(
        run.stderr.contains("no VOC 2012 archive: pass --voc-tar PATH (a copy of VOCtrainval_11-May-2012.tar) or --download"),
        "{run:?}"
    );
    let run = prepare_voc(dir.path(), &["--voc-tar", "/nonexistent/voc.tar"]);
    assert!(
        run.stderr
            .contains("/nonexistent/voc.tar: no such file (given with --voc-tar)"),
        "{run:?}"
    );
    let run = prepare_voc(dir.path(), &["--jobs", "0"]);
    assert!(run.stderr.contains("--jobs must be at least 1"), "{run:?}");
}

/// Serves both archives; VOC's at `voc_route`.
fn serve(voc_route: Route) -> (Server, Vec<u8>, Vec<u8>) {
    let voc = archives::voc_tar_bytes();
    let sbd = archives::sbd_tgz_bytes(&Faults::default());
    let server = Server::start(vec![
        ("/voc.tar", voc_route),
        ("/benchmark.tgz", Route::File(sbd.clone())),
    ]);
    (server, voc, sbd)
}

fn download_args(server: &Server, voc_urls: &[&str], voc: &[u8], sbd: &[u8]) -> Vec<String> {
    let mut args = vec!["--download".to_owned()];
    for url in voc_urls {
        args.extend(["--voc-url".to_owned(), server.url(url)]);
    }
    args.extend([
        "--sbd-url".to_owned(),
        server.url("/benchmark.tgz"),
        "--voc-md5".to_owned(),
        archives::md5_hex(voc),
        "--sbd-md5".to_owned(),
        archives::md5_hex(sbd),
        "--expect-counts".to_owned(),
        archives::COUNTS.to_owned(),
    ]);
    args
}

#[test]
fn download_resumes_after_a_cut_connection() {
    let voc = archives::voc_tar_bytes();
    let cut_at = voc.len() / 3;
    let (server, voc, sbd) = serve(Route::CutOnce {
        bytes: voc,
        after: cut_at,
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let run = prepare_voc(
        &root,
        &as_strs(&download_args(&server, &["/voc.tar"], &voc, &sbd)),
    );
    assert!(run.success, "{run:?}");
    assert!(run.stderr.contains("resuming"), "{run:?}");
    let voc_requests: Vec<Option<String>> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/voc.tar")
        .map(|r| r.range)
        .collect();
    assert_eq!(voc_requests, [None, Some(format!("bytes={cut_at}-"))]);
    let downloads = root.join("downloads");
    assert_eq!(
        std::fs::read(downloads.join("VOCtrainval_11-May-2012.tar")).unwrap(),
        voc
    );
    assert_eq!(std::fs::read(downloads.join("benchmark.tgz")).unwrap(), sbd);
    assert!(!downloads.join("VOCtrainval_11-May-2012.tar.part").exists());
    assert_prepared(&root);
}

#[test]
fn download_resumes_a_partial_file_from_an_earlier_run() {
    let voc = archives::voc_tar_bytes();
    let (server, voc, sbd) = serve(Route::File(voc));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let downloads = root.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let have = voc.len() / 2;
    std::fs::write(
        downloads.join("VOCtrainval_11-May-2012.tar.part"),
        &voc[..have],
    )
    .unwrap();

    let run = prepare_voc(
        &root,
        &as_strs(&download_args(&server, &["/voc.tar"], &voc, &sbd)),
    );
    assert!(run.success, "{run:?}");
    let first_voc = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/voc.tar")
        .unwrap();
    assert_eq!(first_voc.range, Some(format!("bytes={have}-")));
    assert_eq!(
        std::fs::read(downloads.join("VOCtrainval_11-May-2012.tar")).unwrap(),
        voc
    );
}

#[test]
fn download_checksum_mismatch_keeps_the_bad_file_under_another_name() {
    let mut wrong = archives::voc_tar_bytes();
    let good_md5 = archives::md5_hex(&wrong);
    let middle = wrong.len() / 2;
    wrong[middle] ^= 0xFF;
    let bad_md5 = archives::md5_hex(&wrong);
    let (server, _, sbd) = serve(Route::File(wrong.clone()));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut args = download_args(&server, &["/voc.tar"], &wrong, &sbd);
    let md5_at = args.iter().position(|a| a == "--voc-md5").unwrap() + 1;
    args[md5_at] = good_md5.clone();

    let run = prepare_voc(&root, &as_strs(&args));
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "MD5 mismatch: downloaded VOCtrainval_11-May-2012.tar has MD5 {bad_md5}, expected {good_md5}"
        )),
        "{run:?}"
    );
    let downloads = root.join("downloads");
    let kept = downloads.join(format!(
        "VOCtrainval_11-May-2012.tar.md5-mismatch-{bad_md5}.bad"
    ));
    assert_eq!(std::fs::read(&kept).unwrap(), wrong);
    assert!(!downloads.join("VOCtrainval_11-May-2012.tar").exists());
    assert!(!downloads.join("VOCtrainval_11-May-2012.tar.part").exists());
}

#[test]
fn download_moves_on_after_a_404() {
    let voc = archives::voc_tar_bytes();
    let (server, voc, sbd) = serve(Route::File(voc));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let args = download_args(&server, &["/gone/voc.tar", "/voc.tar"], &voc, &sbd);
    let run = prepare_voc(&root, &as_strs(&args));
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr.contains("/gone/voc.tar: HTTP 404 Not Found"),
        "{run:?}"
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(&paths[..2], ["/gone/voc.tar", "/voc.tar"]);
    assert_prepared(&root);
}

#[test]
fn download_failing_everywhere_lists_every_mirror() {
    let (server, voc, sbd) = serve(Route::File(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let args = download_args(&server, &["/a.tar", "/b.tar"], &voc, &sbd);
    let run = prepare_voc(&dir.path().join("data"), &as_strs(&args));
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr
            .contains("could not download VOCtrainval_11-May-2012.tar from any mirror"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("{}: HTTP 404 Not Found", server.url("/a.tar"))),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("{}: HTTP 404 Not Found", server.url("/b.tar"))),
        "{run:?}"
    );
    assert!(run.stderr.contains("pass --voc-tar PATH"), "{run:?}");
}
