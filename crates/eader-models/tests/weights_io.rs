//! Strict loading, head replacement, timm names and save round trips.

use std::collections::HashMap;
use std::path::Path;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use eader_models::weights::{self, LoadMode};
use eader_models::{Architecture, Classifier, Error};

use crate::common::*;

fn fresh(arch: Architecture, k: usize) -> Classifier {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Classifier::new(arch, k, vb).unwrap()
}

fn write(path: &Path, tensors: &HashMap<String, Tensor>) {
    candle::safetensors::save(tensors, path).unwrap();
}

fn state(model: &Classifier) -> HashMap<String, Tensor> {
    weights::state(model).into_iter().collect()
}

#[test]
fn saved_weights_load_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r18.safetensors");
    let (model, _vm) = model(Architecture::Resnet18);
    // A training pass moves the running statistics away from the formula.
    model.forward(&images(2, 32, 32), true).unwrap();
    weights::save(&model, &path).unwrap();
    let other = fresh(Architecture::Resnet18, NUM_CLASSES);
    let report = weights::load(&other, &path, LoadMode::Strict).unwrap();
    assert_eq!(report.loaded.len(), model.params().len());
    assert!(report.reinitialised.is_empty() && report.ignored.is_empty());
    for (a, b) in model.params().iter().zip(other.params()) {
        assert_eq!(a.name, b.name);
        assert_close(&a.name, b.var.as_tensor(), a.var.as_tensor(), 0.0);
    }
    let x = images(1, 32, 32);
    let la = model.forward(&x, false).unwrap();
    let lb = other.forward(&x, false).unwrap();
    assert_close("logits", &lb, &la, 0.0);
}

#[test]
fn missing_extra_and_misshapen_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let model = fresh(Architecture::Resnet18, 3);
    let good = state(&model);

    let mut missing = good.clone();
    missing.remove("layer2.1.bn2.running_var");
    write(&path, &missing);
    let err = weights::load(&model, &path, LoadMode::Strict).unwrap_err();
    assert!(
        matches!(err, Error::MissingTensor { ref name, .. } if name == "layer2.1.bn2.running_var")
    );
    assert!(err.to_string().contains("w.safetensors"), "{err}");

    let mut extra = good.clone();
    extra.insert(
        "layer5.0.conv1.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    write(&path, &extra);
    let err = weights::load(&model, &path, LoadMode::Strict).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedTensor { ref name, .. } if name == "layer5.0.conv1.weight")
    );

    let mut misshapen = good.clone();
    misshapen.insert(
        "conv1.weight".into(),
        Tensor::zeros((64, 3, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    write(&path, &misshapen);
    let err = weights::load(&model, &path, LoadMode::Strict)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv1.weight") && err.contains("[64, 3, 3, 3]"),
        "{err}"
    );

    // Nothing was changed by the failed loads.
    let after = state(&model);
    for (name, t) in &good {
        assert_close(name, &after[name], t, 0.0);
    }
}

#[test]
fn imagenet_heads_are_replaced_and_counters_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imagenet.safetensors");
    let imagenet = fresh(Architecture::Resnet18, 1000);
    let mut tensors = state(&imagenet);
    tensors.insert(
        "layer1.0.bn1.num_batches_tracked".into(),
        Tensor::new(&[7i64], &Device::Cpu)
            .unwrap()
            .squeeze(0)
            .unwrap(),
    );
    write(&path, &tensors);

    let model = fresh(Architecture::Resnet18, 20);
    let head_before = model
        .params()
        .iter()
        .find(|p| p.name == "fc.weight")
        .unwrap()
        .var
        .as_tensor()
        .copy()
        .unwrap();
    // Strict loading refuses the 1000-class head...
    let err = weights::load(&model, &path, LoadMode::Strict).unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { ref name, .. } if name == "fc.weight"),
        "{err}"
    );
    // ...ReplaceHead keeps the fresh 20-class head and says so.
    let report = weights::load(&model, &path, LoadMode::ReplaceHead).unwrap();
    assert_eq!(report.reinitialised, vec!["fc.weight", "fc.bias"]);
    assert_eq!(
        report.ignored,
        vec!["fc.bias", "fc.weight", "layer1.0.bn1.num_batches_tracked"]
    );
    assert!(report.to_string().contains("re-initialised the head"));
    let head_after = model
        .params()
        .iter()
        .find(|p| p.name == "fc.weight")
        .unwrap()
        .var
        .as_tensor();
    assert_close("fresh head kept", head_after, &head_before, 0.0);
    let conv = &state(&model)["layer3.1.conv2.weight"];
    assert_close("trunk loaded", conv, &tensors["layer3.1.conv2.weight"], 0.0);
}

#[test]
fn timm_vgg_names_map_to_torchvision() {
    // timm's vgg16.tv_in1k stores the classifier as convolutions named
    // pre_logits.fc1 (4096, 512, 7, 7), pre_logits.fc2, head.fc; LargeFOV drops
    // them all (its head is replaced) and loads the trunk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timm.safetensors");
    let donor = fresh(Architecture::DeeplabLargefov, 4);
    let mut tensors: HashMap<String, Tensor> = state(&donor)
        .into_iter()
        .filter(|(n, _)| n.starts_with("features."))
        .collect();
    let z = |s: &[usize]| Tensor::zeros(s, DType::F32, &Device::Cpu).unwrap();
    tensors.insert("pre_logits.fc1.weight".into(), z(&[16, 512, 7, 7]));
    tensors.insert("pre_logits.fc1.bias".into(), z(&[16]));
    tensors.insert("head.fc.weight".into(), z(&[1000, 16]));
    write(&path, &tensors);
    let model = fresh(Architecture::DeeplabLargefov, 20);
    let report = weights::load(&model, &path, LoadMode::ReplaceHead).unwrap();
    assert_eq!(report.loaded.len(), 26);
    assert_eq!(
        report.reinitialised,
        vec!["classifier.weight", "classifier.bias"]
    );
    assert_eq!(
        report.ignored,
        vec![
            "classifier.0.bias",
            "classifier.0.weight",
            "classifier.6.weight"
        ]
    );
}

#[test]
fn unreadable_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = fresh(Architecture::Resnet18, 2);
    let missing = dir.path().join("nope.safetensors");
    let err = weights::load(&model, &missing, LoadMode::Strict)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").unwrap();
    let err = weights::load(&model, &garbage, LoadMode::Strict).unwrap_err();
    assert!(matches!(err, Error::Safetensors { .. }), "{err}");
    assert!(err.to_string().contains("garbage.safetensors"));
}

#[test]
fn seeded_initialisation_is_deterministic_and_torchvision_like() {
    let a = fresh(Architecture::Resnet18, 20);
    let b = fresh(Architecture::Resnet18, 20);
    a.init_seeded(3).unwrap();
    b.init_seeded(3).unwrap();
    let (sa, sb) = (state(&a), state(&b));
    for (name, t) in &sa {
        assert_close(name, &sb[name], t, 0.0);
    }
    // kaiming-normal fan_out: std sqrt(2 / (64 * 7 * 7)) for conv1.
    let w = &sa["conv1.weight"];
    let std = w
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .sqrt();
    let expected = (2.0f32 / (64.0 * 49.0)).sqrt();
    assert!((std / expected - 1.0).abs() < 0.05, "{std} vs {expected}");
    assert_eq!(
        sa["layer1.0.bn1.weight"].to_vec1::<f32>().unwrap(),
        vec![1.0; 64]
    );
    assert_eq!(
        sa["layer1.0.bn1.running_var"].to_vec1::<f32>().unwrap(),
        vec![1.0; 64]
    );
    // nn.Linear default: |w| <= 1 / sqrt(512).
    let max = sa["fc.weight"]
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(max <= 1.0 / 512f32.sqrt() && max > 0.5 / 512f32.sqrt());
    // Buffers are not trainable.
    assert!(a.trainable().iter().all(|(n, _)| !Classifier::is_buffer(n)));
    assert_eq!(a.trainable().len(), 62);
}

#[test]
fn saved_networks_load_with_their_class_count_and_name_a_wrong_one() {
    // The head weight every loader reads the class count from is the model's own.
    for arch in [Architecture::Resnet18, Architecture::DeeplabLargefov] {
        let m = Classifier::new(arch, 3, VarBuilder::zeros(DType::F32, &Device::Cpu)).unwrap();
        assert!(m.head_names().iter().any(|n| n == arch.head_weight_name()));
    }
    assert_eq!(
        Architecture::Vgg16.head_weight_name(),
        "classifier.6.weight"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    let m = fresh(Architecture::Resnet18, 3);
    m.init_seeded(4).unwrap();
    weights::save(&m, &file).unwrap();
    let back = weights::load_classifier(Architecture::Resnet18, &file, &Device::Cpu).unwrap();
    assert_eq!(back.num_classes(), 3);
    let x = images(1, 32, 32);
    let (a, b) = (
        m.forward(&x, false).unwrap(),
        back.forward(&x, false).unwrap(),
    );
    assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
    let err = weights::load_classifier(Architecture::Resnet50, &file, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("does not hold a resnet50"),
        "{err}"
    );
    let err = weights::load_classifier(Architecture::Vgg16, &file, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tensor `classifier.6.weight`"), "{err}");
}
