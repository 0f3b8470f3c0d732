//! Helpers: tiny demo datasets, tiny checkpoints, running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use eader_dataset::demo::{ensure, DemoConfig};
use eader_models::{weights, Architecture, Classifier};
use eader_train::checkpoint::{self, pack, CheckpointState, Role, FORMAT_VERSION};
use eader_train::TrainConfig;

/// A demo dataset with `n_val` validation images of side `size` under `dir`.
pub fn demo(dir: &Path, n_train: usize, n_val: usize, size: u32) -> PathBuf {
    let cfg = DemoConfig {
        n_train,
        n_val,
        image_size: size,
        ..DemoConfig::default()
    };
    ensure(dir, &cfg).unwrap()
}

/// A seeded ResNet-18 with `k` classes.
pub fn network(k: usize, seed: u64) -> Classifier {
    let m = Classifier::new(
        Architecture::Resnet18,
        k,
        VarBuilder::zeros(DType::F32, &Device::Cpu),
    )
    .unwrap();
    m.init_seeded(seed).unwrap();
    m
}

/// Saves `model` as the localizer of an experiment folder `dir` (epoch 2)
/// whose run used `dataset_root`.
pub fn checkpoint(dir: &Path, model: &Classifier, dataset_root: Option<&Path>) -> PathBuf {
    let tensors = pack(Role::Localizer, model, None).unwrap();
    let state = CheckpointState {
        format_version: FORMAT_VERSION,
        epoch: 2,
        global_step: 8,
        config: TrainConfig {
            localizer_model: model.arch(),
            dataset_root: dataset_root.map(Path::to_path_buf),
            ..TrainConfig::default()
        },
        history: serde_json::Value::Null,
    };
    checkpoint::save(dir, &state, &tensors).unwrap()
}

/// A tiny, fast training schedule: one epoch, ResNet-18 from scratch, 32 px,
/// Adam, CPU, no visuals.
pub const TINY_SCHEDULE: [&str; 17] = [
    "--localizer-model",
    "resnet18",
    "--localizer-from-scratch",
    "--epochs",
    "1",
    "--batch-size",
    "4",
    "--img-resolution",
    "32",
    "--optimizer",
    "adam",
    "--learning-rate",
    "0.001",
    "--device",
    "cpu",
    "--visuals-every",
    "0",
];

/// `eader train` on `root` into `out` with the [`TINY_SCHEDULE`] and seed 3,
/// plus `extra` (later options win).
pub fn train_tiny(root: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eader"));
    cmd.args(["train", "--dataset-root"])
        .arg(root)
        .arg("--output-dir")
        .arg(out)
        .args(TINY_SCHEDULE)
        .args(["--seed", "3"])
        .args(extra)
        .env("EADER_CACHE_DIR", out.join("cache"));
    cmd
}

/// Runs `cmd`, sends it SIGINT after the first stderr line for which
/// `stop_at` holds, and returns its exit status and all of its stderr.
pub fn interrupt(
    cmd: &mut Command,
    mut stop_at: impl FnMut(&str) -> bool,
) -> (std::process::ExitStatus, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let stop = stop_at(&line);
        seen.push(line);
        if stop {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    seen.extend(lines.map(|l| l.unwrap()));
    (child.wait().unwrap(), seen.join("\n"))
}

/// Runs `eader` with `args`.
pub fn eader(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_eader"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `eader` and checks it succeeds; returns stdout.
pub fn eader_ok(args: &[&str]) -> String {
    let out = eader(args);
    assert!(
        out.status.success(),
        "eader {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `eader`, checks it fails with status 2, returns stderr.
pub fn eader_err(args: &[&str]) -> String {
    let out = eader(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "eader {args:?} should fail:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub use eader_testkit::hashed;

/// The inspect fixture script's value of a parameter or buffer.
pub fn param_value(name: &str, shape: &[usize]) -> Vec<f32> {
    eader_testkit::ParamFormula::INSPECT.value(name, shape)
}

/// Writes `arch` with `k` classes filled by [`param_value`] (names hashed
/// with `prefix`) as a torchvision-named safetensors file.
pub fn formula_weights(arch: Architecture, k: usize, prefix: &str, path: &Path) {
    let m = Classifier::new(arch, k, VarBuilder::zeros(DType::F32, &Device::Cpu)).unwrap();
    for p in m.params() {
        let shape = p.var.dims().to_vec();
        let v = param_value(&format!("{prefix}{}", p.name), &shape);
        p.var
            .set(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
            .unwrap();
    }
    weights::save(&m, path).unwrap();
}
