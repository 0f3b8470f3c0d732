//! Loading and saving weights as safetensors, under torchvision's names.
//!
//! Loading is strict: every tensor of the model must be in the file with the
//! same shape, and every tensor of the file must belong to the model; the
//! error names the tensor. Two exceptions: `*.num_batches_tracked` (PyTorch's
//! BatchNorm counter, which eader does not keep) is accepted and ignored, and
//! in [`LoadMode::ReplaceHead`] the classification head of the file (ImageNet's
//! 1000 classes) is dropped and the model's fresh head kept, as reported in
//! [`LoadReport`]. timm's VGG names (`pre_logits.fc1`, `pre_logits.fc2`,
//! `head.fc`, convolutional shapes) are mapped back to torchvision's.
//!
//! Saved files use the same names (no `num_batches_tracked`, which PyTorch
//! fills in), so they load in torchvision with `load_state_dict(strict=True)`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::arch::Architecture;
use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// How the classification head of a file is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Every tensor, head included, must match (resuming a checkpoint).
    Strict,
    /// The file's head is dropped and the model's fresh `num_classes` head kept
    /// (starting from ImageNet weights). The trunk is still loaded strictly.
    ReplaceHead,
}

/// What a successful load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Names of the tensors loaded from the file.
    pub loaded: Vec<String>,
    /// Model tensors left at their fresh initialisation (the replaced head).
    pub reinitialised: Vec<String>,
    /// File tensors not used: the dropped head and `num_batches_tracked`.
    pub ignored: Vec<String>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loaded {} tensors", self.loaded.len())?;
        if !self.reinitialised.is_empty() {
            write!(
                f,
                "; re-initialised the head ({})",
                self.reinitialised.join(", ")
            )?;
        }
        let dropped: Vec<&str> = self
            .ignored
            .iter()
            .filter(|n| !n.ends_with("num_batches_tracked"))
            .map(|s| s.as_str())
            .collect();
        if !dropped.is_empty() {
            write!(f, "; dropped the file's head ({})", dropped.join(", "))?;
        }
        Ok(())
    }
}

/// The prefix of the head a pretrained file carries for `arch`'s trunk.
fn file_head_prefix(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Vgg16 => "classifier.6.",
        Architecture::DeeplabLargefov => "classifier.",
        _ => "fc.",
    }
}

/// Renames timm's VGG tensors to torchvision's (and reshapes the
/// convolutional MLP back to linear layers).
fn from_timm(mut tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let renames = [
        ("pre_logits.fc1.", "classifier.0."),
        ("pre_logits.fc2.", "classifier.3."),
        ("head.fc.", "classifier.6."),
    ];
    let names: Vec<String> = tensors.keys().cloned().collect();
    for name in names {
        for (from, to) in renames {
            if let Some(rest) = name.strip_prefix(from) {
                if let Some(t) = tensors.remove(&name) {
                    let t = if rest == "weight" && t.rank() == 4 {
                        let out = t.dim(0)?;
                        t.reshape((out, ()))?
                    } else {
                        t
                    };
                    tensors.insert(format!("{to}{rest}"), t);
                }
            }
        }
    }
    Ok(tensors)
}

/// Reads every tensor of a safetensors file onto `device`.
pub fn read(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    candle::safetensors::load_buffer(&bytes, device).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Loads the safetensors file at `path` into `model` (see the module docs).
pub fn load(model: &Classifier, path: &Path, mode: LoadMode) -> Result<LoadReport> {
    let device = model
        .params()
        .first()
        .map(|p| p.var.device().clone())
        .unwrap_or(Device::Cpu);
    let tensors = read(path, &device)?;
    load_tensors(model, tensors, path, mode)
}

/// Loads named tensors (e.g. read from `path`, which errors name) into `model`.
/// Nothing is changed unless every check passes.
pub fn load_tensors(
    model: &Classifier,
    tensors: HashMap<String, Tensor>,
    path: &Path,
    mode: LoadMode,
) -> Result<LoadReport> {
    let path_buf = || PathBuf::from(path);
    let mut file = from_timm(tensors)?;
    let mut report = LoadReport::default();
    let mut assignments = Vec::new();
    for p in model.params() {
        let expected = p.var.dims().to_vec();
        if mode == LoadMode::ReplaceHead && p.head {
            report.reinitialised.push(p.name.clone());
            continue;
        }
        let t = file.remove(&p.name).ok_or_else(|| Error::MissingTensor {
            path: path_buf(),
            name: p.name.clone(),
            expected: expected.clone(),
        })?;
        if t.dims() != expected.as_slice() {
            return Err(Error::ShapeMismatch {
                path: path_buf(),
                name: p.name.clone(),
                expected,
                actual: t.dims().to_vec(),
            });
        }
        if !t.dtype().is_float() {
            return Err(Error::NotFloat {
                path: path_buf(),
                name: p.name.clone(),
                dtype: format!("{:?}", t.dtype()),
            });
        }
        assignments.push((p, t));
    }
    let head_prefix = file_head_prefix(model.arch());
    let known: std::collections::HashSet<&str> =
        model.params().iter().map(|p| p.name.as_str()).collect();
    let rest: BTreeMap<String, Tensor> = file.into_iter().collect();
    for (name, t) in rest {
        let counter_of_bn = name
            .strip_suffix(".num_batches_tracked")
            .is_some_and(|prefix| known.contains(format!("{prefix}.running_mean").as_str()));
        let dropped_head = mode == LoadMode::ReplaceHead && name.starts_with(head_prefix);
        if counter_of_bn || dropped_head {
            report.ignored.push(name);
        } else {
            return Err(Error::UnexpectedTensor {
                path: path_buf(),
                name,
                shape: t.dims().to_vec(),
            });
        }
    }
    for (p, t) in assignments {
        let current = p.var.as_tensor();
        p.var
            .set(&t.to_dtype(current.dtype())?.to_device(current.device())?)?;
        report.loaded.push(p.name.clone());
    }
    Ok(report)
}

/// Every tensor of `model` (parameters and running statistics) by name.
pub fn state(model: &Classifier) -> BTreeMap<String, Tensor> {
    model
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().detach()))
        .collect()
}

/// Saves `model` to `path` as safetensors under torchvision's names, through
/// `eader_fs::write_with` (a crash leaves no half file).
pub fn save(model: &Classifier, path: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = state(model).into_iter().collect();
    eader_fs::write_with(path, eader_fs::Durability::Renamed, |tmp| {
        candle::safetensors::save(&tensors, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| Error::Io {
        path: e.path,
        source: e.source,
    })
}

/// Builds `arch` from named tensors (torchvision names, no prefix) read from
/// `path` (named in errors), on `device`, in f32, loaded strictly. The class
/// count is the number of rows of the head's weight
/// ([`Architecture::head_weight_name`]); tensors of another network are an
/// [`Error::WrongNetwork`] naming the first that does not fit.
pub fn classifier_from_tensors(
    arch: Architecture,
    tensors: HashMap<String, Tensor>,
    path: &Path,
    device: &Device,
) -> Result<Classifier> {
    let wrong = |reason: String| Error::WrongNetwork {
        path: path.to_path_buf(),
        arch,
        reason,
    };
    let head = arch.head_weight_name();
    let num_classes = match tensors.get(head) {
        Some(w) if w.rank() == 2 => w.dim(0)?,
        Some(w) => {
            return Err(wrong(format!(
                "`{head}` has shape {:?}, expected (classes, channels)",
                w.dims()
            )))
        }
        None => return Err(wrong(format!("no tensor `{head}`"))),
    };
    let model = Classifier::new(arch, num_classes, VarBuilder::zeros(DType::F32, device))?;
    load_tensors(&model, tensors, path, LoadMode::Strict).map_err(|e| wrong(e.to_string()))?;
    Ok(model)
}

/// Loads a network of `arch` from a safetensors file with torchvision names
/// and its own head (what [`save`] writes), its class count from the head.
pub fn load_classifier(arch: Architecture, path: &Path, device: &Device) -> Result<Classifier> {
    classifier_from_tensors(arch, read(path, device)?, path, device)
}
