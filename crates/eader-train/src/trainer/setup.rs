//! Everything a run is set up from, before any step: the resume rules, the
//! networks' initialisation, the dataset root and training split, and the
//! experiment folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use eader_dataset::{demo, ForegroundReport, Loader, LoaderConfig, VocDataset};
use eader_models::weights::{self, LoadMode};
use eader_models::{Architecture, Classifier};

use super::CONFIG_FILE;
use crate::checkpoint::{self, Checkpoint, Role};
use crate::config::{ConfigOverrides, TrainConfig};
use crate::error::{Error, Result};
use crate::logging;

/// Options that a resumed run may change; every other option is the
/// checkpoint's.
pub const RESUMABLE_OPTIONS: [&str; 6] = [
    "epochs",
    "device",
    "threads",
    "log_every",
    "visuals_every",
    "visual_samples",
];

/// One-off actions of a command line, never part of a run's configuration.
pub const ACTIONS: [&str; 2] = ["resume", "overwrite"];

/// The configuration of a resumed run: the checkpoint's, with the options
/// in [`RESUMABLE_OPTIONS`] taken from `explicit` (what the user set). Any
/// other explicit option that differs from the checkpoint's is an error
/// naming it: a resumed run is the same run.
pub fn resume_config(saved: &TrainConfig, explicit: &ConfigOverrides) -> Result<TrainConfig> {
    let saved_entries: HashMap<&str, String> =
        ConfigOverrides::from(saved).entries().into_iter().collect();
    for (key, value) in explicit.entries() {
        if RESUMABLE_OPTIONS.contains(&key) || ACTIONS.contains(&key) {
            continue;
        }
        let before = saved_entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| "(none)".to_owned());
        if before != value {
            return Err(Error::option(
                "resume",
                format!(
                    "--{} is {value} but the checkpoint's run used {before}; a resumed run keeps \
                     its configuration (only {} may change)",
                    key.replace('_', "-"),
                    RESUMABLE_OPTIONS
                        .iter()
                        .map(|k| format!("--{}", k.replace('_', "-")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let mut config = saved.clone();
    explicit.retain(&RESUMABLE_OPTIONS).apply_to(&mut config);
    if let Some(resume) = &explicit.resume {
        config.resume = resume.clone();
    }
    config.validate()?;
    Ok(config)
}

/// A network of `arch` with `num_classes` outputs on `device`, initialised
/// as torchvision does from `seed`.
pub(crate) fn seeded_network(
    arch: Architecture,
    num_classes: usize,
    device: &Device,
    seed: u64,
) -> Result<Classifier> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Classifier::new(arch, num_classes, vb)?;
    model.init_seeded(seed)?;
    Ok(model)
}

/// A fresh network of `arch` with `num_classes` outputs on `device`:
/// random (seeded), or from a local safetensors file (its head replaced).
pub(super) fn build_network(
    arch: Architecture,
    num_classes: usize,
    device: &Device,
    seed: u64,
    from_scratch: bool,
    weights_file: Option<&Path>,
    option: &'static str,
) -> Result<Classifier> {
    let model = seeded_network(arch, num_classes, device, seed)?;
    if from_scratch {
        return Ok(model);
    }
    let path = match weights_file {
        Some(path) => path.to_owned(),
        None => pretrained_path(arch, option)?,
    };
    weights::load(&model, &path, LoadMode::ReplaceHead)?;
    Ok(model)
}

#[cfg(feature = "hub")]
fn pretrained_path(arch: Architecture, _option: &'static str) -> Result<PathBuf> {
    Ok(eader_models::hub::fetch(
        arch,
        &eader_models::hub::HubOptions::from_env(),
    )?)
}

#[cfg(not(feature = "hub"))]
fn pretrained_path(arch: Architecture, option: &'static str) -> Result<PathBuf> {
    let (weights, scratch) = match option {
        "adversarial-model" => ("--weights-adversarial", "--adversarial-from-scratch"),
        _ => ("--weights-localizer", "--localizer-from-scratch"),
    };
    Err(Error::option(
        option,
        format!(
            "{arch} starts from ImageNet weights, which this build cannot download: pass \
             {weights} FILE (torchvision names, safetensors), rebuild with --features hub, \
             or train with {scratch}"
        ),
    ))
}

/// The dataset root of `config`: its `dataset_root`, or the demo dataset
/// (generated into [`demo::cache_dir`] on first use).
pub fn dataset_root(config: &TrainConfig) -> Result<PathBuf> {
    Ok(demo::root_or_demo(
        config.dataset_root.as_deref(),
        &demo::cache_dir(),
    )?)
}

/// The training split: `config.split`, else `train_aug` when the dataset has
/// it, else `train`.
pub(super) fn training_split(config: &TrainConfig, root: &Path) -> String {
    if let Some(split) = &config.split {
        return split.clone();
    }
    let has_aug = eader_dataset::has_split(root, "train_aug");
    if has_aug { "train_aug" } else { "train" }.to_owned()
}

/// An experiment folder holds one of these when a run wrote into it.
fn is_experiment(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file()
        || dir.join(logging::METRICS_FILE).is_file()
        || checkpoint::resolve(dir).is_ok()
}

/// Chooses (and creates) the experiment folder of a new run.
pub(super) fn new_experiment_dir(config: &mut TrainConfig) -> Result<PathBuf> {
    let out = &config.output_dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let dir = match &config.experiment_name {
        Some(name) => {
            let dir = out.join(name);
            if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
                if !config.overwrite {
                    return Err(Error::option(
                        "experiment-name",
                        format!(
                            "{} already exists; choose another --experiment-name, continue it \
                             with --resume {}, or replace it with --overwrite",
                            dir.display(),
                            dir.display()
                        ),
                    ));
                }
                if !is_experiment(&dir) {
                    return Err(Error::option(
                        "overwrite",
                        format!(
                            "{} is not an eader experiment folder; refusing to delete it",
                            dir.display()
                        ),
                    ));
                }
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            dir
        }
        None => {
            let prefix = if config.is_demo() { "demo" } else { "run" };
            let free = (1..)
                .map(|n| format!("{prefix}-{n}"))
                .find(|name| !out.join(name).exists())
                .unwrap_or_else(|| format!("{prefix}-0"));
            config.experiment_name = Some(free.clone());
            out.join(free)
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Fails unless the resumed checkpoint's networks are the ones `config` asks for.
pub(super) fn check_same_networks(ckpt: &Checkpoint, config: &TrainConfig) -> Result<()> {
    let saved = &ckpt.state.config;
    let name = |a: Option<Architecture>| a.map_or("(none)".to_owned(), |a| a.to_string());
    for (option, a, b) in [
        (
            "localizer-model",
            Some(saved.localizer_model),
            Some(config.localizer_model),
        ),
        (
            "adversarial-model",
            saved.adversarial_model,
            config.adversarial_model,
        ),
    ] {
        if a != b {
            return Err(Error::checkpoint(
                &ckpt.path,
                format!(
                    "was written by a run with --{option} {:?}, not {:?}",
                    name(a),
                    name(b)
                ),
            ));
        }
    }
    Ok(())
}

/// The training loader and the validation split of a run.
pub(super) struct Splits {
    /// Training batches (images with a foreground class).
    pub train: Loader,
    /// The validation split (scored at original size).
    pub val: VocDataset,
    /// Training images left out for having no foreground class.
    pub foreground: ForegroundReport,
}

/// Opens and checks the run's splits (filling in `config.split`), with the
/// training loader seeded by `seed`.
pub(super) fn open_splits(config: &mut TrainConfig, seed: u64, device: &Device) -> Result<Splits> {
    let root = dataset_root(config)?;
    let split = training_split(config, &root);
    config.split = Some(split.clone());
    let (train_set, foreground) = VocDataset::open(&root, &split)?.for_training()?;
    let val_set = VocDataset::open(&root, &config.val_split)?;
    if train_set.classes().len() != val_set.classes().len() {
        return Err(Error::option(
            "val-split",
            format!(
                "{} has {} classes but {} has {}",
                split,
                train_set.classes().len(),
                config.val_split,
                val_set.classes().len()
            ),
        ));
    }
    let size = u32::try_from(config.img_resolution)
        .map_err(|_| Error::option("img-resolution", "too large"))?;
    let threads = config.threads.unwrap_or(0);
    let mut train_cfg = LoaderConfig::train(size, config.batch_size, seed);
    train_cfg.threads = threads;
    let train = Loader::new(train_set, train_cfg, device)?;
    if train.is_empty() {
        return Err(Error::option(
            "batch-size",
            format!(
                "the {split} split has {} images with a foreground class, fewer than one \
                 batch of {}",
                train.dataset().len(),
                config.batch_size
            ),
        ));
    }
    if val_set.is_empty() {
        return Err(Error::option(
            "val-split",
            format!("the {} split has no images", config.val_split),
        ));
    }
    Ok(Splits {
        train,
        val: val_set,
        foreground,
    })
}

/// Loads the localizer (and, with `init_adversarial`, the adversarial) of the
/// run `run` designates into the fresh networks: the warm start of
/// `--init-from`. The run must have used the same architectures; the
/// networks' shapes (classes) must match (strict loading names the tensor).
pub(super) fn warm_start(
    run: &Path,
    config: &TrainConfig,
    localizer: &Classifier,
    adversarial: Option<&Classifier>,
    device: &Device,
) -> Result<()> {
    let ckpt = checkpoint::load(run, device)?;
    let name = |a: Option<Architecture>| a.map_or("(none)".to_owned(), |a| a.to_string());
    let mut targets = vec![(Role::Localizer, "localizer", localizer)];
    if config.init_adversarial {
        if let Some(adv) = adversarial {
            targets.push((Role::Adversarial, "adversarial", adv));
        }
    }
    for (role, what, model) in targets {
        let theirs = ckpt.architecture(role);
        if theirs != Some(model.arch()) {
            return Err(Error::option(
                "init-from",
                format!(
                    "{} has {what} {}, this run's is {}",
                    ckpt.path.display(),
                    name(theirs),
                    model.arch()
                ),
            ));
        }
        ckpt.restore(role, model, None)?;
    }
    Ok(())
}
