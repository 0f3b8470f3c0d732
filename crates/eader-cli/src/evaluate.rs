//! `eader evaluate`: a trained localizer's segmentation maps scored on a split,
//! under a named protocol, with optional pseudo labels, maps and visuals.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle::Device;
use clap::Args;
use eader_crf::Preset;
use eader_dataset::VocDataset;
use eader_eval::protocol::{threshold_rule, Chosen};
use eader_eval::sweep::SweepScores;
use eader_eval::{
    evaluate_split, merge_thresholds, parse_thresholds, CrfRefinement, EvalReport, EvalSettings,
    Existing, LabelSource, MapConfig, Progress, Protocol, ProtocolCard, SaveDirs, VisualStyle,
};
use eader_models::{AttentionKind, Classifier};
use eader_train::TrainConfig;
use serde::Serialize;

use crate::common::{dataset_root, progress_bar, ComputeArgs};
use crate::localizer::{Localizer, LocalizerArgs};

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
    pub attention_type: Option<AttentionKind>,
    /// Also score the maps refined by a dense CRF (psa, irn or deeplab), side by
    /// side; --save-predictions then writes the refined labels
    #[arg(long, value_name = "PRESET")]
    pub crf: Option<Preset>,
    /// Exponent of psa's background score (1 - max map)^alpha for --crf psa / deeplab
    /// (psa: 4 its low, 32 its high background)
    #[arg(long, value_name = "A", default_value_t = 4.0, requires = "crf")]
    pub crf_alpha: f32,
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
    /// No progress bar, and no protocol card before the pass
    #[arg(long)]
    pub quiet: bool,
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
                localizer_model: model.arch(),
                ..TrainConfig::default()
            },
            model,
            experiment_dir: None,
        },
    })
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

/// A finished evaluation: what it scored and where its files are.
pub struct Evaluation {
    /// The protocol card.
    pub card: ProtocolCard,
    /// The results.
    pub report: EvalReport,
    /// `metrics.json`.
    pub metrics_path: PathBuf,
    /// `sweep.csv`, with `--thresholds`.
    pub sweep_path: Option<PathBuf>,
}

/// Runs `eader evaluate`: evaluates, then prints the card, the table and the means.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<()> {
    let Evaluation {
        card,
        report,
        metrics_path,
        sweep_path,
    } = evaluate(args)?;
    print!("{}", summary(&card, &report, sweep_path.is_some()));
    eprintln!("time: {}", report.timing);
    if report.reused_images > 0 {
        eprintln!(
            "resumed: {} images scored from their saved files, {} through the network",
            report.reused_images, report.forward_images
        );
    }
    eprintln!("wrote {}", metrics_path.display());
    if let Some(path) = sweep_path {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Evaluates as `args` say and writes `metrics.json` (and `sweep.csv`); prints
/// only the card and the progress bar (neither with `--quiet`).
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<Evaluation> {
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
            .unwrap_or_else(eader_dataset::demo::cache_dir),
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

    let deviations = protocol.deviations(&Chosen {
        split: &split,
        maps: &maps,
        threshold: fixed_threshold,
        run_threshold: cfg.segmentation_map_threshold as f32,
        run_attention: cfg.attention_type,
    });
    let rule = threshold_rule(
        fixed_threshold,
        args.thresholds
            .as_deref()
            .map(|spec| (spec, thresholds.len())),
        args.select_on,
    );
    let crf = args
        .crf
        .map(|preset| CrfRefinement::from_preset(preset, fixed_threshold, args.crf_alpha))
        .transpose()?;
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
        crf: crf.as_ref().map(CrfRefinement::describe),
    };

    let output_dir = args.output_dir.clone().unwrap_or_else(|| {
        source
            .experiment_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("results"))
            .join(protocol.output_dir_name(&split))
    });
    let metrics_path = output_dir.join(eader_eval::protocol::METRICS_FILE);
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
        crf,
        visual_limit: None,
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

    if !args.quiet {
        eprintln!("{card}");
    }
    let bar = progress_bar(dataset.len(), "evaluate", args.quiet);
    let report = evaluate_split(
        &source.model,
        dataset,
        &device,
        &settings,
        &mut Progress(|done, _| bar.set_position(done as u64)),
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
    let sweep_path = (!sweep.is_empty()).then(|| output_dir.join("sweep.csv"));
    if let Some(path) = &sweep_path {
        std::fs::write(path, SweepScores::csv(&report.sweep))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Evaluation {
        card,
        report,
        metrics_path,
        sweep_path,
    })
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
    let c = &report.coverage;
    if let Some(area) = c.map_area {
        out.push_str(&format!(
            "maps: {} (image, class) maps cover {:.1}% of their image on average at the threshold",
            c.maps,
            100.0 * area
        ));
        if let Some(p) = &c.parts {
            out.push_str(&format!(
                "; their mass: face {:.1}%, body {:.1}%, background {:.1}%, elsewhere {:.1}%",
                100.0 * p.face,
                100.0 * p.body,
                100.0 * p.background,
                100.0 * p.other
            ));
        }
        out.push('\n');
    }
    if let Some(crf) = &report.crf {
        let c = &crf.metrics;
        out.push_str(&format!("\n{}\n{}\n", crf.crf, c.table()));
        out.push_str(&format!(
            "with CRF: mIoU {:.2} (all {} classes); {:.2} over present classes; precision {:.2}, \
             recall {:.2} | without: mIoU {:.2}\n",
            100.0 * c.miou,
            c.classes.len(),
            100.0 * c.miou_present,
            100.0 * c.mean_precision,
            100.0 * c.mean_recall,
            100.0 * m.miou
        ));
    }
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
