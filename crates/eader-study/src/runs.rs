//! A study's run folders: the state each is in, and what each measured.
//!
//! A run folder is a normal experiment folder (`eader train`'s) with `eader
//! evaluate`'s results inside (`<run>/eval-<protocol>-<split>/metrics.json`).
//! Its state follows from its files alone, so rerunning a study skips what is
//! done, resumes what was interrupted and starts what is missing.

use std::path::{Path, PathBuf};

use eader_eval::protocol::METRICS_FILE;
use eader_eval::CoverageReport;
use eader_metrics::SegmentationMetrics;
use eader_train::checkpoint::{CHECKPOINT_DIR, STATE_FILE};
use eader_train::logging::SUMMARY_FILE;
use eader_train::trainer::CONFIG_FILE;
use eader_train::{ConfigOverrides, Summary, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::grid::Point;

/// The folder of the run folders inside a study folder.
pub const RUNS_DIR: &str = "runs";

/// Options that may differ between a run folder and the study without making
/// it another run: where it lives (the folder itself says that, and a study
/// folder may move), where and how fast it runs, what it logs, one-off actions.
pub const NOT_COMPARED: [&str; 9] = [
    "output_dir",
    "experiment_name",
    "resume",
    "overwrite",
    "device",
    "threads",
    "log_every",
    "visuals_every",
    "visual_samples",
];

/// What a run folder needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// No run yet (or a folder without a checkpoint): train from the start.
    Fresh,
    /// Interrupted: a checkpoint without `summary.json`; resume it.
    Resume,
    /// Trained, not evaluated: run the evaluation.
    Evaluate,
    /// Trained and evaluated: nothing to do.
    Complete,
}

/// The state of the run folder `dir`, which should hold a run of `wanted`;
/// `eval_dir` is the evaluation's folder name inside it. A folder holding a
/// run trained with other options (beyond [`NOT_COMPARED`]) is an error
/// naming the first option that differs.
pub fn run_state(dir: &Path, wanted: &TrainConfig, eval_dir: &str) -> Result<RunState> {
    let config = dir.join(CONFIG_FILE);
    if config.is_file() {
        let mut saved = TrainConfig::default();
        TrainConfig::load_overrides(&config)?.apply_to(&mut saved);
        if let Some((key, was, wants)) = first_difference(&saved, wanted) {
            return Err(Error::ForeignRun {
                path: dir.to_owned(),
                message: format!(
                    "this run was trained with {key} = {was}, the study asks for {key} = {wants}; \
                     remove the folder or give the study another folder"
                ),
            });
        }
    }
    Ok(if dir.join(SUMMARY_FILE).is_file() {
        if dir.join(eval_dir).join(METRICS_FILE).is_file() {
            RunState::Complete
        } else {
            RunState::Evaluate
        }
    } else if dir.join(CHECKPOINT_DIR).join(STATE_FILE).is_file() {
        RunState::Resume
    } else {
        RunState::Fresh
    })
}

/// The first option (beyond [`NOT_COMPARED`]) whose value differs, with both
/// values. The options a run fills in when left unset (training split, seed)
/// match whatever the run chose when `wanted` leaves them unset.
fn first_difference(saved: &TrainConfig, wanted: &TrainConfig) -> Option<(String, String, String)> {
    let wanted = TrainConfig {
        split: wanted.split.clone().or_else(|| saved.split.clone()),
        seed: wanted.seed.or(saved.seed),
        ..wanted.clone()
    };
    let saved = ConfigOverrides::from(saved).entries();
    let wanted = ConfigOverrides::from(&wanted).entries();
    saved
        .into_iter()
        .zip(wanted)
        .filter(|((key, _), _)| !NOT_COMPARED.contains(key))
        .find(|((_, was), (_, wants))| was != wants)
        .map(|((key, was), (_, wants))| (key.to_owned(), was, wants))
}

/// What one run measured: `eader evaluate`'s results and the run's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run folder's name.
    pub run: String,
    /// The run's alpha.
    pub alpha: f64,
    /// The run's seed.
    pub seed: u64,
    /// mIoU over all classes (the reference's number).
    pub miou: f64,
    /// mIoU over the classes present in the ground truth.
    pub miou_present: f64,
    /// Mean precision over the foreground classes.
    pub mean_precision: f64,
    /// Mean recall over the foreground classes.
    pub mean_recall: f64,
    /// Mean fraction of a map's pixels at or above the threshold.
    pub map_area: Option<f64>,
    /// Share of the maps' mass on their class's faces (datasets with part maps).
    pub mass_face: Option<f64>,
    /// Share on their class's bodies.
    pub mass_body: Option<f64>,
    /// Share on the background.
    pub mass_background: Option<f64>,
    /// Share elsewhere (other classes' objects, void).
    pub mass_elsewhere: Option<f64>,
    /// Steps that updated the localizer.
    pub localizer_updates: u64,
    /// Steps that updated the adversarial.
    pub adversarial_updates: u64,
    /// The all-background prediction's mIoU on the same split.
    pub baseline_miou: f64,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// The evaluation's protocol card.
    pub card: String,
}

/// The part of `metrics.json` a study reads.
#[derive(Debug, Deserialize)]
struct EvalFile {
    card_line: String,
    metrics: SegmentationMetrics,
    baseline: SegmentationMetrics,
    coverage: CoverageReport,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bad = |message: String| Error::BadFile {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("not a results file of eader: {e}")))
}

/// Reads the results of the run of `point` in `dir` (its `summary.json` and
/// `<eval_dir>/metrics.json`).
pub fn read_result(dir: &Path, point: Point, eval_dir: &str) -> Result<RunResult> {
    let summary: Summary = read_json(&dir.join(SUMMARY_FILE))?;
    let eval: EvalFile = read_json(&dir.join(eval_dir).join(METRICS_FILE))?;
    let parts = eval.coverage.parts.as_ref();
    Ok(RunResult {
        run: point.name(),
        alpha: point.alpha,
        seed: point.seed,
        miou: eval.metrics.miou,
        miou_present: eval.metrics.miou_present,
        mean_precision: eval.metrics.mean_precision,
        mean_recall: eval.metrics.mean_recall,
        map_area: eval.coverage.map_area,
        mass_face: parts.map(|p| p.face),
        mass_body: parts.map(|p| p.body),
        mass_background: parts.map(|p| p.background),
        mass_elsewhere: parts.map(|p| p.other),
        localizer_updates: summary.localizer_updates,
        adversarial_updates: summary.adversarial_updates,
        baseline_miou: eval.baseline.miou,
        train_seconds: summary.train_seconds,
        card: eval.card_line,
    })
}

/// The folder of the run of `point` in the study folder `study`.
pub fn run_dir(study: &Path, point: Point) -> PathBuf {
    study.join(RUNS_DIR).join(point.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_state_follows_from_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("alpha-0.05-seed-1");
        let wanted = TrainConfig {
            seed: Some(1),
            alpha: 0.05,
            ..TrainConfig::default()
        };
        let eval = "eval-eader-val";
        assert_eq!(run_state(&dir, &wanted, eval).unwrap(), RunState::Fresh);
        // The run saved its config, with the split it chose and its own log options.
        std::fs::create_dir_all(&dir).unwrap();
        let saved = TrainConfig {
            split: Some("train_aug".into()),
            log_every: 1,
            threads: Some(1),
            output_dir: "moved/elsewhere".into(),
            ..wanted.clone()
        };
        saved.save(&dir.join(CONFIG_FILE)).unwrap();
        assert_eq!(run_state(&dir, &wanted, eval).unwrap(), RunState::Fresh);
        std::fs::create_dir_all(dir.join(CHECKPOINT_DIR)).unwrap();
        std::fs::write(dir.join(CHECKPOINT_DIR).join(STATE_FILE), "{}").unwrap();
        assert_eq!(run_state(&dir, &wanted, eval).unwrap(), RunState::Resume);
        std::fs::write(dir.join(SUMMARY_FILE), "{}").unwrap();
        assert_eq!(run_state(&dir, &wanted, eval).unwrap(), RunState::Evaluate);
        std::fs::create_dir_all(dir.join(eval)).unwrap();
        std::fs::write(dir.join(eval).join(METRICS_FILE), "{}").unwrap();
        assert_eq!(run_state(&dir, &wanted, eval).unwrap(), RunState::Complete);

        // Another split asked for explicitly, or another alpha: a foreign run.
        let other = TrainConfig {
            split: Some("train".into()),
            ..wanted.clone()
        };
        let e = run_state(&dir, &other, eval).unwrap_err().to_string();
        assert!(
            e.contains("trained with split = \"train_aug\", the study asks for split = \"train\""),
            "{e}"
        );
        let other = TrainConfig {
            alpha: 0.1,
            ..wanted
        };
        let e = run_state(&dir, &other, eval).unwrap_err().to_string();
        assert!(
            e.contains("alpha = 0.05, the study asks for alpha = 0.1"),
            "{e}"
        );
        // Unreadable results name the file.
        let e = read_result(
            &dir,
            Point {
                alpha: 0.05,
                seed: 1,
            },
            eval,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("summary.json: not a results file of eader"),
            "{e}"
        );
    }
}
