//! The run's configuration: every option of `eader train`, with the reference's defaults.
//!
//! [`TrainConfig`] is the complete, effective configuration (saved as
//! `config.toml` in the experiment folder and inside each checkpoint).
//! [`ConfigOverrides`] has the same fields, each optional: a config file
//! (`--config run.toml`), the command line and the demo preset are overrides,
//! merged in that order of increasing precedence: defaults < demo preset <
//! file < command line. Field names are the reference's argument names
//! (snake_case in files, kebab-case on the command line).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use eader_models::{Architecture, AttentionKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::OptimizerKind;

/// Where tensors live: `auto` (CUDA when built with it and present, else CPU), `cpu`,
/// `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device `N`.
    Cuda(usize),
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("unknown device {s:?}, expected auto, cpu, cuda or cuda:N");
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Self::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        s.parse()
    }
}

/// Declares [`TrainConfig`], its defaults and [`ConfigOverrides`] from one field list.
macro_rules! config_fields {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, )*) => {
        /// The complete configuration of a training run.
        ///
        /// Defaults are the reference implementation's (`train.py`); fields are
        /// its argument names. Optional fields absent from a file mean "not set".
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct TrainConfig {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for TrainConfig {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        /// A partial configuration: every field of [`TrainConfig`], each optional.
        ///
        /// Parsed from config files (unknown keys are errors) and built by the CLI.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct ConfigOverrides {
            $( $(#[doc = $doc])* #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }

        impl ConfigOverrides {
            /// Writes every set field into `config`.
            pub fn apply_to(&self, config: &mut TrainConfig) {
                $( if let Some(value) = &self.$field { config.$field = value.clone(); } )*
            }

            /// `self` with the fields set in `higher` replaced by `higher`'s values.
            pub fn merged_with(mut self, higher: &ConfigOverrides) -> ConfigOverrides {
                $( if higher.$field.is_some() { self.$field = higher.$field.clone(); } )*
                self
            }

            /// Only the fields named in `names` (snake_case), the others unset.
            pub fn retain(&self, names: &[&str]) -> ConfigOverrides {
                let mut out = ConfigOverrides::default();
                $( if names.contains(&stringify!($field)) { out.$field = self.$field.clone(); } )*
                out
            }

            /// The set fields as `(name, value)` pairs (names snake_case, values as in TOML).
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Some(value) = &self.$field {
                    out.push((stringify!($field), display_value(value)));
                } )*
                out
            }
        }

        impl From<&TrainConfig> for ConfigOverrides {
            fn from(config: &TrainConfig) -> Self {
                Self { $( $field: Some(config.$field.clone()), )* }
            }
        }
    };
}

/// A value as it reads in TOML (strings quoted), for printing presets.
fn display_value<T: Serialize>(value: &T) -> String {
    #[derive(Serialize)]
    struct Wrap<'a, T: Serialize> {
        v: &'a T,
    }
    toml::to_string(&Wrap { v: value })
        .ok()
        .and_then(|s| s.trim().strip_prefix("v = ").map(str::to_owned))
        .unwrap_or_else(|| "(none)".to_owned())
}

config_fields! {
    /// Dataset root (a folder holding `VOCdevkit/VOC2012`, `VOC2012` itself, or any
    /// folder in VOC layout). Not set: the generated demo dataset.
    dataset_root: Option<PathBuf> = None,
    /// Training split: `train_aug` when the dataset has it, else `train`.
    split: Option<String> = None,
    /// Validation split.
    val_split: String = "val".to_owned(),
    /// Name of the experiment folder under `output_dir`. Not set: the first free
    /// `<demo|run>-N`.
    experiment_name: Option<String> = None,
    /// Folder holding the experiment folders.
    output_dir: PathBuf = PathBuf::from("results"),
    /// Localizer architecture.
    localizer_model: Architecture = Architecture::Resnet101,
    /// Train the localizer from random initialisation instead of ImageNet weights.
    localizer_from_scratch: bool = false,
    /// Adversarial architecture; not set: no adversarial network.
    adversarial_model: Option<Architecture> = None,
    /// Train the adversarial from random initialisation instead of ImageNet weights.
    adversarial_from_scratch: bool = false,
    /// The localizer classifies the erased images itself (no second network).
    share_weights: bool = false,
    /// Number of epochs.
    epochs: usize = 10,
    /// Images per batch.
    batch_size: usize = 16,
    /// Side of the square training crops.
    img_resolution: usize = 448,
    /// Localizer learning rate.
    learning_rate: f64 = 0.01,
    /// Adversarial learning rate.
    adversarial_learning_rate: f64 = 0.01,
    /// Localizer optimizer.
    optimizer: OptimizerKind = OptimizerKind::Sgd,
    /// Adversarial optimizer.
    adversarial_optimizer: OptimizerKind = OptimizerKind::Sgd,
    /// Weight of the attention-mining loss.
    alpha: f64 = 0.05,
    /// Weight of the area regularization.
    beta: f64 = 1e-5,
    /// Steepness of the soft mask.
    omega: f64 = 100.0,
    /// Threshold of the soft mask.
    sigma: f64 = 0.5,
    /// Threshold on normalised maps when building segmentation maps.
    segmentation_map_threshold: f64 = 0.3,
    /// `L`: consecutive localizer steps.
    train_steps_localizer: u64 = 200,
    /// `A`: consecutive adversarial steps.
    train_steps_adversarial: u64 = 200,
    /// Attention maps: `gcam` or `cam`.
    attention_type: AttentionKind = AttentionKind::GradCam,
    /// Seed of data order, augmentation and initialisation. Not set: drawn at
    /// random and recorded in the effective config.
    seed: Option<u64> = None,
    /// Checkpoint (or experiment folder) to resume from.
    resume: Option<PathBuf> = None,
    /// Allow writing into an existing experiment folder without resuming.
    overwrite: bool = false,
    /// Device: auto, cpu, cuda or cuda:N.
    device: DeviceChoice = DeviceChoice::Auto,
    /// Worker threads for the CPU (tensor kernels and data loading). Not set: all cores.
    threads: Option<usize> = None,
    /// A previous run (experiment or checkpoint folder) whose localizer starts
    /// this run (a warm start; same architecture and classes, fresh optimizer).
    /// Takes the place of ImageNet or random initialisation.
    init_from: Option<PathBuf> = None,
    /// With `init_from`: also start the adversarial from that run's adversarial.
    init_adversarial: bool = false,
    /// Local safetensors with the localizer's initial weights (instead of the hub).
    weights_localizer: Option<PathBuf> = None,
    /// Local safetensors with the adversarial's initial weights (instead of the hub).
    weights_adversarial: Option<PathBuf> = None,
    /// Log a step record every this many steps.
    log_every: usize = 10,
    /// Write visual samples every this many epochs (the reference: 3); 0 never.
    visuals_every: usize = 3,
    /// Validation images whose visual samples are written.
    visual_samples: usize = 8,
}

impl TrainConfig {
    /// What `eader train` without `--dataset-root` changes from the reference's
    /// defaults, so that training from scratch on the demo dataset learns within
    /// a few minutes on a 2-core CPU (no ImageNet weights: the demo must run
    /// offline). Printed by the CLI before a demo run.
    pub fn demo_preset() -> ConfigOverrides {
        ConfigOverrides {
            localizer_model: Some(Architecture::Resnet18),
            localizer_from_scratch: Some(true),
            epochs: Some(8),
            batch_size: Some(16),
            img_resolution: Some(96),
            optimizer: Some(OptimizerKind::Adam),
            learning_rate: Some(1e-3),
            adversarial_optimizer: Some(OptimizerKind::Adam),
            adversarial_learning_rate: Some(1e-3),
            train_steps_localizer: Some(20),
            train_steps_adversarial: Some(20),
            log_every: Some(5),
            visuals_every: Some(4),
            ..ConfigOverrides::default()
        }
    }

    /// The loss weights and mask parameters of this run's step.
    pub fn step_config(&self) -> crate::step::StepConfig {
        crate::step::StepConfig {
            alpha: self.alpha,
            beta: self.beta,
            omega: self.omega,
            sigma: self.sigma,
            attention: self.attention_type,
        }
    }

    /// Whether the run uses the generated demo dataset.
    pub fn is_demo(&self) -> bool {
        self.dataset_root.is_none()
    }

    /// Checks every option alone and in combination; the error names the option.
    pub fn validate(&self) -> Result<()> {
        if self.share_weights && self.adversarial_model.is_some() {
            return Err(Error::option(
                "share-weights",
                "cannot be combined with --adversarial-model: with shared weights the localizer \
                 classifies the erased images itself",
            ));
        }
        if self.adversarial_model.is_none() {
            if self.weights_adversarial.is_some() {
                return Err(Error::option(
                    "weights-adversarial",
                    "given without --adversarial-model",
                ));
            }
            if self.adversarial_from_scratch {
                return Err(Error::option(
                    "adversarial-from-scratch",
                    "given without --adversarial-model",
                ));
            }
        }
        if self.init_adversarial && self.init_from.is_none() {
            return Err(Error::option(
                "init-adversarial",
                "given without --init-from",
            ));
        }
        if self.init_adversarial && self.adversarial_model.is_none() {
            return Err(Error::option(
                "init-adversarial",
                "given without --adversarial-model",
            ));
        }
        if self.init_from.is_some() && self.weights_localizer.is_some() {
            return Err(Error::option(
                "init-from",
                "contradicts --weights-localizer: the localizer starts from one of them",
            ));
        }
        if self.init_adversarial && self.weights_adversarial.is_some() {
            return Err(Error::option(
                "init-adversarial",
                "contradicts --weights-adversarial",
            ));
        }
        if self.localizer_from_scratch && self.weights_localizer.is_some() {
            return Err(Error::option(
                "weights-localizer",
                "contradicts --localizer-from-scratch",
            ));
        }
        if self.adversarial_from_scratch && self.weights_adversarial.is_some() {
            return Err(Error::option(
                "weights-adversarial",
                "contradicts --adversarial-from-scratch",
            ));
        }
        let positive = |option: &'static str, value: usize| -> Result<()> {
            if value == 0 {
                Err(Error::option(option, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("epochs", self.epochs)?;
        positive("batch-size", self.batch_size)?;
        positive("log-every", self.log_every)?;
        if self.img_resolution < 32 {
            return Err(Error::option(
                "img-resolution",
                format!(
                    "must be at least 32 (the networks downsample 32 times), got {}",
                    self.img_resolution
                ),
            ));
        }
        if let Some(threads) = self.threads {
            positive("threads", threads)?;
        }
        let finite_non_negative = |option: &'static str, value: f64| -> Result<()> {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(Error::option(
                    option,
                    format!("must be a finite number >= 0, got {value}"),
                ))
            }
        };
        finite_non_negative("learning-rate", self.learning_rate)?;
        finite_non_negative("adversarial-learning-rate", self.adversarial_learning_rate)?;
        finite_non_negative("alpha", self.alpha)?;
        finite_non_negative("beta", self.beta)?;
        finite_non_negative("omega", self.omega)?;
        let unit = |option: &'static str, value: f64| -> Result<()> {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::option(
                    option,
                    format!("must lie in [0, 1], got {value}"),
                ))
            }
        };
        unit("sigma", self.sigma)?;
        unit(
            "segmentation-map-threshold",
            self.segmentation_map_threshold,
        )?;
        if self.adversarial_model.is_some()
            && self.train_steps_localizer + self.train_steps_adversarial == 0
        {
            return Err(Error::option(
                "train-steps-localizer",
                "--train-steps-localizer and --train-steps-adversarial cannot both be 0",
            ));
        }
        if let Some(name) = &self.experiment_name {
            let bad = name.is_empty()
                || name == "."
                || name == ".."
                || name.contains(['/', '\\'])
                || name.chars().any(char::is_control);
            if bad {
                return Err(Error::option(
                    "experiment-name",
                    format!("{name:?} is not a plain folder name"),
                ));
            }
        }
        Ok(())
    }

    /// Reads a TOML config file as overrides (unknown keys are errors naming the file).
    pub fn load_overrides(path: &Path) -> Result<ConfigOverrides> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Toml {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// The configuration as TOML (every field that is set).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Toml {
            path: PathBuf::from("config.toml"),
            message: e.to_string(),
        })
    }

    /// Writes the configuration as TOML to `path`, atomically, without the
    /// one-off actions `resume` and `overwrite`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let repeatable = TrainConfig {
            resume: None,
            overwrite: false,
            ..self.clone()
        };
        let text = format!(
            "# Effective configuration of a run: `eader train --config {}` repeats it.\n{}",
            path.display(),
            repeatable.to_toml()?
        );
        Ok(eader_fs::write_bytes(
            path,
            text.as_bytes(),
            eader_fs::Durability::Synced,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference() {
        let c = TrainConfig::default();
        assert_eq!(c.localizer_model, Architecture::Resnet101);
        assert_eq!(c.adversarial_model, None);
        assert_eq!((c.epochs, c.batch_size, c.img_resolution), (10, 16, 448));
        assert_eq!((c.learning_rate, c.adversarial_learning_rate), (0.01, 0.01));
        assert_eq!(
            (c.optimizer, c.adversarial_optimizer),
            (OptimizerKind::Sgd, OptimizerKind::Sgd)
        );
        assert_eq!(
            (c.alpha, c.beta, c.omega, c.sigma),
            (0.05, 1e-5, 100.0, 0.5)
        );
        assert_eq!(c.segmentation_map_threshold, 0.3);
        assert_eq!(
            (c.train_steps_localizer, c.train_steps_adversarial),
            (200, 200)
        );
        assert_eq!(c.attention_type, AttentionKind::GradCam);
        assert_eq!(c.output_dir, PathBuf::from("results"));
        c.validate().unwrap();
    }

    #[test]
    fn toml_round_trip_and_partial_files() {
        let c = TrainConfig {
            dataset_root: Some("/data/voc".into()),
            adversarial_model: Some(Architecture::Resnet18),
            seed: Some(42),
            device: DeviceChoice::Cuda(1),
            optimizer: OptimizerKind::Adam,
            ..TrainConfig::default()
        };
        let text = c.to_toml().unwrap();
        assert!(text.contains("device = \"cuda:1\""), "{text}");
        assert!(text.contains("optimizer = \"adam\""), "{text}");
        let back: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        // The full file also reads as overrides that reproduce it exactly.
        let overrides: ConfigOverrides = toml::from_str(&text).unwrap();
        let mut again = TrainConfig::default();
        overrides.apply_to(&mut again);
        assert_eq!(again, c);
        // A partial file sets only what it names.
        let partial: ConfigOverrides = toml::from_str("epochs = 3\nalpha = 0.5\n").unwrap();
        let mut d = TrainConfig::default();
        partial.apply_to(&mut d);
        assert_eq!((d.epochs, d.alpha, d.batch_size), (3, 0.5, 16));
    }

    #[test]
    fn config_file_errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, "epochs = 3\nlearning_rat = 0.1\n").unwrap();
        let err = TrainConfig::load_overrides(&path).unwrap_err().to_string();
        assert!(
            err.contains("run.toml") && err.contains("learning_rat"),
            "{err}"
        );
        std::fs::write(&path, "optimizer = \"adagrad\"\n").unwrap();
        let err = TrainConfig::load_overrides(&path).unwrap_err().to_string();
        assert!(err.contains("adagrad"), "{err}");
        let err = TrainConfig::load_overrides(&dir.path().join("none.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.toml"), "{err}");
    }

    #[test]
    fn merge_precedence() {
        let low: ConfigOverrides = toml::from_str("epochs = 3\nalpha = 0.5\n").unwrap();
        let high = ConfigOverrides {
            epochs: Some(7),
            ..Default::default()
        };
        let merged = low.merged_with(&high);
        assert_eq!((merged.epochs, merged.alpha), (Some(7), Some(0.5)));
        let entries = merged.entries();
        assert_eq!(
            entries,
            vec![("epochs", "7".to_owned()), ("alpha", "0.5".to_owned())]
        );
    }

    #[test]
    fn validation_rejects_bad_combinations() {
        let check = |edit: &dyn Fn(&mut TrainConfig), needle: &str| {
            let mut c = TrainConfig::default();
            edit(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "expected {needle:?} in {err:?}");
        };
        check(
            &|c| {
                c.share_weights = true;
                c.adversarial_model = Some(Architecture::Resnet18);
            },
            "--share-weights: cannot be combined with --adversarial-model",
        );
        check(&|c| c.epochs = 0, "--epochs");
        check(&|c| c.batch_size = 0, "--batch-size");
        check(&|c| c.img_resolution = 16, "--img-resolution");
        check(&|c| c.learning_rate = f64::NAN, "--learning-rate");
        check(&|c| c.alpha = -1.0, "--alpha");
        check(&|c| c.sigma = 1.5, "--sigma");
        check(
            &|c| c.segmentation_map_threshold = -0.1,
            "--segmentation-map-threshold",
        );
        check(
            &|c| c.weights_adversarial = Some("a.safetensors".into()),
            "--weights-adversarial",
        );
        check(
            &|c| c.experiment_name = Some("../x".into()),
            "--experiment-name",
        );
        check(&|c| c.threads = Some(0), "--threads");
        check(
            &|c| c.init_adversarial = true,
            "--init-adversarial: given without --init-from",
        );
        check(
            &|c| {
                c.init_from = Some("runs/a".into());
                c.weights_localizer = Some("l.safetensors".into());
            },
            "--init-from: contradicts --weights-localizer",
        );
        check(
            &|c| {
                c.adversarial_model = Some(Architecture::Resnet18);
                c.train_steps_localizer = 0;
                c.train_steps_adversarial = 0;
            },
            "cannot both be 0",
        );
        check(
            &|c| {
                c.localizer_from_scratch = true;
                c.weights_localizer = Some("l.safetensors".into());
            },
            "--weights-localizer",
        );
    }

    #[test]
    fn device_and_attention_parse() {
        assert_eq!("cuda:2".parse(), Ok(DeviceChoice::Cuda(2)));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn architecture_and_attention_names_come_from_the_models_crate() {
        // One source of names: what `Architecture` parses is what a file may say.
        let c: ConfigOverrides =
            toml::from_str("localizer_model = \"Wide_ResNet50_2\"\nattention_type = \"CAM\"\n")
                .unwrap();
        assert_eq!(c.localizer_model, Some(Architecture::WideResnet50));
        assert_eq!(c.attention_type, Some(AttentionKind::Cam));
        // Saved under the canonical names.
        let mut full = TrainConfig::default();
        c.apply_to(&mut full);
        let text = full.to_toml().unwrap();
        assert!(
            text.contains("localizer_model = \"wide_resnet50\""),
            "{text}"
        );
        assert!(text.contains("attention_type = \"cam\""), "{text}");
        for bad in ["resnet101_largefov", "resnet19", "alexnet"] {
            let err = toml::from_str::<ConfigOverrides>(&format!("adversarial_model = \"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(bad) && err.contains("unknown architecture"),
                "{err}"
            );
        }
    }
}
