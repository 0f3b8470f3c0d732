//! Checkpoints: one folder holding `weights.safetensors` and `state.json`.
//!
//! - `weights.safetensors`: both networks' tensors under torchvision names with
//!   the prefixes [`LOCALIZER_PREFIX`] and [`ADVERSARIAL_PREFIX`] (parameters and
//!   BatchNorm running statistics), and the optimizers' state under
//!   [`LOCALIZER_OPTIMIZER_PREFIX`] and [`ADVERSARIAL_OPTIMIZER_PREFIX`]. Its
//!   safetensors metadata repeats the epoch and global step, so a weights file
//!   and a state file from different saves are detected.
//! - `state.json`: [`CheckpointState`], the effective config, the epoch, the
//!   global step and the trainer's history. (No generator state: every random
//!   draw after the networks' initialisation is a function of the seed, the
//!   epoch and the sample; files of earlier versions with an `rng` entry load.)
//!
//! Writing is atomic at the folder level: both files go to `checkpoint.tmp/`,
//! are flushed to disk, then the previous `checkpoint/` becomes
//! `checkpoint.old/`, `checkpoint.tmp/` becomes `checkpoint/`, and only then is
//! `checkpoint.old/` deleted. An interruption at any point leaves a complete
//! checkpoint (`checkpoint/` or, between the two renames, `checkpoint.old/`,
//! which [`resolve`] falls back to).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle::{Device, Tensor};
use eader_fs::Durability;
use eader_models::weights::{self, LoadMode};
use eader_models::Classifier;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optim::Optimizer;

/// Folder of the current checkpoint inside an experiment folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The tensors file inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The JSON state file inside a checkpoint folder.
pub const STATE_FILE: &str = "state.json";
/// Version of the checkpoint layout.
pub const FORMAT_VERSION: u32 = 1;
/// Prefix of the localizer's tensors.
pub const LOCALIZER_PREFIX: &str = "localizer.";
/// Prefix of the adversarial's tensors.
pub const ADVERSARIAL_PREFIX: &str = "adversarial.";
/// Prefix of the localizer optimizer's state.
pub const LOCALIZER_OPTIMIZER_PREFIX: &str = "localizer_optimizer.";
/// Prefix of the adversarial optimizer's state.
pub const ADVERSARIAL_OPTIMIZER_PREFIX: &str = "adversarial_optimizer.";

/// Which network of a run a checkpoint's tensors belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The localizer (always present).
    Localizer,
    /// The adversarial (when the run has one).
    Adversarial,
}

impl Role {
    /// The prefix of the network's weights.
    pub fn weights_prefix(self) -> &'static str {
        match self {
            Role::Localizer => LOCALIZER_PREFIX,
            Role::Adversarial => ADVERSARIAL_PREFIX,
        }
    }

    /// The prefix of its optimizer's state.
    pub fn optimizer_prefix(self) -> &'static str {
        match self {
            Role::Localizer => LOCALIZER_OPTIMIZER_PREFIX,
            Role::Adversarial => ADVERSARIAL_OPTIMIZER_PREFIX,
        }
    }
}

/// A network's tensors as a checkpoint stores them: its weights (parameters
/// and BatchNorm statistics) and, when given, its optimizer's state, under
/// `role`'s prefixes. The inverse is [`Checkpoint::restore`].
pub fn pack(
    role: Role,
    model: &Classifier,
    optimizer: Option<&Optimizer>,
) -> Result<Vec<(String, Tensor)>> {
    let mut out: Vec<(String, Tensor)> = weights::state(model)
        .into_iter()
        .map(|(name, t)| (format!("{}{name}", role.weights_prefix()), t))
        .collect();
    if let Some(opt) = optimizer {
        out.extend(opt.state_tensors(role.optimizer_prefix())?);
    }
    Ok(out)
}

/// Everything but the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Last completed epoch (counted from 1).
    pub epoch: usize,
    /// Global step of the next training step.
    pub global_step: u64,
    /// The run's effective configuration.
    pub config: TrainConfig,
    /// Trainer-defined history (per-epoch records), carried across resumes.
    #[serde(default)]
    pub history: serde_json::Value,
}

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The checkpoint folder it was read from.
    pub path: PathBuf,
    /// The JSON state.
    pub state: CheckpointState,
    /// All tensors, with their prefixes.
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// The tensors under `prefix`, with the prefix removed.
    pub fn tensors_with_prefix(&self, prefix: &str) -> HashMap<String, Tensor> {
        strip_prefix(&self.tensors, prefix)
    }

    /// The architecture the run used for `role` (`None`: the run had no adversarial).
    pub fn architecture(&self, role: Role) -> Option<eader_models::Architecture> {
        match role {
            Role::Localizer => Some(self.state.config.localizer_model),
            Role::Adversarial => self.state.config.adversarial_model,
        }
    }

    /// Loads `role`'s weights into `model` strictly and, when given, its
    /// optimizer's state into `optimizer` (the inverse of [`pack`]).
    pub fn restore(
        &self,
        role: Role,
        model: &Classifier,
        optimizer: Option<&mut Optimizer>,
    ) -> Result<()> {
        let file = self.path.join(WEIGHTS_FILE);
        weights::load_tensors(
            model,
            self.tensors_with_prefix(role.weights_prefix()),
            &file,
            LoadMode::Strict,
        )
        .map_err(|e| Error::checkpoint(&self.path, e.to_string()))?;
        match optimizer {
            Some(opt) => opt.load_state(&self.tensors, role.optimizer_prefix()),
            None => Ok(()),
        }
    }

    /// `role`'s network built from the checkpoint (architecture from the
    /// run's configuration, class count from the head), `None` when the run
    /// had no adversarial.
    pub fn classifier(&self, role: Role, device: &Device) -> Result<Option<Classifier>> {
        let Some(arch) = self.architecture(role) else {
            return Ok(None);
        };
        let file = self.path.join(WEIGHTS_FILE);
        let model = weights::classifier_from_tensors(
            arch,
            self.tensors_with_prefix(role.weights_prefix()),
            &file,
            device,
        )?;
        Ok(Some(model))
    }
}

/// A localizer loaded from a checkpoint, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedLocalizer {
    /// The network (eval it with `train = false`).
    pub model: Classifier,
    /// The run's configuration.
    pub config: TrainConfig,
    /// The checkpoint folder it was read from.
    pub dir: PathBuf,
    /// The last completed epoch of the run.
    pub epoch: usize,
}

/// Loads the localizer of the checkpoint `path` designates (see [`resolve`])
/// onto `device`, with the run's configuration.
pub fn load_localizer(path: &Path, device: &Device) -> Result<LoadedLocalizer> {
    let ck = load(path, device)?;
    let model = ck
        .classifier(Role::Localizer, device)?
        .ok_or_else(|| Error::checkpoint(&ck.path, "holds no localizer"))?;
    Ok(LoadedLocalizer {
        model,
        config: ck.state.config,
        dir: ck.path,
        epoch: ck.state.epoch,
    })
}

/// The tensors of `tensors` under `prefix`, with the prefix removed.
pub fn strip_prefix(tensors: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    tensors
        .iter()
        .filter_map(|(name, t)| Some((name.strip_prefix(prefix)?.to_owned(), t.clone())))
        .collect()
}

/// Writes a checkpoint into `experiment_dir/checkpoint/` atomically (see the
/// module docs) and returns that folder.
pub fn save(
    experiment_dir: &Path,
    state: &CheckpointState,
    tensors: &[(String, Tensor)],
) -> Result<PathBuf> {
    let final_dir = experiment_dir.join(CHECKPOINT_DIR);
    let tmp_dir = eader_fs::with_suffix(&final_dir, ".tmp");
    let old_dir = eader_fs::with_suffix(&final_dir, ".old");
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
    }
    std::fs::create_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;

    let mut seen = std::collections::HashSet::new();
    let mut cpu = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::checkpoint(
                &final_dir,
                format!("tensor {name} given twice"),
            ));
        }
        cpu.push((name.clone(), t.to_device(&Device::Cpu)?.contiguous()?));
    }
    let metadata = HashMap::from([
        ("format".to_owned(), "eader-checkpoint".to_owned()),
        ("epoch".to_owned(), state.epoch.to_string()),
        ("global_step".to_owned(), state.global_step.to_string()),
    ]);
    let weights = tmp_dir.join(WEIGHTS_FILE);
    eader_fs::write_with(&weights, Durability::Synced, |tmp| {
        safetensors::serialize_to_file(cpu, Some(metadata), tmp).map_err(std::io::Error::other)
    })?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Json {
        path: tmp_dir.join(STATE_FILE),
        message: e.to_string(),
    })?;
    eader_fs::write_bytes(&tmp_dir.join(STATE_FILE), &json, Durability::Synced)?;

    if old_dir.exists() {
        std::fs::remove_dir_all(&old_dir).map_err(|e| Error::io(&old_dir, e))?;
    }
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp_dir, &final_dir).map_err(|e| Error::io(&tmp_dir, e))?;
    if old_dir.exists() {
        std::fs::remove_dir_all(&old_dir).map_err(|e| Error::io(&old_dir, e))?;
    }
    Ok(final_dir)
}

/// Finds the checkpoint folder `path` designates: a checkpoint folder, an
/// experiment folder holding one (or, after an interrupted save, its
/// `checkpoint.old/`), or either file inside a checkpoint folder.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == WEIGHTS_FILE || name == STATE_FILE {
            if let Some(parent) = path.parent() {
                return Ok(parent.to_owned());
            }
        }
        return Err(Error::checkpoint(
            path,
            format!("not a checkpoint: expected a folder holding {STATE_FILE} and {WEIGHTS_FILE}"),
        ));
    }
    if !path.exists() {
        return Err(Error::checkpoint(path, "no such file or folder"));
    }
    if path.join(STATE_FILE).is_file() {
        return Ok(path.to_owned());
    }
    for candidate in [CHECKPOINT_DIR, "checkpoint.old"] {
        let dir = path.join(candidate);
        if dir.join(STATE_FILE).is_file() {
            return Ok(dir);
        }
    }
    Err(Error::checkpoint(
        path,
        format!("no checkpoint here: expected {STATE_FILE} and {WEIGHTS_FILE}, or a {CHECKPOINT_DIR}/ folder holding them"),
    ))
}

/// Reads the checkpoint `path` designates (see [`resolve`]), tensors on `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    let (dir, state) = read_state(path)?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::checkpoint(&weights_path, e.to_string()))?;
    let info = metadata.metadata().clone().unwrap_or_default();
    let same_save = info.get("epoch") == Some(&state.epoch.to_string())
        && info.get("global_step") == Some(&state.global_step.to_string());
    if !same_save {
        return Err(Error::checkpoint(
            &dir,
            format!(
                "{WEIGHTS_FILE} (epoch {}, step {}) and {STATE_FILE} (epoch {}, step {}) come from different saves",
                info.get("epoch").map_or("?", String::as_str),
                info.get("global_step").map_or("?", String::as_str),
                state.epoch,
                state.global_step
            ),
        ));
    }
    let tensors = candle::safetensors::load_buffer(&bytes, device)
        .map_err(|e| Error::checkpoint(&weights_path, e.to_string()))?;
    Ok(Checkpoint {
        path: dir,
        state,
        tensors,
    })
}

/// The state alone of the checkpoint `path` designates (see [`resolve`]),
/// with the checkpoint folder: enough to rebuild a run's configuration
/// without reading its tensors.
pub fn read_state(path: &Path) -> Result<(PathBuf, CheckpointState)> {
    let dir = resolve(path)?;
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: CheckpointState = serde_json::from_slice(&text).map_err(|e| Error::Json {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    if state.format_version != FORMAT_VERSION {
        return Err(Error::checkpoint(
            &state_path,
            format!(
                "format version {}, this eader reads {FORMAT_VERSION}",
                state.format_version
            ),
        ));
    }
    Ok((dir, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::DType;

    fn state(epoch: usize) -> CheckpointState {
        CheckpointState {
            format_version: FORMAT_VERSION,
            epoch,
            global_step: 10 * epoch as u64,
            config: TrainConfig {
                adversarial_model: Some(eader_models::Architecture::Resnet18),
                seed: Some(9),
                ..TrainConfig::default()
            },
            history: serde_json::json!([{"epoch": 1, "val_miou": 0.25}]),
        }
    }

    fn tensors(scale: f32) -> Vec<(String, Tensor)> {
        let dev = Device::Cpu;
        let w = (Tensor::arange(0f32, 12., &dev)
            .unwrap()
            .reshape((3, 4))
            .unwrap()
            * scale as f64)
            .unwrap();
        vec![
            ("localizer.fc.weight".into(), w.clone()),
            ("adversarial.fc.weight".into(), w.t().unwrap()),
            (
                "localizer_optimizer.fc.weight.step".into(),
                Tensor::new(3i64, &dev).unwrap(),
            ),
            (
                "localizer.bn1.running_var".into(),
                Tensor::ones(4, DType::F32, &dev).unwrap(),
            ),
        ]
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let written = save(dir.path(), &state(2), &tensors(0.5)).unwrap();
        assert_eq!(written, dir.path().join(CHECKPOINT_DIR));
        for path in [
            dir.path().to_owned(),
            written.clone(),
            written.join(STATE_FILE),
            written.join(WEIGHTS_FILE),
        ] {
            let ck = load(&path, &Device::Cpu).unwrap();
            assert_eq!(ck.state, state(2));
            assert_eq!(ck.tensors.len(), 4);
            for (name, t) in tensors(0.5) {
                let back = &ck.tensors[&name];
                assert_eq!(back.dtype(), t.dtype(), "{name}");
                assert_eq!(back.dims(), t.dims(), "{name}");
                let a = back.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
                let b = t.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
                assert_eq!(a.to_vec1::<f64>().unwrap(), b.to_vec1::<f64>().unwrap());
            }
            let loc = ck.tensors_with_prefix(LOCALIZER_PREFIX);
            let mut names: Vec<_> = loc.keys().cloned().collect();
            names.sort();
            assert_eq!(names, ["bn1.running_var", "fc.weight"]);
        }
        // Checkpoints of earlier versions held the generator's state: they still load.
        let state_path = written.join(STATE_FILE);
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
        json["rng"] = serde_json::json!({"seed": 9, "word_pos": "2"});
        std::fs::write(&state_path, serde_json::to_vec(&json).unwrap()).unwrap();
        assert_eq!(load(dir.path(), &Device::Cpu).unwrap().state, state(2));
    }

    #[test]
    fn overwrite_keeps_one_complete_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &state(1), &tensors(1.0)).unwrap();
        save(dir.path(), &state(2), &tensors(2.0)).unwrap();
        let ck = load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(ck.state.epoch, 2);
        let w: Vec<Vec<f32>> = ck.tensors["localizer.fc.weight"].to_vec2().unwrap();
        assert_eq!(w[1][1], 10.0);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, [CHECKPOINT_DIR]);
    }

    #[test]
    fn interrupted_save_falls_back_to_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &state(1), &tensors(1.0)).unwrap();
        // Crash between the two renames: only checkpoint.old/ and a partial tmp remain.
        std::fs::rename(
            dir.path().join(CHECKPOINT_DIR),
            dir.path().join("checkpoint.old"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("checkpoint.tmp")).unwrap();
        std::fs::write(
            dir.path().join("checkpoint.tmp").join(WEIGHTS_FILE),
            b"partial",
        )
        .unwrap();
        let ck = load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(ck.state.epoch, 1);
        // The next save cleans up.
        save(dir.path(), &state(2), &tensors(2.0)).unwrap();
        assert!(!dir.path().join("checkpoint.old").exists());
        assert!(!dir.path().join("checkpoint.tmp").exists());
        assert_eq!(load(dir.path(), &Device::Cpu).unwrap().state.epoch, 2);
    }

    #[test]
    fn bad_checkpoints_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&dir.path().join("nope"), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope") && err.contains("no such"), "{err}");
        let err = load(dir.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("no checkpoint here"), "{err}");
        let other = dir.path().join("model.pth");
        std::fs::write(&other, b"x").unwrap();
        let err = load(&other, &Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains("model.pth") && err.contains("not a checkpoint"),
            "{err}"
        );

        // Weights and state from different saves.
        let a = tempfile::tempdir().unwrap();
        save(a.path(), &state(1), &tensors(1.0)).unwrap();
        save(dir.path(), &state(2), &tensors(1.0)).unwrap();
        std::fs::copy(
            a.path().join(CHECKPOINT_DIR).join(WEIGHTS_FILE),
            dir.path().join(CHECKPOINT_DIR).join(WEIGHTS_FILE),
        )
        .unwrap();
        let err = load(dir.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("different saves"), "{err}");

        // A corrupt state file.
        std::fs::write(dir.path().join(CHECKPOINT_DIR).join(STATE_FILE), b"{").unwrap();
        let err = load(dir.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(STATE_FILE), "{err}");

        // Duplicate names are refused.
        let mut t = tensors(1.0);
        t.push(t[0].clone());
        let err = save(dir.path(), &state(3), &t).unwrap_err().to_string();
        assert!(err.contains("given twice"), "{err}");
    }

    #[test]
    fn networks_pack_restore_and_load_by_role() {
        use candle_nn::VarBuilder;
        use eader_models::Architecture;
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let net = |seed| {
            let m = Classifier::new(
                Architecture::Resnet18,
                5,
                VarBuilder::zeros(DType::F32, &dev),
            )
            .unwrap();
            m.init_seeded(seed).unwrap();
            m
        };
        let original = net(3);
        let state = CheckpointState {
            config: TrainConfig {
                localizer_model: Architecture::Resnet18,
                ..TrainConfig::default()
            },
            ..state(1)
        };
        save(
            dir.path(),
            &state,
            &pack(Role::Localizer, &original, None).unwrap(),
        )
        .unwrap();
        let loaded = load_localizer(dir.path(), &dev).unwrap();
        assert_eq!(loaded.config.localizer_model, Architecture::Resnet18);
        assert_eq!((loaded.model.num_classes(), loaded.epoch), (5, 1));
        let x = Tensor::randn(0f32, 1.0, (1, 3, 32, 32), &dev).unwrap();
        let logits = |m: &Classifier| m.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(logits(&original), logits(&loaded.model));
        let ck = load(dir.path(), &dev).unwrap();
        assert!(ck.classifier(Role::Adversarial, &dev).unwrap().is_none());
        let other = net(4);
        ck.restore(Role::Localizer, &other, None).unwrap();
        assert_eq!(logits(&original), logits(&other));
        // A state file that claims another architecture names the weights file.
        let state_path = dir.path().join(CHECKPOINT_DIR).join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).unwrap();
        std::fs::write(&state_path, text.replace("\"resnet18\"", "\"resnet34\"")).unwrap();
        let err = load_localizer(dir.path(), &dev).unwrap_err().to_string();
        assert!(
            err.contains("weights.safetensors") && err.contains("not hold a resnet34"),
            "{err}"
        );
        let err = load_localizer(&dir.path().join("missing"), &dev)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing") && err.contains("no such"), "{err}");
    }
}
