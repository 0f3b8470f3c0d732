//! Trained networks back from disk: a localizer (or adversarial) from an eader
//! checkpoint, or any network from a safetensors file under torchvision names.
//!
//! Loading is strict (every tensor present with its shape, nothing extra), so a
//! checkpoint of another architecture fails with an error naming the file and
//! the first tensor that does not fit. The number of classes comes from the
//! head's weight.

use std::collections::HashMap;
use std::path::Path;

use candle::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use eader_models::weights::{self, LoadMode};
use eader_models::{Architecture, Classifier};

use crate::checkpoint::{self, ADVERSARIAL_PREFIX, LOCALIZER_PREFIX, WEIGHTS_FILE};
use crate::config::TrainConfig;
use crate::error::{Error, Result};

/// Name of the head's weight `(K, C)` in `arch`'s torchvision naming.
pub fn head_weight_name(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Vgg16 => "classifier.6.weight",
        Architecture::DeeplabLargefov => "classifier.weight",
        _ => "fc.weight",
    }
}

/// Parses an architecture name, the error naming `what` (a file or an option).
pub fn parse_architecture(name: &str, what: &Path) -> Result<Architecture> {
    name.parse()
        .map_err(|e: eader_models::Error| Error::checkpoint(what, e.to_string()))
}

/// Builds `arch` from named tensors (torchvision names, no prefix) read from
/// `path` (named in errors), on `device`, in f32. The class count is the
/// number of rows of the head's weight.
pub fn classifier_from_tensors(
    arch: Architecture,
    tensors: HashMap<String, Tensor>,
    path: &Path,
    device: &Device,
) -> Result<Classifier> {
    let head = head_weight_name(arch);
    let num_classes = match tensors.get(head) {
        Some(w) if w.rank() == 2 => w.dim(0)?,
        Some(w) => {
            return Err(Error::checkpoint(
                path,
                format!(
                    "`{head}` has shape {:?}, expected (classes, channels): not a {arch} network",
                    w.dims()
                ),
            ))
        }
        None => {
            return Err(Error::checkpoint(
                path,
                format!("no tensor `{head}`: not a {arch} network"),
            ))
        }
    };
    let vb = VarBuilder::zeros(DType::F32, device);
    let model = Classifier::new(arch, num_classes, vb)?;
    weights::load_tensors(&model, tensors, path, LoadMode::Strict)
        .map_err(|e| Error::checkpoint(path, format!("does not hold a {arch} network: {e}")))?;
    Ok(model)
}

/// Loads a network from a safetensors file with torchvision names and a
/// `K`-class head (`fc` for ResNets), e.g. what `eader_models::weights::save`
/// writes.
pub fn load_weights(arch: Architecture, path: &Path, device: &Device) -> Result<Classifier> {
    let tensors = weights::read(path, device)?;
    classifier_from_tensors(arch, tensors, path, device)
}

/// A localizer loaded from a checkpoint, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedLocalizer {
    /// The network (eval it with `train = false`).
    pub model: Classifier,
    /// The run's configuration.
    pub config: TrainConfig,
    /// The checkpoint folder it was read from.
    pub dir: std::path::PathBuf,
    /// The last completed epoch of the run.
    pub epoch: usize,
}

/// Loads the localizer of the checkpoint `path` designates (a checkpoint
/// folder, either of its files, or an experiment folder; see
/// [`checkpoint::resolve`]) onto `device`, with the run's configuration.
pub fn load_localizer(path: &Path, device: &Device) -> Result<(Classifier, TrainConfig)> {
    let loaded = load_localizer_checkpoint(path, device)?;
    Ok((loaded.model, loaded.config))
}

/// [`load_localizer`], also telling the checkpoint folder and epoch.
pub fn load_localizer_checkpoint(path: &Path, device: &Device) -> Result<LoadedLocalizer> {
    let ck = checkpoint::load(path, device)?;
    let file = ck.path.join(WEIGHTS_FILE);
    let arch = parse_architecture(&ck.state.config.localizer_model, &ck.path)?;
    let model = classifier_from_tensors(
        arch,
        ck.tensors_with_prefix(LOCALIZER_PREFIX),
        &file,
        device,
    )?;
    Ok(LoadedLocalizer {
        model,
        config: ck.state.config,
        dir: ck.path,
        epoch: ck.state.epoch,
    })
}

/// Loads the adversarial of the checkpoint `path` designates, `None` when the
/// run had none.
pub fn load_adversarial(path: &Path, device: &Device) -> Result<Option<Classifier>> {
    let ck = checkpoint::load(path, device)?;
    let Some(name) = &ck.state.config.adversarial_model else {
        return Ok(None);
    };
    let file = ck.path.join(WEIGHTS_FILE);
    let arch = parse_architecture(name, &ck.path)?;
    classifier_from_tensors(
        arch,
        ck.tensors_with_prefix(ADVERSARIAL_PREFIX),
        &file,
        device,
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{CheckpointState, FORMAT_VERSION};
    use crate::rng::TrainRng;

    pub(crate) fn tiny_checkpoint(dir: &Path, arch: &str, k: usize) -> Classifier {
        let a: Architecture = arch.parse().unwrap();
        let model = Classifier::new(a, k, VarBuilder::zeros(DType::F32, &Device::Cpu)).unwrap();
        model.init_seeded(3).unwrap();
        let tensors: Vec<(String, Tensor)> = weights::state(&model)
            .into_iter()
            .map(|(n, t)| (format!("{LOCALIZER_PREFIX}{n}"), t))
            .collect();
        let state = CheckpointState {
            format_version: FORMAT_VERSION,
            epoch: 1,
            global_step: 4,
            config: TrainConfig {
                localizer_model: arch.to_owned(),
                ..TrainConfig::default()
            },
            rng: TrainRng::new(0).state(),
            history: serde_json::Value::Null,
        };
        checkpoint::save(dir, &state, &tensors).unwrap();
        model
    }

    #[test]
    fn round_trip_through_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let original = tiny_checkpoint(dir.path(), "resnet18", 5);
        let (model, config) = load_localizer(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(config.localizer_model, "resnet18");
        assert_eq!(model.num_classes(), 5);
        assert_eq!(model.arch(), Architecture::Resnet18);
        let x = Tensor::randn(0f32, 1.0, (1, 3, 32, 32), &Device::Cpu).unwrap();
        let a = original
            .forward(&x, false)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let b = model.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(a, b);
        assert!(load_adversarial(dir.path(), &Device::Cpu)
            .unwrap()
            .is_none());
    }

    #[test]
    fn wrong_architecture_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        tiny_checkpoint(dir.path(), "resnet18", 5);
        // Claim another architecture in the state file.
        let state_path = dir.path().join("checkpoint").join("state.json");
        let text = std::fs::read_to_string(&state_path).unwrap();
        std::fs::write(&state_path, text.replace("\"resnet18\"", "\"resnet34\"")).unwrap();
        let err = load_localizer(dir.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("weights.safetensors") && err.contains("not hold a resnet34"),
            "{err}"
        );
        let err = load_localizer(&dir.path().join("missing"), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing") && err.contains("no such"), "{err}");
        // A plain weights file of another network.
        let file = dir.path().join("w.safetensors");
        let m = Classifier::new(
            Architecture::Resnet18,
            3,
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        weights::save(&m, &file).unwrap();
        assert_eq!(
            load_weights(Architecture::Resnet18, &file, &Device::Cpu)
                .unwrap()
                .num_classes(),
            3
        );
        let err = load_weights(Architecture::Resnet50, &file, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.safetensors") && err.contains("resnet50"),
            "{err}"
        );
        let err = load_weights(Architecture::Vgg16, &file, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("classifier.6.weight"), "{err}");
    }
}
