//! `eader infer`: images (or folders) in, no labels: predicted classes with
//! probabilities, per-class maps and a segmentation map per image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use eader_dataset::demo::DemoConfig;
use eader_dataset::{voc_palette, ClassList, VocDataset, VOC_CLASSES};
use eader_eval::infer::{collect_images, infer_image, load_image, InferConfig};
use eader_eval::outputs::{file_safe, write_png, write_prediction};
use eader_eval::visuals::{color_labels, heatmap_overlay};
use eader_eval::MapConfig;
use eader_models::AttentionKind;
use eader_train::TrainConfig;
use rayon::prelude::*;
use serde::Serialize;

use crate::common::{progress_bar, ComputeArgs};
use crate::localizer::LocalizerArgs;

/// Options of `eader infer`.
#[derive(Debug, Clone, Default, Args)]
pub struct InferArgs {
    /// Images or folders of images (.jpg, .jpeg, .png)
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The localizer: a checkpoint, or an architecture and a weights file.
    #[command(flatten)]
    pub localizer: LocalizerArgs,
    /// Folder for predictions.json and the PNGs
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Write into an existing output folder
    #[arg(long)]
    pub overwrite: bool,
    /// A class gets a map when its probability exceeds this
    #[arg(long, value_name = "P", default_value_t = 0.5)]
    pub min_prob: f32,
    /// Segmentation-map threshold [default: the run's, 0.3]
    #[arg(long, value_name = "T")]
    pub threshold: Option<f32>,
    /// Scales of the attention maps, e.g. 1,0.5,1.5,2
    #[arg(long, value_delimiter = ',', value_name = "LIST", default_value = "1")]
    pub scales: Vec<f64>,
    /// Average the maps of the mirrored image too
    #[arg(long)]
    pub flip: bool,
    /// gcam or cam [default: the run's]
    #[arg(long, value_name = "TYPE")]
    pub attention_type: Option<AttentionKind>,
    /// Class names, one per line [default: the run's dataset's, the demo's or VOC's]
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// Device and CPU threads.
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// One image in `predictions.json`.
#[derive(Debug, Serialize)]
struct Record {
    image: String,
    path: String,
    width: usize,
    height: usize,
    probabilities: HashMap<String, f32>,
    predicted: Vec<String>,
    segmentation: String,
    maps: Vec<String>,
}

/// Class names for a `k`-class localizer (see `--classes`).
fn class_names(
    args: &InferArgs,
    config: Option<&TrainConfig>,
    k: usize,
) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = if let Some(file) = &args.classes {
        ClassList::from_file(file)?.names().to_vec()
    } else if let Some(root) = config.and_then(|c| c.dataset_root.as_deref()) {
        let split = config.map_or("val", |c| c.val_split.as_str());
        match VocDataset::open(root, split) {
            Ok(ds) => ds.classes().names().to_vec(),
            Err(_) => VOC_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    } else if config.is_some_and(|c| c.is_demo()) {
        DemoConfig::default()
            .class_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        VOC_CLASSES.iter().map(|s| s.to_string()).collect()
    };
    if names.len() == k {
        return Ok(names);
    }
    if args.classes.is_some() {
        bail!("--classes: {} names for a {k}-class localizer", names.len());
    }
    Ok((0..k).map(|c| format!("class{c}")).collect())
}

/// Runs `eader infer`.
pub fn run(args: &InferArgs) -> anyhow::Result<()> {
    args.compute.set_threads()?;
    if !(0.0..=1.0).contains(&args.min_prob) {
        bail!("--min-prob: must lie in [0, 1], got {}", args.min_prob);
    }
    let images = collect_images(&args.inputs)?;
    let mut stems: HashMap<String, &Path> = HashMap::new();
    for path in &images {
        let stem = file_safe(
            &path
                .file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default(),
        );
        if let Some(other) = stems.insert(stem.clone(), path) {
            bail!(
                "{} and {} would write the same files ({stem}.png): rename one",
                other.display(),
                path.display()
            );
        }
    }
    let out = &args.output_dir;
    if out.exists() && !args.overwrite {
        bail!(
            "{} exists: pass --overwrite to write into it, or choose another --output-dir",
            out.display()
        );
    }
    let device = args.compute.device()?;
    let localizer = args.localizer.load(&device)?;
    let (model, config) = (localizer.model, localizer.run.map(|(config, _)| config));
    let names = class_names(args, config.as_ref(), model.num_classes())?;
    let run_cfg = config.clone().unwrap_or_default();
    let cfg = InferConfig {
        min_prob: args.min_prob,
        threshold: args
            .threshold
            .unwrap_or(run_cfg.segmentation_map_threshold as f32),
        maps: MapConfig {
            attention: args.attention_type.unwrap_or(run_cfg.attention_type),
            scales: args.scales.clone(),
            flip: args.flip,
        },
    };
    cfg.maps.validate()?;
    if !(0.0..=1.0).contains(&cfg.threshold) {
        bail!("--threshold: must lie in [0, 1], got {}", cfg.threshold);
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let bar = progress_bar(images.len(), "infer", args.quiet);
    let palette = voc_palette();
    let mut records = Vec::with_capacity(images.len());
    // Decode a few images ahead on all cores; the network runs here.
    let chunk = rayon::current_num_threads().max(1);
    for paths in images.chunks(chunk) {
        let decoded: Vec<_> = paths.par_iter().map(|p| load_image(p)).collect();
        for (path, image) in paths.iter().zip(decoded) {
            let image = image?;
            let r = infer_image(&model, &image, &device, &cfg)?;
            let stem = file_safe(
                &path
                    .file_stem()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
            );
            let seg = out.join(format!("{stem}.png"));
            write_prediction(&seg, r.width, r.height, &r.prediction)?;
            let overlay = out.join(format!("{stem}_segmentation.png"));
            let colours = color_labels(
                &r.prediction,
                r.width as u32,
                r.height as u32,
                &palette,
                Some(&image),
            )?;
            write_png(&colours, &overlay)?;
            let plane = r.width * r.height;
            let mut maps = Vec::new();
            for (i, &c) in r.classes.iter().enumerate() {
                let file = out.join(format!("{stem}_{}_heatmap.png", file_safe(&names[c])));
                let heat = heatmap_overlay(&image, &r.maps[i * plane..(i + 1) * plane])?;
                write_png(&heat, &file)?;
                maps.push(file.display().to_string());
            }
            records.push(Record {
                image: stem,
                path: path.display().to_string(),
                width: r.width,
                height: r.height,
                probabilities: names
                    .iter()
                    .cloned()
                    .zip(r.probabilities.iter().copied())
                    .collect(),
                predicted: r.classes.iter().map(|&c| names[c].clone()).collect(),
                segmentation: seg.display().to_string(),
                maps,
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let json = out.join("predictions.json");
    eader_train::logging::write_json(&json, &records)?;

    let width = records
        .iter()
        .map(|r| r.image.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<width$}  {:>9}  predicted (probability > {})",
        "image", "size", args.min_prob
    );
    for r in &records {
        let mut predicted: Vec<(&String, f32)> = r
            .predicted
            .iter()
            .map(|n| (n, r.probabilities[n]))
            .collect();
        predicted.sort_by(|a, b| b.1.total_cmp(&a.1));
        let text: Vec<String> = predicted
            .iter()
            .map(|(n, p)| format!("{n} {p:.2}"))
            .collect();
        println!(
            "{:<width$}  {:>9}  {}",
            r.image,
            format!("{}x{}", r.width, r.height),
            if text.is_empty() {
                "-".to_owned()
            } else {
                text.join(", ")
            }
        );
    }
    eprintln!(
        "wrote {} and {} images' PNGs to {}",
        json.display(),
        records.len(),
        out.display()
    );
    Ok(())
}
