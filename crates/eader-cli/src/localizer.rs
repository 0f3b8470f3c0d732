//! Where `eader evaluate` and `eader infer` take the localizer from: a
//! checkpoint, or an architecture with a weights file.

use std::path::PathBuf;

use anyhow::bail;
use candle::Device;
use clap::Args;
use eader_models::{weights, Architecture, Classifier};
use eader_train::checkpoint::load_localizer;
use eader_train::TrainConfig;

/// The localizer options shared by `eader evaluate` and `eader infer`.
#[derive(Debug, Clone, Default, Args)]
pub struct LocalizerArgs {
    /// Checkpoint: a checkpoint folder, its state.json or weights.safetensors, or an experiment folder
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Localizer architecture of --weights-localizer (instead of --checkpoint)
    #[arg(
        long,
        value_name = "ARCH",
        requires = "weights_localizer",
        conflicts_with = "checkpoint"
    )]
    pub localizer_model: Option<Architecture>,
    /// Safetensors with the localizer's weights (torchvision names, K-class head)
    #[arg(long, value_name = "FILE", requires = "localizer_model")]
    pub weights_localizer: Option<PathBuf>,
}

/// A loaded localizer and where it came from.
pub struct Localizer {
    /// The network.
    pub model: Classifier,
    /// The checkpoint folder, or the weights file.
    pub path: PathBuf,
    /// The run's configuration and last completed epoch, from a checkpoint.
    pub run: Option<(TrainConfig, usize)>,
}

impl LocalizerArgs {
    /// Loads the localizer the options designate onto `device`.
    pub fn load(&self, device: &Device) -> anyhow::Result<Localizer> {
        if let Some(path) = &self.checkpoint {
            let loaded = load_localizer(path, device)?;
            return Ok(Localizer {
                model: loaded.model,
                path: loaded.dir,
                run: Some((loaded.config, loaded.epoch)),
            });
        }
        let (Some(arch), Some(path)) = (self.localizer_model, &self.weights_localizer) else {
            bail!(
                "give --checkpoint PATH, or --localizer-model ARCH with --weights-localizer FILE"
            );
        };
        Ok(Localizer {
            model: weights::load_classifier(arch, path, device)?,
            path: path.clone(),
            run: None,
        })
    }
}
