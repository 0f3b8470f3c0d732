//! `eader train` as a user runs it: a tiny run end to end, Ctrl-C and
//! `--resume`, and one clear message with a non-zero exit for every bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eader_dataset::{write_palette_png, VocDataset};

/// 12 training images (3 batches of 4), 4 validation images of 40 px.
fn dataset(dir: &Path) -> PathBuf {
    crate::util::demo(dir, 12, 4, 40)
}

use crate::util::train_tiny as train;

fn output(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

/// Asserts a failure with exit status 2 whose stderr holds every `needle`.
fn fails_with(out: Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

#[test]
fn a_tiny_run_prints_the_model_next_to_the_all_background_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let runs = tmp.path().join("runs");
    let out = output(train(&root, &runs, &["--experiment-name", "tiny"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all-background baseline"), "{stdout}");
    assert!(stdout.contains("mIoU (present classes)"), "{stdout}");
    assert!(runs.join("tiny/summary.json").is_file());
    // The effective config repeats the run.
    let config = std::fs::read_to_string(runs.join("tiny/config.toml")).unwrap();
    assert!(config.contains("seed = 3"), "{config}");
    // Validation is eader evaluate's pass: the same checkpoint scores the same there.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("tiny/summary.json")).unwrap())
            .unwrap();
    let eval_dir = tmp.path().join("eval");
    crate::util::eader_ok(&[
        "evaluate",
        "--checkpoint",
        runs.join("tiny").to_str().unwrap(),
        "--output-dir",
        eval_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--quiet",
    ]);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["final_metrics"], metrics["metrics"],
        "validation and eader evaluate disagree"
    );
    assert_eq!(summary["baseline_metrics"], metrics["baseline"]);
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_resume_finishes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let runs = tmp.path().join("runs");
    let mut cmd = train(
        &root,
        &runs,
        &[
            "--experiment-name",
            "int",
            "--epochs",
            "3",
            "--log-every",
            "1",
        ],
    );
    // Interrupt once the first step has been reported.
    let (status, text) = crate::util::interrupt(&mut cmd, |line| line.contains("step 0 "));
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(
        text.contains("continue with: eader train --resume"),
        "{text}"
    );
    let state = std::fs::read_to_string(runs.join("int/checkpoint/state.json")).unwrap();
    assert!(state.contains("\"global_step\""), "{state}");

    let mut resume = Command::new(env!("CARGO_BIN_EXE_eader"));
    resume
        .args(["train", "--resume"])
        .arg(runs.join("int"))
        .env("EADER_CACHE_DIR", runs.join("cache"));
    let out = output(resume);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = std::fs::read_to_string(runs.join("int/summary.json")).unwrap();
    assert!(summary.contains("\"epochs\": 3"), "{summary}");
}

#[test]
fn bad_options_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let runs = tmp.path().join("runs");
    fails_with(
        output(train(&root, &runs, &["--localizer-model", "resnet7"])),
        &["--localizer-model", "unknown architecture `resnet7`"],
    );
    fails_with(
        output(train(
            &root,
            &runs,
            &["--share-weights", "--adversarial-model", "resnet18"],
        )),
        &["--share-weights", "--adversarial-model"],
    );
    fails_with(
        output(train(&root, &runs, &["--split", "nosuch"])),
        &["nosuch", "split file not found"],
    );
    fails_with(
        output(train(&tmp.path().join("missing"), &runs, &[])),
        &["missing"],
    );
    assert!(!runs.join("run-1").exists(), "no folder for a failed start");
}

#[test]
fn weights_of_the_wrong_shape_name_the_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let runs = tmp.path().join("runs");
    let file = tmp.path().join("bad.safetensors");
    let t = candle::Tensor::zeros((8, 3, 3, 3), candle::DType::F32, &candle::Device::Cpu).unwrap();
    candle::safetensors::save(
        &std::collections::HashMap::from([("conv1.weight", t)]),
        &file,
    )
    .unwrap();
    // Replace --localizer-from-scratch by a weights file.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eader"));
    cmd.args(["train", "--dataset-root"])
        .arg(&root)
        .arg("--output-dir")
        .arg(&runs)
        .args(["--localizer-model", "resnet18", "--weights-localizer"])
        .arg(&file)
        .args([
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--img-resolution",
            "32",
        ]);
    fails_with(output(cmd), &["bad.safetensors", "conv1.weight"]);
}

#[test]
fn an_existing_experiment_needs_resume_or_overwrite_and_keeps_its_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let runs = tmp.path().join("runs");
    let first = output(train(&root, &runs, &["--experiment-name", "exp"]));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    fails_with(
        output(train(&root, &runs, &["--experiment-name", "exp"])),
        &["already exists", "--resume", "--overwrite"],
    );
    // A checkpoint of a resnet18 cannot continue as a resnet34.
    let mut resume = train(&root, &runs, &["--resume"]);
    resume
        .arg(runs.join("exp"))
        .args(["--localizer-model", "resnet34"]);
    fails_with(
        output(resume),
        &["--localizer-model", "resnet34", "resnet18"],
    );
    let again = output(train(
        &root,
        &runs,
        &["--experiment-name", "exp", "--overwrite"],
    ));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // --overwrite never deletes a folder that is not an experiment.
    std::fs::create_dir_all(runs.join("notes")).unwrap();
    std::fs::write(runs.join("notes/todo.txt"), "keep me").unwrap();
    fails_with(
        output(train(
            &root,
            &runs,
            &["--experiment-name", "notes", "--overwrite"],
        )),
        &["not an eader experiment folder"],
    );
    assert!(runs.join("notes/todo.txt").is_file());
}

#[test]
fn a_dataset_without_foreground_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let train_split = VocDataset::open(&root, "train").unwrap();
    for i in 0..train_split.len() {
        let mut map = train_split.load_mask(i).unwrap();
        map.data.fill(0);
        write_palette_png(train_split.mask_path(i).unwrap(), &map).unwrap();
    }
    fails_with(
        output(train(&root, &tmp.path().join("runs"), &[])),
        &["no image of split \"train\" has a foreground class"],
    );
}
