//! `eader train`: arguments, merged with a config file and the demo preset into
//! one validated [`TrainConfig`] before any work starts.

use std::path::PathBuf;

use std::process::ExitCode;

use clap::Args;
use eader_models::{Architecture, AttentionKind};
use eader_train::{ConfigOverrides, DeviceChoice, OptimizerKind, Outcome, TrainConfig, Trainer};

use crate::progress::Progress;

/// Options of `eader train` (the reference's arguments, kebab-case). Every option
/// left out takes its value from `--config`, then the demo preset (when no
/// `--dataset-root` is given), then the reference's default.
#[derive(Debug, Clone, Default, Args)]
pub struct TrainArgs {
    /// TOML file with any of these options (snake_case keys); command-line options win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration and exit without training.
    #[arg(long)]
    pub dry_run: bool,
    /// Experiment folder name under --output-dir [default: first free demo-N / run-N]
    #[arg(long)]
    pub experiment_name: Option<String>,
    /// Folder holding experiment folders [default: results]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Write into an existing experiment folder (replacing its run) without --resume
    #[arg(long)]
    pub overwrite: bool,
    /// Resume from a checkpoint folder, its state.json, or an experiment folder
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Weight of the attention-mining loss [default: 0.05]
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Seed of data order, augmentation and initialisation [default: random, recorded]
    #[arg(long)]
    pub seed: Option<u64>,

    /// The options a study shares with a single run.
    #[command(flatten)]
    pub run: RunOptions,
}

/// The options of a training run that `eader train` and `eader study` share:
/// everything but the run's name, folder, alpha, seed and one-off actions.
#[derive(Debug, Clone, Default, Args)]
pub struct RunOptions {
    /// Dataset root (VOCdevkit/VOC2012, VOC2012 or any folder in VOC layout)
    /// [default: the generated demo dataset, with the demo preset]
    #[arg(long, value_name = "DIR")]
    pub dataset_root: Option<PathBuf>,
    /// Training split [default: train_aug when present, else train]
    #[arg(long)]
    pub split: Option<String>,
    /// Validation split [default: val]
    #[arg(long)]
    pub val_split: Option<String>,
    /// Localizer architecture [default: resnet101]
    #[arg(long, value_name = "ARCH")]
    pub localizer_model: Option<Architecture>,
    /// Train the localizer from random initialisation instead of ImageNet weights
    #[arg(long)]
    pub localizer_from_scratch: bool,
    /// Local safetensors with the localizer's initial weights (torchvision names)
    #[arg(long, value_name = "FILE")]
    pub weights_localizer: Option<PathBuf>,
    /// Warm start: the localizer starts from this earlier run's (an experiment or
    /// checkpoint folder; same architecture and classes; fresh optimizer)
    #[arg(long, value_name = "RUN")]
    pub init_from: Option<PathBuf>,
    /// With --init-from: the adversarial starts from that run's adversarial too
    #[arg(long, requires = "init_from")]
    pub init_adversarial: bool,
    /// Adversarial architecture (resnet18, resnet101, any localizer architecture)
    /// [default: none]
    #[arg(long, value_name = "ARCH")]
    pub adversarial_model: Option<Architecture>,
    /// Train the adversarial from random initialisation instead of ImageNet weights
    #[arg(long)]
    pub adversarial_from_scratch: bool,
    /// Local safetensors with the adversarial's initial weights (torchvision names)
    #[arg(long, value_name = "FILE")]
    pub weights_adversarial: Option<PathBuf>,
    /// No adversarial network: the localizer classifies the erased images itself
    #[arg(long)]
    pub share_weights: bool,
    /// Epochs [default: 10]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch [default: 16]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Side of the square training crops [default: 448]
    #[arg(long, value_name = "PIXELS")]
    pub img_resolution: Option<usize>,
    /// Localizer learning rate [default: 0.01]
    #[arg(long, value_name = "LR")]
    pub learning_rate: Option<f64>,
    /// Adversarial learning rate [default: 0.01]
    #[arg(long, value_name = "LR")]
    pub adversarial_learning_rate: Option<f64>,
    /// Localizer optimizer: sgd (momentum 0.9, weight decay 1e-4), adam (betas 0.5,
    /// 0.999) or rmsprop (PyTorch's defaults) [default: sgd]
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<OptimizerKind>,
    /// Adversarial optimizer: sgd, adam or rmsprop [default: sgd]
    #[arg(long, value_name = "NAME")]
    pub adversarial_optimizer: Option<OptimizerKind>,
    /// Weight of the area regularization [default: 1e-5]
    #[arg(long)]
    pub beta: Option<f64>,
    /// Steepness of the soft mask sigmoid(omega (g - sigma)) [default: 100]
    #[arg(long)]
    pub omega: Option<f64>,
    /// Threshold of the soft mask [default: 0.5]
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Threshold on normalised maps for segmentation maps [default: 0.3]
    #[arg(long, value_name = "T")]
    pub segmentation_map_threshold: Option<f64>,
    /// Consecutive localizer steps L [default: 200]
    #[arg(long, value_name = "STEPS")]
    pub train_steps_localizer: Option<u64>,
    /// Consecutive adversarial steps A [default: 200]
    #[arg(long, value_name = "STEPS")]
    pub train_steps_adversarial: Option<u64>,
    /// Attention maps: gcam or cam [default: gcam]
    #[arg(long, value_name = "TYPE")]
    pub attention_type: Option<AttentionKind>,
    /// auto, cpu, cuda or cuda:N [default: auto: cuda when built with it and present]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// CPU threads for tensor kernels and data loading [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Log a step record every N steps [default: 10]
    #[arg(long, value_name = "N")]
    pub log_every: Option<usize>,
    /// Write visual samples every N epochs, 0 never [default: 3]
    #[arg(long, value_name = "N")]
    pub visuals_every: Option<usize>,
    /// Validation images with visual samples [default: 8]
    #[arg(long, value_name = "N")]
    pub visual_samples: Option<usize>,
}

impl TrainArgs {
    /// The options given on the command line, as overrides.
    pub fn overrides(&self) -> ConfigOverrides {
        let flag = |set: bool| set.then_some(true);
        ConfigOverrides {
            experiment_name: self.experiment_name.clone().map(Some),
            output_dir: self.output_dir.clone(),
            overwrite: flag(self.overwrite),
            resume: self.resume.clone().map(Some),
            alpha: self.alpha,
            seed: self.seed.map(Some),
            ..self.run.overrides()
        }
    }
}

impl RunOptions {
    /// The options given on the command line, as overrides.
    pub fn overrides(&self) -> ConfigOverrides {
        let flag = |set: bool| set.then_some(true);
        ConfigOverrides {
            dataset_root: self.dataset_root.clone().map(Some),
            split: self.split.clone().map(Some),
            val_split: self.val_split.clone(),
            localizer_model: self.localizer_model,
            localizer_from_scratch: flag(self.localizer_from_scratch),
            adversarial_model: self.adversarial_model.map(Some),
            adversarial_from_scratch: flag(self.adversarial_from_scratch),
            share_weights: flag(self.share_weights),
            epochs: self.epochs,
            batch_size: self.batch_size,
            img_resolution: self.img_resolution,
            learning_rate: self.learning_rate,
            adversarial_learning_rate: self.adversarial_learning_rate,
            optimizer: self.optimizer,
            adversarial_optimizer: self.adversarial_optimizer,
            beta: self.beta,
            omega: self.omega,
            sigma: self.sigma,
            segmentation_map_threshold: self.segmentation_map_threshold,
            train_steps_localizer: self.train_steps_localizer,
            train_steps_adversarial: self.train_steps_adversarial,
            attention_type: self.attention_type,
            device: self.device,
            threads: self.threads.map(Some),
            weights_localizer: self.weights_localizer.clone().map(Some),
            init_from: self.init_from.clone().map(Some),
            init_adversarial: flag(self.init_adversarial),
            weights_adversarial: self.weights_adversarial.clone().map(Some),
            log_every: self.log_every,
            visuals_every: self.visuals_every,
            visual_samples: self.visual_samples,
            ..ConfigOverrides::default()
        }
    }
}

/// The effective configuration and, for a demo run, the preset that was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// Validated configuration of the run.
    pub config: TrainConfig,
    /// The demo preset's entries that took effect (empty for a real dataset).
    pub demo_preset: Vec<(&'static str, String)>,
}

/// Merges defaults < demo preset < config file < command line and validates.
pub fn resolve(args: &TrainArgs) -> anyhow::Result<ResolvedConfig> {
    let file = match &args.config {
        Some(path) => TrainConfig::load_overrides(path)?,
        None => ConfigOverrides::default(),
    };
    let explicit = file.merged_with(&args.overrides());
    if let Some(Some(path)) = &explicit.resume {
        let (_, state) = eader_train::checkpoint::read_state(path)?;
        let config = eader_train::trainer::resume_config(&state.config, &explicit)?;
        return Ok(ResolvedConfig {
            config,
            demo_preset: Vec::new(),
        });
    }
    resolve_new(&explicit)
}

/// The configuration of a new run from `explicit` options (a config file
/// merged with the command line): defaults < demo preset (when no dataset
/// root is set) < `explicit`, validated.
pub fn resolve_new(explicit: &ConfigOverrides) -> anyhow::Result<ResolvedConfig> {
    let mut config = TrainConfig::default();
    let demo = matches!(explicit.dataset_root, None | Some(None));
    let mut demo_preset = Vec::new();
    if demo {
        let preset = TrainConfig::demo_preset();
        preset.apply_to(&mut config);
        // Report the preset entries that differ from the reference's defaults
        // and that nothing explicit replaced.
        let explicit_keys: Vec<&str> = explicit.entries().into_iter().map(|(k, _)| k).collect();
        let defaults = ConfigOverrides::from(&TrainConfig::default()).entries();
        demo_preset = preset
            .entries()
            .into_iter()
            .filter(|(k, _)| !explicit_keys.contains(k))
            .filter(|entry| !defaults.contains(entry))
            .collect();
    }
    explicit.apply_to(&mut config);
    config.validate()?;
    Ok(ResolvedConfig {
        config,
        demo_preset,
    })
}

impl ResolvedConfig {
    /// Prints the demo preset's entries that took effect (nothing for a real dataset).
    pub fn print_preset(&self, what: &str) {
        if !self.demo_preset.is_empty() {
            eprintln!(
                "{what} (no --dataset-root): preset differing from the reference's defaults:"
            );
            for (key, value) in &self.demo_preset {
                eprintln!("  {key} = {value}");
            }
        }
    }
}

/// Runs `eader train`: resolves the configuration, prints the demo preset,
/// trains, and prints the final validation table next to the all-background
/// baseline. Returns the process exit code.
pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let resolved = resolve(args)?;
    resolved.print_preset("demo run");
    if args.dry_run {
        print!("{}", resolved.config.to_toml()?);
        return Ok(ExitCode::SUCCESS);
    }
    let config = resolved.config;
    crate::common::set_threads(config.threads)?;
    let device = eader_train::device::resolve(config.device)?;
    let stop = crate::interrupt::stop_flag()?;
    let (outcome, dir) = train(config, device, stop)?;
    match outcome {
        Outcome::Finished(summary) => {
            println!("{}", summary.final_metrics.table());
            println!(
                "validation mIoU {:.2}% (all-background baseline {:.2}%), best {:.2}% at epoch {}",
                100.0 * summary.final_metrics.miou,
                100.0 * summary.baseline_metrics.miou,
                100.0 * summary.best_val_miou,
                summary.best_epoch
            );
            println!(
                "{} epochs, {} steps ({} localizer / {} adversarial updates), {:.1} img/s; results in {}",
                summary.epochs,
                summary.global_step,
                summary.localizer_updates,
                summary.adversarial_updates,
                summary.images_per_s,
                summary.experiment_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Stopped {
            checkpoint,
            epoch,
            global_step,
        } => {
            eprintln!(
                "stopped after step {global_step} (epoch {}); checkpoint {}\ncontinue with: eader train --resume {}",
                epoch + 1,
                checkpoint.display(),
                dir.display()
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// Prepares and runs one training run of `config` on `device` (threads
/// already set), printing its header and progress to stderr; returns how it
/// ended and its experiment folder.
pub fn train(
    config: TrainConfig,
    device: candle::Device,
    stop: eader_train::StopFlag,
) -> anyhow::Result<(Outcome, PathBuf)> {
    let mut progress = Progress::new(config.log_every);
    if config.is_demo() {
        eprintln!(
            "preparing the demo dataset in {} (generated once)",
            eader_dataset::demo::cache_dir().display()
        );
    }
    let mut trainer = Trainer::new(config, device, stop, &mut progress)?;
    let c = trainer.config();
    let (n_train, n_val) = trainer.split_sizes();
    let report = trainer.foreground_report();
    eprintln!(
        "experiment {} | {} images in {} ({} batches of {} per epoch), {} in {}{}",
        trainer.experiment_dir().display(),
        n_train,
        c.split.as_deref().unwrap_or("train"),
        trainer.batches_per_epoch(),
        c.batch_size,
        n_val,
        c.val_split,
        if report.removed > 0 {
            format!(" | {report}")
        } else {
            String::new()
        }
    );
    let from_scratch = |yes: bool| if yes { " (from scratch)" } else { "" };
    eprintln!(
        "localizer {}{} | {} | {} x{} px | alpha {} | seed {} | device {}",
        c.localizer_model,
        from_scratch(c.localizer_from_scratch),
        match (&c.adversarial_model, c.share_weights) {
            (Some(adv), _) => format!(
                "adversarial {adv}{}",
                from_scratch(c.adversarial_from_scratch)
            ),
            (None, true) => "shared weights".to_owned(),
            (None, false) => "no adversarial".to_owned(),
        },
        c.epochs,
        c.img_resolution,
        c.alpha,
        c.seed.unwrap_or_default(),
        eader_train::device::describe(trainer.device()),
    );
    let dir = trainer.experiment_dir().to_path_buf();
    let outcome = trainer.run(&mut progress).map_err(|e| {
        let checkpoint = dir.join(eader_train::checkpoint::CHECKPOINT_DIR);
        if checkpoint.exists() {
            anyhow::anyhow!("{e}\nthe last good checkpoint is {}", checkpoint.display())
        } else {
            anyhow::anyhow!("{e}")
        }
    })?;
    Ok((outcome, dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> anyhow::Result<ResolvedConfig> {
        let mut full = vec!["eader", "train"];
        full.extend_from_slice(args);
        let cli = Cli::try_parse_from(full)?;
        match cli.command {
            crate::Command::Train(a) => resolve(&a),
            #[allow(unreachable_patterns)]
            _ => unreachable!(),
        }
    }

    #[test]
    fn no_arguments_is_the_demo_preset() {
        let r = parse(&[]).unwrap();
        assert!(r.config.is_demo());
        assert!(!r.demo_preset.is_empty());
        let mut expected = TrainConfig::default();
        TrainConfig::demo_preset().apply_to(&mut expected);
        assert_eq!(r.config, expected);
    }

    #[test]
    fn real_dataset_uses_reference_defaults() {
        let r = parse(&["--dataset-root", "/data/VOC2012"]).unwrap();
        assert!(r.demo_preset.is_empty());
        let expected = TrainConfig {
            dataset_root: Some("/data/VOC2012".into()),
            ..TrainConfig::default()
        };
        assert_eq!(r.config, expected);
    }

    #[test]
    fn every_option_parses() {
        let r = parse(&[
            "--dataset-root",
            "d",
            "--split",
            "train",
            "--val-split",
            "val",
            "--experiment-name",
            "x",
            "--output-dir",
            "o",
            "--overwrite",
            "--localizer-model",
            "resnet50",
            "--localizer-from-scratch",
            "--adversarial-model",
            "resnet18",
            "--adversarial-from-scratch",
            "--epochs",
            "3",
            "--batch-size",
            "4",
            "--img-resolution",
            "64",
            "--learning-rate",
            "0.1",
            "--adversarial-learning-rate",
            "0.2",
            "--optimizer",
            "adam",
            "--adversarial-optimizer",
            "rmsprop",
            "--alpha",
            "0.5",
            "--beta",
            "0.001",
            "--omega",
            "50",
            "--sigma",
            "0.4",
            "--segmentation-map-threshold",
            "0.25",
            "--train-steps-localizer",
            "3",
            "--train-steps-adversarial",
            "2",
            "--attention-type",
            "cam",
            "--seed",
            "7",
            "--device",
            "cpu",
            "--threads",
            "2",
            "--log-every",
            "1",
            "--visuals-every",
            "0",
            "--visual-samples",
            "2",
        ])
        .unwrap();
        let c = r.config;
        assert_eq!(c.localizer_model, Architecture::Resnet50);
        assert!(c.localizer_from_scratch && c.adversarial_from_scratch && c.overwrite);
        assert_eq!(c.adversarial_model, Some(Architecture::Resnet18));
        assert_eq!((c.epochs, c.batch_size, c.img_resolution), (3, 4, 64));
        assert_eq!((c.learning_rate, c.adversarial_learning_rate), (0.1, 0.2));
        assert_eq!(
            (c.optimizer, c.adversarial_optimizer),
            (OptimizerKind::Adam, OptimizerKind::Rmsprop)
        );
        assert_eq!((c.alpha, c.beta, c.omega, c.sigma), (0.5, 0.001, 50.0, 0.4));
        assert_eq!(c.segmentation_map_threshold, 0.25);
        assert_eq!((c.train_steps_localizer, c.train_steps_adversarial), (3, 2));
        assert_eq!(c.attention_type, AttentionKind::Cam);
        assert_eq!(
            (c.seed, c.device, c.threads),
            (Some(7), DeviceChoice::Cpu, Some(2))
        );
        assert_eq!((c.log_every, c.visuals_every, c.visual_samples), (1, 0, 2));
        assert_eq!(c.resume, None);
        // --resume reads the checkpoint's configuration first.
        let e = format!("{:#}", parse(&["--resume", "results/nosuch"]).unwrap_err());
        assert!(e.contains("results/nosuch: no such file or folder"), "{e}");
    }

    #[test]
    fn bad_input_gives_one_clear_message() {
        let err = |args: &[&str]| format!("{:#}", parse(args).unwrap_err());
        let e = err(&["--share-weights", "--adversarial-model", "resnet18"]);
        assert!(
            e.contains("--share-weights: cannot be combined with --adversarial-model"),
            "{e}"
        );
        let e = err(&["--localizer-model", "resnet19"]);
        assert!(e.contains("unknown architecture `resnet19`"), "{e}");
        // Names the models crate rejects are rejected here too (not only by the real run).
        let e = err(&["--localizer-model", "resnet101_largefov"]);
        assert!(
            e.contains("unknown architecture `resnet101_largefov`"),
            "{e}"
        );
        let e = err(&["--optimizer", "adagrad"]);
        assert!(
            e.contains("adagrad") && e.contains("sgd, adam, rmsprop"),
            "{e}"
        );
        let e = err(&["--attention-type", "gradkam"]);
        assert!(e.contains("gradkam"), "{e}");
        let e = err(&["--device", "tpu"]);
        assert!(e.contains("tpu"), "{e}");
        let e = err(&["--epochs=-1"]);
        assert!(e.contains("'-1'") && e.contains("--epochs"), "{e}");
        let e = err(&["--epochs", "0"]);
        assert!(e.contains("--epochs: must be at least 1"), "{e}");
        let e = err(&["--config", "/nonexistent/run.toml"]);
        assert!(e.contains("/nonexistent/run.toml"), "{e}");
    }

    #[test]
    fn config_file_then_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, "dataset_root = \"/v\"\nepochs = 4\nalpha = 0.2\n").unwrap();
        let p = path.to_str().unwrap();
        let r = parse(&["--config", p, "--epochs", "6"]).unwrap();
        assert_eq!((r.config.epochs, r.config.alpha), (6, 0.2));
        assert_eq!(r.config.dataset_root, Some("/v".into()));
        assert!(r.demo_preset.is_empty());
        // The saved effective config repeats the run exactly.
        let saved = dir.path().join("config.toml");
        r.config.save(&saved).unwrap();
        let again = parse(&["--config", saved.to_str().unwrap()]).unwrap();
        assert_eq!(again.config, r.config);
        // A demo run's saved config too.
        let demo = parse(&["--epochs", "2"]).unwrap();
        demo.config.save(&saved).unwrap();
        let again = parse(&["--config", saved.to_str().unwrap()]).unwrap();
        assert_eq!(again.config, demo.config);
    }
}
