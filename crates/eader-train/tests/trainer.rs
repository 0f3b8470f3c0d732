//! End-to-end runs of the trainer on a tiny generated dataset: every
//! eraser variant, exact resuming after a stop mid-epoch, the NaN guard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eader_dataset::demo::{ensure, DemoConfig};
use eader_models::Architecture;
use eader_train::logging::{JsonlLog, Record, StepRecord};
use eader_train::trainer::{resume_config, Silent};
use eader_train::{
    ConfigOverrides, DeviceChoice, Error, Observer, OptimizerKind, Outcome, Phase, StopFlag,
    TrainConfig, Trainer,
};

/// 12 training images (3 batches of 4), 4 validation images, 40 px.
fn dataset(dir: &Path) -> PathBuf {
    let cfg = DemoConfig {
        n_train: 12,
        n_val: 4,
        image_size: 40,
        n_classes: 3,
        ..DemoConfig::default()
    };
    ensure(dir, &cfg).unwrap()
}

fn config(root: &Path, out: &Path, name: &str) -> TrainConfig {
    TrainConfig {
        dataset_root: Some(root.to_owned()),
        output_dir: out.to_owned(),
        experiment_name: Some(name.to_owned()),
        localizer_model: Architecture::Resnet18,
        localizer_from_scratch: true,
        epochs: 2,
        batch_size: 4,
        img_resolution: 32,
        optimizer: OptimizerKind::Adam,
        learning_rate: 1e-3,
        adversarial_optimizer: OptimizerKind::Adam,
        adversarial_learning_rate: 1e-3,
        train_steps_localizer: 2,
        train_steps_adversarial: 1,
        seed: Some(5),
        device: DeviceChoice::Cpu,
        log_every: 1,
        visuals_every: 1,
        visual_samples: 2,
        ..TrainConfig::default()
    }
}

fn with_adversarial(mut c: TrainConfig) -> TrainConfig {
    c.adversarial_model = Some(Architecture::Resnet18);
    c.adversarial_from_scratch = true;
    c
}

fn run(config: TrainConfig, observer: &mut dyn Observer) -> (Trainer, Outcome) {
    let mut trainer = Trainer::new(config, candle::Device::Cpu, StopFlag::new(), observer).unwrap();
    let outcome = trainer.run(observer).unwrap();
    (trainer, outcome)
}

fn steps(dir: &Path) -> Vec<StepRecord> {
    JsonlLog::read(&dir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|r| match r {
            Record::Step(s) => Some(s),
            Record::Epoch(_) => None,
        })
        .collect()
}

/// Every tensor of a checkpoint, as raw bytes by name.
fn checkpoint_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.join("checkpoint/weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

#[test]
fn trains_without_adversarial_with_adversarial_and_with_shared_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let out = tmp.path().join("runs");
    let variants = [
        ("plain", config(&root, &out, "plain")),
        (
            "adversarial",
            with_adversarial(config(&root, &out, "adversarial")),
        ),
        (
            "shared",
            TrainConfig {
                share_weights: true,
                ..config(&root, &out, "shared")
            },
        ),
    ];
    for (name, cfg) in variants {
        let (trainer, outcome) = run(cfg, &mut Silent);
        let Outcome::Finished(summary) = outcome else {
            panic!("{name}: run did not finish");
        };
        let dir = trainer.experiment_dir().to_owned();
        assert_eq!(dir, out.join(name));
        assert_eq!((summary.epochs, summary.global_step), (2, 6), "{name}");
        // L = 2, A = 1: steps 0,1 and 3,4 update the localizer, 2 and 5 the adversarial.
        let updates = (summary.localizer_updates, summary.adversarial_updates);
        let want = if name == "adversarial" {
            (4, 2)
        } else {
            (6, 0)
        };
        assert_eq!(updates, want, "{name}");
        assert!(summary.final_metrics.miou.is_finite());
        assert!(summary.baseline_metrics.miou > 0.0);
        for file in [
            "config.toml",
            "metrics.jsonl",
            "summary.json",
            "losses.png",
            "val_miou.png",
            "checkpoint/weights.safetensors",
            "checkpoint/state.json",
        ] {
            assert!(dir.join(file).is_file(), "{name}: {file} missing");
        }
        let visuals: Vec<String> = std::fs::read_dir(dir.join("visuals/epoch-002"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for kind in [
            "_image",
            "_heatmap",
            "_heatmap_raw",
            "_mask",
            "_erased",
            "_segmentation",
        ] {
            assert!(
                visuals.iter().any(|f| f.ends_with(&format!("{kind}.png"))),
                "{name}: no {kind}.png"
            );
        }
        let steps = steps(&dir);
        assert_eq!(
            steps.len(),
            6,
            "{name}: one record per step with log_every 1"
        );
        let phases: Vec<Phase> = steps.iter().map(|s| s.out.phase).collect();
        let has_am = steps.iter().all(|s| s.out.loss_am.is_some());
        let has_adv = steps.iter().all(|s| s.out.loss_adv.is_some());
        match name {
            "plain" => {
                assert!(phases.iter().all(|&p| p == Phase::Localizer));
                assert!(!has_am && !has_adv);
            }
            "adversarial" => {
                use Phase::*;
                let expected = [Localizer, Localizer, Adversarial];
                assert_eq!(phases, [expected, expected].concat());
                assert!(has_am && has_adv);
            }
            _ => {
                assert!(phases.iter().all(|&p| p == Phase::Localizer));
                assert!(has_am && !has_adv);
            }
        }
        // The saved config repeats the run: seed and split are filled in.
        let saved = TrainConfig::load_overrides(&dir.join("config.toml")).unwrap();
        assert_eq!(saved.seed, Some(Some(5)));
        assert_eq!(saved.split, Some(Some("train".to_owned())));
    }
}

/// Requests a stop once `after` steps ran.
struct StopAfter {
    flag: StopFlag,
    after: u64,
}

impl Observer for StopAfter {
    fn step(&mut self, record: &StepRecord) {
        if record.global_step + 1 == self.after {
            self.flag.request();
        }
    }
}

fn stop_and_resume(root: &Path, out: &Path, name: &str, after: u64) -> PathBuf {
    let cfg = with_adversarial(config(root, out, name));
    let flag = StopFlag::new();
    let mut observer = StopAfter {
        flag: flag.clone(),
        after,
    };
    let mut trainer = Trainer::new(cfg, candle::Device::Cpu, flag, &mut observer).unwrap();
    let outcome = trainer.run(&mut observer).unwrap();
    let Outcome::Stopped { global_step, .. } = outcome else {
        panic!("the stop request was ignored");
    };
    assert_eq!(global_step, after);
    let dir = trainer.experiment_dir().to_owned();
    drop(trainer);
    let (_, state) = eader_train::checkpoint::read_state(&dir).unwrap();
    assert_eq!(state.global_step, after);
    let explicit = ConfigOverrides {
        resume: Some(Some(dir.clone())),
        ..ConfigOverrides::default()
    };
    let resumed = resume_config(&state.config, &explicit).unwrap();
    let (_, outcome) = run(resumed, &mut Silent);
    assert!(matches!(outcome, Outcome::Finished(_)));
    dir
}

#[test]
fn a_stopped_and_resumed_run_ends_with_the_same_weights_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let out = tmp.path().join("runs");
    let (trainer, _) = run(
        with_adversarial(config(&root, &out, "straight")),
        &mut Silent,
    );
    let straight = trainer.experiment_dir().to_owned();
    drop(trainer);
    let expected = checkpoint_bytes(&straight);
    assert!(expected
        .keys()
        .any(|k| k.starts_with("adversarial_optimizer.")));
    // Stopped mid-epoch 2 (after step 4 of 6), and at the end of epoch 1.
    for (name, after) in [("mid-epoch", 4), ("epoch-end", 3)] {
        let dir = stop_and_resume(&root, &out, name, after);
        let got = checkpoint_bytes(&dir);
        assert_eq!(got.len(), expected.len());
        for (tensor, bytes) in &expected {
            assert!(got[tensor] == *bytes, "{name}: {tensor} differs");
        }
        // The log reads as one run: the same steps with the same losses.
        let (a, b) = (steps(&straight), steps(&dir));
        assert_eq!(a.len(), b.len(), "{name}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.global_step, x.out.phase, x.out.loss.to_bits()),
                (y.global_step, y.out.phase, y.out.loss.to_bits())
            );
        }
    }
}

#[test]
fn a_resumed_run_keeps_its_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = config(tmp.path(), tmp.path(), "x");
    let explicit = ConfigOverrides {
        epochs: Some(5),
        learning_rate: Some(0.5),
        ..ConfigOverrides::default()
    };
    let err = resume_config(&saved, &explicit).unwrap_err().to_string();
    assert!(err.contains("--learning-rate is 0.5"), "{err}");
    let explicit = ConfigOverrides {
        epochs: Some(5),
        learning_rate: Some(saved.learning_rate),
        ..ConfigOverrides::default()
    };
    assert_eq!(resume_config(&saved, &explicit).unwrap().epochs, 5);
}

#[test]
fn a_non_finite_loss_stops_the_run_naming_the_step_and_term() {
    let tmp = tempfile::tempdir().unwrap();
    let root = dataset(&tmp.path().join("data"));
    let cfg = TrainConfig {
        learning_rate: 1e38,
        ..config(&root, &tmp.path().join("runs"), "nan")
    };
    let mut trainer = Trainer::new(cfg, candle::Device::Cpu, StopFlag::new(), &mut Silent).unwrap();
    let err = trainer.run(&mut Silent).unwrap_err();
    let Error::NonFiniteLoss {
        term, global_step, ..
    } = &err
    else {
        panic!("expected a non-finite loss, got {err}");
    };
    assert!(*global_step >= 1 && *global_step < 6, "{err}");
    assert!(term.starts_with("loss"), "{err}");
    // No checkpoint holds the broken weights.
    if let Ok((_, state)) = eader_train::checkpoint::read_state(trainer.experiment_dir()) {
        assert!(state.global_step <= *global_step);
    }
}

#[test]
fn init_from_starts_from_an_earlier_runs_networks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dataset(&dir.path().join("data"));
    let out = dir.path().join("runs");
    let mut first = with_adversarial(config(&root, &out, "first"));
    first.epochs = 1;
    first.visuals_every = 0;
    run(first, &mut Silent);
    let trained = checkpoint_bytes(&out.join("first"));
    let bytes = |m: &eader_models::Classifier, prefix: &str| -> BTreeMap<String, Vec<u8>> {
        eader_models::weights::state(m)
            .into_iter()
            .map(|(n, t)| {
                let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (format!("{prefix}{n}"), b)
            })
            .collect()
    };
    let subset = |prefix: &str| -> BTreeMap<String, Vec<u8>> {
        trained
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && !k.contains("optimizer"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    // The localizer only: it is the first run's, the adversarial is fresh.
    let mut warm = with_adversarial(config(&root, &out, "warm"));
    warm.init_from = Some(out.join("first"));
    let t = Trainer::new(
        warm.clone(),
        candle::Device::Cpu,
        StopFlag::new(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(bytes(t.localizer(), "localizer."), subset("localizer."));
    assert_ne!(
        bytes(t.adversarial().unwrap(), "adversarial."),
        subset("adversarial.")
    );
    // With --init-adversarial both are.
    let both = TrainConfig {
        init_adversarial: true,
        experiment_name: Some("both".into()),
        ..warm.clone()
    };
    let t = Trainer::new(both, candle::Device::Cpu, StopFlag::new(), &mut Silent).unwrap();
    assert_eq!(
        bytes(t.adversarial().unwrap(), "adversarial."),
        subset("adversarial.")
    );
    // A run of another architecture, or a missing run, is one named error.
    let other = TrainConfig {
        localizer_model: Architecture::Resnet34,
        experiment_name: Some("other".into()),
        ..warm.clone()
    };
    let err = Trainer::new(other, candle::Device::Cpu, StopFlag::new(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--init-from") && err.contains("localizer resnet18, this run's is resnet34"),
        "{err}"
    );
    let missing = TrainConfig {
        init_from: Some(out.join("nosuch")),
        experiment_name: Some("missing".into()),
        ..warm
    };
    let err = Trainer::new(missing, candle::Device::Cpu, StopFlag::new(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nosuch"), "{err}");
}
