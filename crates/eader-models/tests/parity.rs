//! Numerical parity with torchvision on the fixtures of
//! `fixtures/make_fixtures.py`: logits and features in eval and train mode,
//! running statistics after a training pass, parameter gradients of a loss,
//! CAM and Grad-CAM maps.
//!
//! The fixtures are computed in float64. The full comparison runs eader in
//! float64 too (tolerance 1e-9 relative to each tensor's magnitude): PyTorch's
//! own float32 gradients differ from its float64 ones by up to 0.2 of a
//! tensor's largest entry on ResNet-50 (train-mode BatchNorm over a batch of
//! two random-weight images amplifies rounding), so an f32-vs-f32 comparison of
//! gradients would measure rounding luck, not the math. float32 eader is then
//! compared on eval-mode logits, features and maps at 1e-4 (PyTorch's own
//! f32-vs-f64 error there is below 2e-6).

use candle::{DType, Tensor};
use eader_models::attention::{self, Pairs};
use eader_models::{Architecture, Classifier};
use std::collections::HashMap;

use crate::common::*;

fn check(arch: Architecture, size: usize) {
    let name = arch.to_string();
    let f = fixture(&name);
    check_f64(arch, size, &f);
    check_f32(arch, size, &f);
}

/// float32 eader against the float64 fixture: eval mode and attention maps
/// (from the formula's running statistics, before any training pass).
fn check_f32(arch: Architecture, size: usize, f: &HashMap<String, Tensor>) {
    let (model, _varmap) = model(arch);
    let x = images(2, size, size);
    let (features, logits) = model.forward_features(&x, false).unwrap();
    assert_close("f32 eval.logits", &logits, &f["eval.logits"], TOL);
    assert_summary("f32 eval.features", &features, &f["eval.features"], TOL);
    let labels = Tensor::new(&LABELS, x.device()).unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    let gcam = attention::grad_cam(&model, &features, &pairs, false).unwrap();
    assert_close("f32 eval.gcam", &gcam, &f["eval.gcam"], TOL);
}

fn check_f64(arch: Architecture, size: usize, f: &HashMap<String, Tensor>) {
    let name = arch.to_string();
    let (model, _varmap) = model_in(arch, DType::F64);
    let x = images(2, size, size);
    // The deterministic inputs are the script's, bit for bit.
    assert_summary("input", &x, &f["input"], 1e-12);
    let x = x.to_dtype(DType::F64).unwrap();
    const TOL: f64 = TOL64;

    let (features, logits) = model.forward_features(&x, false).unwrap();
    assert_close("eval.logits", &logits, &f["eval.logits"], TOL);
    assert_summary("eval.features", &features, &f["eval.features"], TOL);
    let labels = Tensor::new(&LABELS, x.device()).unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    let gcam = attention::grad_cam(&model, &features, &pairs, false).unwrap();
    assert_close("eval.gcam", &gcam, &f["eval.gcam"], TOL);

    // VGG-16 has no BatchNorm; its fixture is taken without dropout.
    let train = arch != Architecture::Vgg16;
    let (features, logits) = model.forward_features(&x, train).unwrap();
    assert_close("train.logits", &logits, &f["train.logits"], TOL);
    assert_summary("train.features", &features, &f["train.features"], TOL);
    let (n, k) = logits.dims2().unwrap();
    let loss = (logits * loss_coef(n, k, DType::F64))
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let mut worst = (0f64, String::new());
    for (pname, var) in model.trainable() {
        let g = grads
            .get(&var)
            .unwrap_or_else(|| panic!("no gradient for {pname}"));
        let key = format!("grad.{pname}");
        let summary = f.get(&key).unwrap_or_else(|| panic!("fixture lacks {key}"));
        let err = assert_summary(&key, g, summary, TOL);
        if err > worst.0 {
            worst = (err, key);
        }
    }
    let mut buffers = 0;
    for p in model.params().iter().filter(|p| p.kind.is_buffer()) {
        let key = format!("running.{}", p.name);
        assert_summary(&key, p.var.as_tensor(), &f[&key], TOL);
        buffers += 1;
    }
    let expected_buffers = f.keys().filter(|k| k.starts_with("running.")).count();
    assert_eq!(buffers, expected_buffers, "running statistics compared");
    let expected_grads = f.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(
        model.trainable().len(),
        expected_grads,
        "gradients compared"
    );
    eprintln!("{name}: worst gradient error {:.2e} ({})", worst.0, worst.1);

    // Attention maps, eval mode, after the running statistics moved.
    let (features, _) = model.forward_features(&x, false).unwrap();
    let gcam = attention::grad_cam(&model, &features, &pairs, false).unwrap();
    assert_close("gcam", &gcam, &f["gcam"], TOL);
    if let Some(expected) = f.get("cam") {
        let cam = attention::attention_maps(
            &model,
            attention::AttentionKind::Cam,
            &features,
            &pairs,
            false,
        )
        .unwrap();
        assert_close("cam", &cam, expected, TOL);
    }
}

#[test]
fn resnet18_matches_torchvision() {
    check(Architecture::Resnet18, 96);
}

#[test]
fn resnet50_matches_torchvision() {
    check(Architecture::Resnet50, 96);
}

#[test]
fn dilated_resnet101_matches_torchvision() {
    if slow_tests() {
        check(Architecture::Resnet101Deeplab, 48);
    } else {
        // Quick run: the dilated trunk's shapes (output stride 8) without the numbers.
        let (model, _vm) = model(Architecture::Resnet101Deeplab);
        let (features, logits) = model.forward_features(&images(1, 48, 48), false).unwrap();
        assert_eq!(features.dims(), &[1, 2048, 6, 6]);
        assert_eq!(logits.dims(), &[1, NUM_CLASSES]);
    }
}

#[test]
fn vgg16_matches_torchvision() {
    check(Architecture::Vgg16, 96);
}

#[test]
fn largefov_matches_reference() {
    check(Architecture::DeeplabLargefov, 64);
}

#[test]
fn other_resnets_have_torchvision_shapes() {
    // ResNet-34/101/152 and Wide-ResNet-50-2 share the blocks tested above; check
    // their tensor counts and a few shapes against torchvision's state_dict
    // (len(resnet34().state_dict()) minus num_batches_tracked, etc.).
    let cases = [
        (
            Architecture::Resnet34,
            218 - 36,
            "layer3.5.conv2.weight",
            vec![256, 256, 3, 3],
        ),
        (
            Architecture::Resnet101,
            626 - 104,
            "layer3.22.bn3.running_var",
            vec![1024],
        ),
        (
            Architecture::Resnet152,
            932 - 155,
            "layer2.7.conv1.weight",
            vec![128, 512, 1, 1],
        ),
        (
            Architecture::WideResnet50,
            320 - 53,
            "layer1.0.conv2.weight",
            vec![128, 128, 3, 3],
        ),
    ];
    for (arch, count, name, shape) in cases {
        let varmap = candle_nn::VarMap::new();
        let vb =
            candle_nn::VarBuilder::from_varmap(&varmap, candle::DType::F32, &candle::Device::Cpu);
        let model = Classifier::new(arch, 1000, vb).unwrap();
        assert_eq!(model.params().len(), count, "{arch}");
        let p = model.params().iter().find(|p| p.name == name).unwrap();
        assert_eq!(p.var.dims(), shape.as_slice(), "{arch} {name}");
        // Every tensor, running statistics included, is a Var of the map.
        assert_eq!(varmap.all_vars().len(), count, "{arch}");
    }
}
