//! `eader evaluate`: a trained localizer's segmentation maps scored on a split,
//! under a named protocol, with optional pseudo labels, maps and visuals.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle::Device;
use clap::Args;
use eader_dataset::demo::{ensure, DemoConfig};
use eader_dataset::VocDataset;
use eader_models::Classifier;
use eader_train::evaluate::outputs::file_safe;
use eader_train::evaluate::sweep::SweepScores;
use eader_train::evaluate::{
    evaluate_split, merge_thresholds, parse_thresholds, EvalReport, EvalSettings, Existing,
    LabelSource, MapConfig, Protocol, ProtocolCard, SaveDirs, VisualStyle,
};
use eader_train::{AttentionType, DeviceChoice, TrainConfig};

use crate::localizer::{Localizer, LocalizerArgs};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Options of `eader evaluate`.
#[derive(Debug, Clone, Default, Args)]
pub struct EvaluateArgs {
    /// The localizer: a checkpoint, or an architecture and a weights file.
    #[command(flatten)]
    pub localizer: LocalizerArgs,

    /// Dataset root in VOC layout [default: the checkpoint's, else the demo dataset]
    #[arg(long, value_name = "DIR")]
    pub dataset_root: Option<PathBuf>,
    /// Where the demo dataset is generated (once) when no dataset is given
    /// [default: eader train's cache: $EADER_CACHE_DIR, $XDG_CACHE_HOME/eader or ~/.cache/eader]
    #[arg(long, value_name = "DIR")]
    pub demo_cache: Option<PathBuf>,
    /// eader: val, single scale, the run's threshold (the reference's numbers);
    /// wsss: VOC train against VOC's own masks, scales 1,0.5,1.5,2 + flip
    #[arg(long, default_value = "eader")]
    pub protocol: Protocol,
    /// Split to score [default: the protocol's]
    #[arg(long)]
    pub split: Option<String>,
    /// Segmentation-map threshold [default: the run's segmentation_map_threshold, 0.3]
    #[arg(long, value_name = "T")]
    pub threshold: Option<f32>,
    /// Also score a sweep of thresholds in the same pass, e.g. 0.05:0.95:0.05
    #[arg(long, value_name = "A:B:STEP")]
    pub thresholds: Option<String>,
    /// Choose the sweep's threshold on N images drawn with a fixed seed and
    /// report it on the others (a number that does not peek at their ground truth)
    #[arg(long, value_name = "N", requires = "thresholds")]
    pub select_on: Option<usize>,
    /// Scales of the attention maps, e.g. 1,0.5,1.5,2 [default: the protocol's]
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub scales: Option<Vec<f64>>,
    /// Average the maps of the mirrored image too [default: the protocol's]
    #[arg(long, conflicts_with = "no_flip")]
    pub flip: bool,
    /// Do not flip-average (wsss flips by default)
    #[arg(long)]
    pub no_flip: bool,
    /// gcam or cam [default: the run's]
    #[arg(long, value_name = "TYPE")]
    pub attention_type: Option<AttentionType>,
    /// Soft-mask steepness of erased visuals [default: the run's, 100]
    #[arg(long)]
    pub omega: Option<f64>,
    /// Soft-mask threshold of erased visuals [default: the run's, 0.5]
    #[arg(long)]
    pub sigma: Option<f64>,

    /// Folder of metrics.json (and sweep.csv) [default: <experiment>/eval-<protocol>-<split>]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// One VOC palette PNG per image id: the pseudo labels
    #[arg(long, value_name = "DIR")]
    pub save_predictions: Option<PathBuf>,
    /// One .npz per image id: normalised maps (P, H, W) float32 and their class indices
    #[arg(long, value_name = "DIR")]
    pub save_maps: Option<PathBuf>,
    /// Heatmap overlays, raw heatmaps, erased images and coloured segmentation maps
    #[arg(long, value_name = "DIR")]
    pub save_visuals: Option<PathBuf>,
    /// Write over files in existing output folders
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Complete an interrupted run: images whose files are complete are scored
    /// from them without the network
    #[arg(long)]
    pub resume: bool,

    /// Device and CPU threads.
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// `--device` and `--threads`, shared by `eader evaluate`, `infer` and `inspect`.
#[derive(Debug, Clone, Default, Args)]
pub struct ComputeArgs {
    /// auto, cpu, cuda or cuda:N [default: auto]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// CPU threads [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ComputeArgs {
    /// Sizes the CPU thread pool (see [`set_threads`]).
    pub fn set_threads(&self) -> anyhow::Result<()> {
        set_threads(self.threads)
    }

    /// The device `--device` designates (a clear error when CUDA is missing).
    pub fn device(&self) -> anyhow::Result<Device> {
        Ok(eader_train::device::resolve(
            self.device.unwrap_or_default(),
        )?)
    }
}

/// Sizes the global rayon pool (the CPU kernels') once.
pub fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads: must be at least 1");
        }
        // Fails only when the pool already exists (tests running twice): keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

/// A progress bar on stderr with rate and ETA (hidden when `quiet` or not a terminal).
pub fn progress_bar(total: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template(&format!(
        "{what} {{bar:30}} {{pos}}/{{len}} {{per_sec}} ETA {{eta}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// The localizer and what the report says about it.
struct Source {
    model: Classifier,
    config: TrainConfig,
    description: String,
    experiment_dir: Option<PathBuf>,
}

fn load_source(args: &EvaluateArgs, device: &Device) -> anyhow::Result<Source> {
    let Localizer { model, path, run } = args.localizer.load(device)?;
    Ok(match run {
        Some((config, epoch)) => Source {
            description: format!(
                "{} {} epoch {epoch}",
                config.localizer_model,
                path.display()
            ),
            experiment_dir: if path.file_name().is_some_and(|n| n == "checkpoint") {
                path.parent().map(Path::to_path_buf)
            } else {
                Some(path)
            },
            model,
            config,
        },
        None => Source {
            description: format!("{} {}", model.arch(), path.display()),
            config: TrainConfig {
                localizer_model: model.arch().to_string(),
                ..TrainConfig::default()
            },
            model,
            experiment_dir: None,
        },
    })
}

/// Opens the dataset root (or generates the demo) and returns `(root, label)`.
pub fn dataset_root(
    given: Option<&Path>,
    from_run: Option<&Path>,
    demo_cache: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    match given.or(from_run) {
        Some(root) => Ok((root.to_path_buf(), root.display().to_string())),
        None => {
            let root = ensure(demo_cache, &DemoConfig::default()).with_context(|| {
                format!(
                    "cannot generate the demo dataset under {}",
                    demo_cache.display()
                )
            })?;
            eprintln!(
                "no --dataset-root: using the demo dataset in {}",
                root.display()
            );
            Ok((root, "demo".to_owned()))
        }
    }
}

/// What `metrics.json` holds.
#[derive(Debug, Serialize)]
struct MetricsFile<'a> {
    card: &'a ProtocolCard,
    card_line: String,
    threshold: f32,
    #[serde(flatten)]
    report: &'a EvalReport,
}

/// Runs `eader evaluate`.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<()> {
    args.compute.set_threads()?;
    let device = args.compute.device()?;
    let source = load_source(args, &device)?;
    let cfg = &source.config;
    let protocol = args.protocol;
    let split = args
        .split
        .clone()
        .unwrap_or_else(|| protocol.split().to_owned());
    let (root, dataset_label) = dataset_root(
        args.dataset_root.as_deref(),
        cfg.dataset_root.as_deref(),
        &args
            .demo_cache
            .clone()
            .unwrap_or_else(eader_train::trainer::cache_dir),
    )?;
    let dataset = VocDataset::open(&root, &split)?;
    if protocol.voc_masks_only() {
        LabelSource::require_voc(&dataset)?;
    }
    let labels = LabelSource::of(&dataset)?;

    let fixed_threshold = args
        .threshold
        .unwrap_or(cfg.segmentation_map_threshold as f32);
    if !(0.0..=1.0).contains(&fixed_threshold) {
        bail!("--threshold: must lie in [0, 1], got {fixed_threshold}");
    }
    let sweep = match &args.thresholds {
        Some(spec) => parse_thresholds(spec).map_err(|m| anyhow::anyhow!("--thresholds: {m}"))?,
        None => Vec::new(),
    };
    let (thresholds, fixed) = merge_thresholds(&sweep, fixed_threshold);
    let scales = args.scales.clone().unwrap_or_else(|| protocol.scales());
    let flip = if args.flip {
        true
    } else if args.no_flip {
        false
    } else {
        protocol.flip()
    };
    let attention = args.attention_type.unwrap_or(cfg.attention_type);
    let maps = MapConfig {
        attention,
        scales: scales.clone(),
        flip,
    };
    maps.validate()?;

    let mut deviations = Vec::new();
    if split != protocol.split() {
        deviations.push(format!("split {split}"));
    }
    if scales != protocol.scales() {
        deviations.push("scales".to_owned());
    }
    if flip != protocol.flip() {
        deviations.push(if flip { "flip" } else { "no flip" }.to_owned());
    }
    if (fixed_threshold as f64 - cfg.segmentation_map_threshold).abs() > 1e-6 {
        deviations.push(format!("threshold {fixed_threshold}"));
    }
    if attention != cfg.attention_type {
        deviations.push(format!("attention {attention}"));
    }
    let mut rule = format!("{fixed_threshold} fixed");
    if !sweep.is_empty() {
        rule.push_str(&format!(
            "; sweep {} ({} thresholds, oracle reported apart)",
            args.thresholds.as_deref().unwrap_or_default(),
            thresholds.len()
        ));
    }
    if let Some(n) = args.select_on {
        rule.push_str(&format!("; one chosen on {n} held-out images"));
    }
    let card = ProtocolCard {
        protocol,
        deviations,
        dataset: dataset_label,
        split: split.clone(),
        images: dataset.len(),
        labels,
        scales,
        flip,
        attention: attention.to_string(),
        threshold_rule: rule,
        checkpoint: source.description.clone(),
    };

    let output_dir = args.output_dir.clone().unwrap_or_else(|| {
        source
            .experiment_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("results"))
            .join(format!("eval-{protocol}-{}", file_safe(&split)))
    });
    let metrics_path = output_dir.join("metrics.json");
    if metrics_path.exists() && !args.overwrite && !args.resume {
        bail!(
            "{} exists: pass --overwrite to replace it, or choose another --output-dir",
            metrics_path.display()
        );
    }
    let existing = if args.overwrite {
        Existing::Overwrite
    } else if args.resume {
        Existing::Resume
    } else {
        Existing::Refuse
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = args.compute.threads.unwrap_or(cores);
    let post_threads = (cores / 4).max(1);
    let settings = EvalSettings {
        maps,
        thresholds,
        fixed,
        select_on: args.select_on,
        save: SaveDirs {
            predictions: args.save_predictions.clone(),
            maps: args.save_maps.clone(),
            visuals: args.save_visuals.clone(),
        },
        existing,
        style: VisualStyle {
            omega: args.omega.unwrap_or(cfg.omega),
            sigma: args.sigma.unwrap_or(cfg.sigma),
            class_names: dataset.classes().names().to_vec(),
        },
        loader_threads: cores,
        post_threads,
        in_flight: 2 * post_threads + 2,
    };

    eprintln!("{card}");
    let bar = progress_bar(dataset.len(), "evaluate", args.quiet);
    let report = evaluate_split(
        &source.model,
        dataset,
        &device,
        &settings,
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();

    std::fs::create_dir_all(&output_dir)
        .with_context(|| format!("cannot create {}", output_dir.display()))?;
    let file = MetricsFile {
        card: &card,
        card_line: card.to_string(),
        threshold: fixed_threshold,
        report: &report,
    };
    eader_train::logging::write_json(&metrics_path, &file)?;
    let csv_path = output_dir.join("sweep.csv");
    if !sweep.is_empty() {
        std::fs::write(&csv_path, SweepScores::csv(&report.sweep))
            .with_context(|| format!("cannot write {}", csv_path.display()))?;
    }

    print!("{}", summary(&card, &report, !sweep.is_empty()));
    eprintln!("time: {}", report.timing);
    if report.reused_images > 0 {
        eprintln!(
            "resumed: {} images scored from their saved files, {} through the network",
            report.reused_images, report.forward_images
        );
    }
    eprintln!("wrote {}", metrics_path.display());
    if !sweep.is_empty() {
        eprintln!("wrote {}", csv_path.display());
    }
    Ok(())
}

/// The printed results: the card, the per-class table, the means and the sweep.
pub fn summary(card: &ProtocolCard, report: &EvalReport, with_sweep: bool) -> String {
    let m = &report.metrics;
    let mut out = format!("{card}\n{}\n", m.table());
    out.push_str(&format!(
        "mIoU {:.2} (mean over all {} classes, the reference's number); {:.2} over classes present in the ground truth; \
         precision {:.2}, recall {:.2}; all-background baseline mIoU {:.2}\n",
        100.0 * m.miou,
        m.classes.len(),
        100.0 * m.miou_present,
        100.0 * m.mean_precision,
        100.0 * m.mean_recall,
        100.0 * report.baseline.miou
    ));
    if with_sweep {
        let s = &report.sweep;
        out.push_str("threshold    mIoU  mIoU(present)\n");
        for e in &s.entries {
            out.push_str(&format!(
                "{:>9.3}  {:>6.2}  {:>13.2}\n",
                e.threshold,
                100.0 * e.miou,
                100.0 * e.miou_present
            ));
        }
        out.push_str(&format!(
            "oracle-best threshold {} -> mIoU {:.2} (chosen on this split's ground truth: peeks)\n",
            s.oracle.threshold,
            100.0 * s.oracle.miou
        ));
        out.push_str(&format!(
            "fixed threshold {} -> mIoU {:.2} (does not peek)\n",
            s.fixed.threshold,
            100.0 * s.fixed.miou
        ));
        if let Some(h) = &s.held_out {
            out.push_str(&format!(
                "threshold {} chosen on {} held-out images -> mIoU {:.2} on the other {} (does not peek; fixed threshold there: {:.2})\n",
                h.threshold,
                h.selection_images,
                100.0 * h.held_out_miou,
                h.held_out_images,
                100.0 * h.fixed_held_out_miou
            ));
        }
    }
    out
}
