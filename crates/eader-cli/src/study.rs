//! `eader study`: a grid of training runs (alpha x seeds), each a normal
//! experiment folder evaluated by `eader evaluate` under one protocol, and
//! their mean ± std over seeds as CSV, JSON, markdown and plots.
//!
//! Every run's state comes from its files (eader-study's `run_state`), so a
//! rerun of the same command skips complete runs, resumes an interrupted one
//! and trains the rest; Ctrl-C stops the current run at a checkpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use eader_eval::Protocol;
use eader_study::{
    parse_list, read_result, run_dir, run_state, Grid, Point, RunState, StudyReport,
};
use eader_train::{ConfigOverrides, Outcome, TrainConfig};

use crate::common::ComputeArgs;
use crate::evaluate::EvaluateArgs;
use crate::localizer::LocalizerArgs;
use crate::train::RunOptions;

/// Options of `eader study`: the grid, the study folder, and any option of
/// `eader train` but the ones the grid sets (alpha, seed) or the study owns
/// (experiment name, output folder, resume, overwrite).
#[derive(Debug, Clone, Default, Args)]
pub struct StudyArgs {
    /// Alpha values, comma-separated, e.g. 0,0.01,0.05,0.1
    /// [default: 0 (the localizer alone) and the run's alpha, 0.05]
    #[arg(long, value_name = "LIST")]
    pub alpha: Option<String>,
    /// Seeds, comma-separated [default: 0,1,2]
    #[arg(long, value_name = "LIST")]
    pub seeds: Option<String>,
    /// The study folder: runs/<alpha-A-seed-S>/ (experiment folders) and the
    /// aggregate files; rerunning with the same folder continues the study
    #[arg(long, value_name = "DIR", default_value = "results/study")]
    pub study_dir: PathBuf,
    /// Alpha 0 keeps the adversarial and its phases (its loss weighted 0), so
    /// every run gives the localizer the same number of updates [default:
    /// alpha 0 is the localizer alone, updated in every step, as the reference's
    /// localizer-only baseline]
    #[arg(long)]
    pub equal_updates: bool,
    /// TOML file with training options (snake_case keys); command-line options win
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the grid and the state of each run, and exit
    #[arg(long)]
    pub dry_run: bool,

    /// The training options every run shares.
    #[command(flatten)]
    pub run: RunOptions,
}

/// Options a study sets for each run itself: a file or command line setting
/// them is an error naming the option.
const OWNED_BY_STUDY: [(&str, &str); 4] = [
    ("experiment_name", "the study names each run alpha-A-seed-S"),
    ("output_dir", "the runs live under --study-dir/runs"),
    ("resume", "rerunning the study resumes its runs"),
    ("overwrite", "the study decides per run from its files"),
];

/// The grid and the configuration every run shares.
struct Plan {
    grid: Grid,
    /// The shared configuration, with the demo preset that went into it.
    resolved: crate::train::ResolvedConfig,
}

fn plan(args: &StudyArgs) -> anyhow::Result<Plan> {
    let file = match &args.config {
        Some(path) => TrainConfig::load_overrides(path)?,
        None => ConfigOverrides::default(),
    };
    let file_name = || {
        args.config
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string())
    };
    let set_in_file = file.entries();
    for (key, why) in OWNED_BY_STUDY {
        if set_in_file.iter().any(|(k, _)| *k == key) {
            bail!("{}: `{key}` cannot be set for a study: {why}", file_name());
        }
    }
    let alphas = match (&args.alpha, file.alpha) {
        (Some(_), Some(a)) => bail!(
            "--alpha: the grid sets alpha, and {} sets alpha = {a} too: remove one",
            file_name()
        ),
        (Some(list), None) => parse_list("alpha", list)?,
        (None, Some(0.0)) => vec![0.0],
        (None, a) => vec![0.0, a.unwrap_or(TrainConfig::default().alpha)],
    };
    let seeds = match (&args.seeds, file.seed) {
        (Some(_), Some(s)) => bail!(
            "--seeds: the grid sets the seeds, and {} sets seed = {} too: remove one",
            file_name(),
            s.map_or("(none)".to_owned(), |s| s.to_string())
        ),
        (Some(list), None) => parse_list("seeds", list)?,
        (None, Some(Some(s))) => vec![s],
        (None, _) => vec![0, 1, 2],
    };
    let grid = Grid::new(alphas, seeds)?;
    let explicit = file.merged_with(&args.run.overrides());
    let resolved = crate::train::resolve_new(&explicit)?;
    if resolved.config.adversarial_model.is_none() && !resolved.config.share_weights {
        bail!(
            "--alpha: a study varies the attention-mining weight, which needs an adversarial: \
             give --adversarial-model ARCH (with --adversarial-from-scratch on the demo) or --share-weights"
        );
    }
    Ok(Plan { grid, resolved })
}

/// The configuration of the run of `point`.
fn point_config(
    base: &TrainConfig,
    point: Point,
    study: &Path,
    equal_updates: bool,
) -> TrainConfig {
    let mut c = base.clone();
    c.alpha = point.alpha;
    c.seed = Some(point.seed);
    c.output_dir = study.join(eader_study::runs::RUNS_DIR);
    c.experiment_name = Some(point.name());
    c.resume = None;
    c.overwrite = false;
    if point.alpha == 0.0 && !equal_updates {
        // The localizer alone, as the reference's localizer-only baseline.
        c.adversarial_model = None;
        c.adversarial_from_scratch = false;
        c.weights_adversarial = None;
        c.init_adversarial = false;
        c.share_weights = false;
    }
    c
}

fn describe(state: RunState) -> &'static str {
    match state {
        RunState::Fresh => "to train",
        RunState::Resume => "to resume",
        RunState::Evaluate => "to evaluate",
        RunState::Complete => "complete",
    }
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Runs `eader study`.
pub fn run(args: &StudyArgs) -> anyhow::Result<ExitCode> {
    let Plan { grid, resolved } = plan(args)?;
    resolved.print_preset("demo study");
    let base = &resolved.config;
    let study = &args.study_dir;
    let eval_dir = Protocol::Eader.output_dir_name(&base.val_split);
    let points = grid.points();
    let configs: Vec<TrainConfig> = points
        .iter()
        .map(|&p| point_config(base, p, study, args.equal_updates))
        .collect();
    let states = points
        .iter()
        .zip(&configs)
        .map(|(&p, c)| run_state(&run_dir(study, p), c, &eval_dir))
        .collect::<Result<Vec<_>, _>>()?;

    let count = |s: RunState| states.iter().filter(|&&x| x == s).count();
    eprintln!(
        "study {}: {} runs ({} alphas x {} seeds): {} complete, {} to resume, {} to evaluate, {} to train",
        study.display(),
        points.len(),
        grid.alphas.len(),
        grid.seeds.len(),
        count(RunState::Complete),
        count(RunState::Resume),
        count(RunState::Evaluate),
        count(RunState::Fresh),
    );
    if args.dry_run {
        for (p, s) in points.iter().zip(&states) {
            println!("{}\t{}", p.name(), describe(*s));
        }
        return Ok(ExitCode::SUCCESS);
    }

    crate::common::set_threads(base.threads)?;
    let device = eader_train::device::resolve(base.device)?;
    let stop = crate::interrupt::stop_flag()?;
    let total = points.len();
    let mut pending = states.iter().filter(|&&s| s != RunState::Complete).count();
    let mut spent = Vec::new();
    let mut stopped = false;
    for (i, ((&point, config), state)) in points.iter().zip(&configs).zip(&states).enumerate() {
        let dir = run_dir(study, point);
        let tag = format!("[{}/{total}] {}", i + 1, point.name());
        if *state == RunState::Complete {
            eprintln!("{tag}: complete, skipped");
            continue;
        }
        eprintln!("{tag}: {}", describe(*state));
        let started = Instant::now();
        if matches!(state, RunState::Fresh | RunState::Resume) {
            let mut config = config.clone();
            if *state == RunState::Resume {
                config.resume = Some(dir.clone());
            } else {
                config.overwrite = dir.exists();
            }
            let (outcome, _) = crate::train::train(config, device.clone(), stop.clone())?;
            if let Outcome::Stopped { global_step, .. } = outcome {
                eprintln!("{tag}: stopped after step {global_step}, checkpoint written");
                stopped = true;
                break;
            }
        }
        let evaluation = crate::evaluate::evaluate(&EvaluateArgs {
            localizer: LocalizerArgs {
                checkpoint: Some(dir.clone()),
                ..LocalizerArgs::default()
            },
            split: Some(base.val_split.clone()),
            overwrite: true,
            quiet: true,
            compute: ComputeArgs {
                device: Some(base.device),
                threads: base.threads,
            },
            ..EvaluateArgs::default()
        })?;
        let took = started.elapsed();
        spent.push(took);
        pending -= 1;
        let mean = spent.iter().sum::<Duration>() / spent.len() as u32;
        let m = &evaluation.report.metrics;
        let area = evaluation
            .report
            .coverage
            .map_area
            .map_or(String::new(), |a| format!(", map area {:.1}%", 100.0 * a));
        eprintln!(
            "{tag}: mIoU {:.2}%{area} in {}; {pending} runs left, ETA {}",
            100.0 * m.miou,
            minutes(took),
            minutes(mean * pending as u32)
        );
    }

    let mut runs = Vec::new();
    for (&point, config) in points.iter().zip(&configs) {
        let dir = run_dir(study, point);
        if run_state(&dir, config, &eval_dir)? == RunState::Complete {
            runs.push(read_result(&dir, point, &eval_dir)?);
        }
    }
    let command = std::iter::once("eader".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut report = StudyReport::new(&grid, runs, command);
    report.notes.push(if args.equal_updates {
        "alpha 0 keeps the adversarial and its phases (its loss weighted 0): every run gives the \
         localizer the same number of updates"
            .to_owned()
    } else {
        "alpha 0 is the localizer alone (no adversarial), updated in every step, as the \
         reference's localizer-only baseline; `--equal-updates` keeps the adversarial's phases instead"
            .to_owned()
    });
    std::fs::create_dir_all(study)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", study.display()))?;
    let files = report.write(study)?;
    print!("{}", report.table());
    if let Some(b) = report.baseline_miou {
        println!("all-background baseline mIoU {:.2}%", 100.0 * b);
    }
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    if stopped {
        eprintln!("study stopped: run the same command again to continue");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eader_models::Architecture;

    #[test]
    fn alpha_zero_is_the_localizer_alone_unless_updates_are_equalised() {
        let base = TrainConfig {
            adversarial_model: Some(Architecture::Resnet18),
            adversarial_from_scratch: true,
            init_adversarial: true,
            init_from: Some("warm".into()),
            ..TrainConfig::default()
        };
        let study = Path::new("s");
        let zero = Point {
            alpha: 0.0,
            seed: 2,
        };
        let alone = point_config(&base, zero, study, false);
        assert_eq!(alone.adversarial_model, None);
        assert!(!alone.init_adversarial && !alone.adversarial_from_scratch);
        assert_eq!(alone.init_from, base.init_from, "the warm start stays");
        assert_eq!(
            (alone.alpha, alone.seed, alone.experiment_name.as_deref()),
            (0.0, Some(2), Some("alpha-0-seed-2"))
        );
        assert_eq!(alone.output_dir, Path::new("s/runs"));
        alone.validate().unwrap();
        let equal = point_config(&base, zero, study, true);
        assert_eq!(equal.adversarial_model, Some(Architecture::Resnet18));
        assert!(equal.init_adversarial);
        let other = point_config(
            &base,
            Point {
                alpha: 0.05,
                seed: 2,
            },
            study,
            false,
        );
        assert_eq!(other.adversarial_model, Some(Architecture::Resnet18));
        assert_eq!(other.alpha, 0.05);
    }
}
