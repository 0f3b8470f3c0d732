//! `eader study` as a user runs it: a tiny grid end to end (aggregate files,
//! mean and std as computed from the runs' own files), a rerun that skips
//! finished runs, Ctrl-C and a rerun that resumes, and one clear message with
//! exit status 2 for every bad grid.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::s;

/// 12 training images (3 batches of 4), 4 validation images of 40 px, with part maps.
fn dataset(dir: &Path) -> PathBuf {
    crate::util::demo(dir, 12, 4, 40)
}

/// `eader study` on `root` into `study` with a tiny, fast schedule (one epoch
/// of 3 steps, ResNet-18s from scratch at 32 px, L = A = 1), plus `extra`.
fn study(root: &Path, study: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eader"));
    cmd.args(["study", "--dataset-root"])
        .arg(root)
        .arg("--study-dir")
        .arg(study)
        .args(crate::util::TINY_SCHEDULE)
        .args([
            "--adversarial-model",
            "resnet18",
            "--adversarial-from-scratch",
            "--train-steps-localizer",
            "1",
            "--train-steps-adversarial",
            "1",
        ])
        .args(extra)
        .env("EADER_CACHE_DIR", study.join("cache"));
    cmd
}

fn succeeds(mut cmd: Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Asserts a failure with exit status 2 whose stderr holds `needle`.
fn fails_with(out: Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_tiny_grid_writes_its_aggregates_and_a_rerun_skips_the_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let dir = tmp.path().join("study");
    let grid = ["--alpha", "0,0.5", "--seeds", "1,2"];
    let (stdout, stderr) = succeeds(study(&root, &dir, &grid));
    assert!(
        stderr.contains(
            "4 runs (2 alphas x 2 seeds): 0 complete, 0 to resume, 0 to evaluate, 4 to train"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("| alpha | runs | mIoU |"), "{stdout}");
    for file in [
        "study.csv",
        "study.json",
        "study.md",
        "miou.png",
        "precision_recall.png",
        "map_area.png",
        "mass_object.png",
        "mass_outside.png",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    // Every run is a normal experiment folder, evaluated by `eader evaluate`.
    let run = |name: &str| dir.join("runs").join(name);
    let metrics = |name: &str| json(&run(name).join("eval-eader-val/metrics.json"));
    let summary = |name: &str| json(&run(name).join("summary.json"));
    // Alpha 0 is the localizer alone (3 localizer updates in 3 steps); alpha 0.5
    // alternates L = A = 1 (steps 0 and 2 update the localizer).
    assert_eq!(summary("alpha-0-seed-1")["localizer_updates"], 3);
    assert_eq!(summary("alpha-0-seed-1")["adversarial_updates"], 0);
    assert_eq!(summary("alpha-0.5-seed-2")["localizer_updates"], 2);
    assert_eq!(summary("alpha-0.5-seed-2")["adversarial_updates"], 1);

    // The aggregates are the mean and sample std of the runs' own numbers.
    let report = json(&dir.join("study.json"));
    assert_eq!(report["runs"].as_array().unwrap().len(), 4);
    assert_eq!(report["missing"].as_array().unwrap().len(), 0);
    for (i, alpha) in ["0", "0.5"].iter().enumerate() {
        let a = metrics(&format!("alpha-{alpha}-seed-1"))["metrics"]["miou"]
            .as_f64()
            .unwrap();
        let b = metrics(&format!("alpha-{alpha}-seed-2"))["metrics"]["miou"]
            .as_f64()
            .unwrap();
        let agg = &report["aggregates"][i];
        assert_eq!(agg["seeds"], serde_json::json!([1, 2]));
        let stat = &agg["metrics"][0];
        assert_eq!(stat["metric"], "miou");
        assert_eq!(stat["stat"]["n"], 2);
        let mean = stat["stat"]["mean"].as_f64().unwrap();
        let std = stat["stat"]["std"].as_f64().unwrap();
        assert!((mean - (a + b) / 2.0).abs() < 1e-12, "{mean} vs {a}, {b}");
        assert!((std - (a - b).abs() / 2f64.sqrt()).abs() < 1e-12, "{std}");
    }
    // study.csv: a row per run; the part shares of each run sum to 1.
    let csv = std::fs::read_to_string(dir.join("study.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let share = |k: &str| cells[col(k)].parse::<f64>().unwrap();
        let sum = share("mass_face")
            + share("mass_body")
            + share("mass_background")
            + share("mass_elsewhere");
        assert!((sum - 1.0).abs() < 1e-9, "{line}");
    }
    let md = std::fs::read_to_string(dir.join("study.md")).unwrap();
    assert!(md.contains("alpha 0 is the localizer alone"), "{md}");
    assert!(md.contains("protocol eader"), "{md}");

    // A rerun trains nothing: every run is skipped, their files untouched.
    let stamp = |name: &str| {
        std::fs::metadata(run(name).join("summary.json"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = stamp("alpha-0.5-seed-1");
    let (_, stderr) = succeeds(study(&root, &dir, &grid));
    assert_eq!(stderr.matches("complete, skipped").count(), 4, "{stderr}");
    assert_eq!(stamp("alpha-0.5-seed-1"), before);

    // The same folder with other training options is refused, naming the run.
    let mut other = study(&root, &dir, &grid);
    other.args(["--epochs", "2"]);
    fails_with(
        other.output().unwrap(),
        "this run was trained with epochs = 1, the study asks for epochs = 2",
    );
}

#[test]
fn ctrl_c_stops_the_grid_and_a_rerun_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let dir = tmp.path().join("study");
    let args = [
        "--alpha",
        "0.5",
        "--seeds",
        "1,2",
        "--epochs",
        "3",
        "--log-every",
        "1",
    ];
    // Interrupt once the second run has made its first step.
    let mut second = false;
    let (status, text) = crate::util::interrupt(&mut study(&root, &dir, &args), |line| {
        second |= line.contains("[2/2] alpha-0.5-seed-2: to train");
        second && line.contains("step 0 ")
    });
    assert!(second, "{text}");
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(
        text.contains("run the same command again to continue"),
        "{text}"
    );
    // The finished run is already in the report; the stopped one is not.
    let report = json(&dir.join("study.json"));
    assert_eq!(report["missing"], serde_json::json!(["alpha-0.5-seed-2"]));

    let (_, stderr) = succeeds(study(&root, &dir, &args));
    assert!(
        stderr.contains("[1/2] alpha-0.5-seed-1: complete, skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[2/2] alpha-0.5-seed-2: to resume"),
        "{stderr}"
    );
    let summary = json(&dir.join("runs/alpha-0.5-seed-2/summary.json"));
    assert_eq!(summary["epochs"], 3);
    let report = json(&dir.join("study.json"));
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_grids_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let dir = tmp.path().join("study");
    let fails = |extra: &[&str], needle: &str| {
        fails_with(study(&root, &dir, extra).output().unwrap(), needle);
        assert!(!dir.join("runs").exists(), "{extra:?} started work");
    };
    fails(&["--alpha", ""], "--alpha: the list is empty");
    fails(&["--alpha", "0,x"], "--alpha: `x` is not a valid value");
    fails(&["--alpha", "0.05,0.050"], "--alpha: 0.05 is given twice");
    fails(&["--seeds", "1,,2"], "--seeds: empty entry in `1,,2`");
    fails(&["--seeds", "1,-1"], "--seeds: `-1` is not a valid value");
    fails(
        &["--alpha", "0,-1"],
        "-1 is not a finite, non-negative weight",
    );
    // `--seed` is not an option of a study (the grid sets the seeds).
    fails(&["--seed", "3"], "--seed");

    // An option set both by the grid and as a plain option.
    let config = tmp.path().join("run.toml");
    std::fs::write(&config, "alpha = 0.05\n").unwrap();
    fails(
        &["--config", s(&config), "--alpha", "0,0.1"],
        "--alpha: the grid sets alpha, and",
    );
    std::fs::write(&config, "seed = 4\n").unwrap();
    fails(
        &["--config", s(&config), "--seeds", "1,2"],
        "--seeds: the grid sets the seeds",
    );
    std::fs::write(&config, "experiment_name = \"x\"\n").unwrap();
    fails(
        &["--config", s(&config)],
        "`experiment_name` cannot be set for a study",
    );

    // Without an adversarial, alpha does nothing.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eader"));
    cmd.args(["study", "--dataset-root", s(&root), "--study-dir", s(&dir)]);
    fails_with(cmd.output().unwrap(), "needs an adversarial");

    // A warm start from a run of another architecture.
    let run = tmp.path().join("r18");
    crate::util::checkpoint(&run, &crate::util::network(20, 1), Some(&root));
    fails(
        &[
            "--init-from",
            s(&run),
            "--localizer-model",
            "resnet50",
            "--seeds",
            "1",
        ],
        "--init-from",
    );
}
