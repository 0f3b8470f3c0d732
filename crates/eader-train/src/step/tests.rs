//! The step's phases on tiny ResNet-18s: who is updated, where gradients flow.

use std::collections::HashMap;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use eader_models::{Architecture, Classifier};

use super::*;
use crate::optim::OptimizerKind;

const K: usize = 3;

fn net(seed: u64) -> (VarMap, Classifier) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Classifier::new(Architecture::Resnet18, K, vb).unwrap();
    model.init_seeded(seed).unwrap();
    (varmap, model)
}

fn batch() -> (Tensor, Tensor) {
    let dev = Device::Cpu;
    let images = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &dev).unwrap();
    let labels = Tensor::new(&[[1f32, 0.0, 1.0], [0.0, 1.0, 0.0]], &dev).unwrap();
    (images, labels)
}

fn snapshot(model: &Classifier) -> HashMap<String, Vec<f32>> {
    model
        .params()
        .iter()
        .map(|p| {
            let v = p
                .var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (p.name.clone(), v)
        })
        .collect()
}

/// (trainable tensors changed, buffers changed).
fn changed(model: &Classifier, before: &HashMap<String, Vec<f32>>) -> (bool, bool) {
    let after = snapshot(model);
    let mut out = (false, false);
    for (name, v) in &after {
        if before[name] != *v {
            if Classifier::is_buffer(name) {
                out.1 = true;
            } else {
                out.0 = true;
            }
        }
    }
    out
}

fn cfg() -> StepConfig {
    StepConfig {
        alpha: 0.05,
        beta: 1e-5,
        omega: 100.0,
        sigma: 0.5,
        attention: AttentionKind::GradCam,
    }
}

fn optimizer(model: &Classifier) -> Optimizer {
    Optimizer::new(OptimizerKind::Sgd, 0.01, model.trainable()).unwrap()
}

#[test]
fn localizer_phase_updates_only_the_localizer() {
    let (_lv, loc) = net(1);
    let (_av, adv) = net(2);
    let (mut lo, mut ao) = (optimizer(&loc), optimizer(&adv));
    let (images, labels) = batch();
    let (l0, a0) = (snapshot(&loc), snapshot(&adv));
    let out = train_step(
        &loc,
        Eraser::Adversarial(&adv),
        &mut lo,
        Some(&mut ao),
        &images,
        &labels,
        Phase::Localizer,
        &cfg(),
    )
    .unwrap();
    assert_eq!(out.pairs, 3);
    assert!(out.loss_am.is_some() && out.loss_adv.is_some());
    let expected = out.loss_cls + 1e-5 * out.loss_reg + 0.05 * out.loss_am.unwrap();
    assert!((out.loss - expected).abs() < 1e-6, "{out:?}");
    assert_eq!(
        changed(&loc, &l0),
        (true, true),
        "localizer trained, stats updated"
    );
    assert_eq!(
        changed(&adv, &a0),
        (false, true),
        "adversarial frozen, stats updated"
    );
}

#[test]
fn adversarial_phase_updates_only_the_adversarial() {
    let (_lv, loc) = net(1);
    let (_av, adv) = net(2);
    let (mut lo, mut ao) = (optimizer(&loc), optimizer(&adv));
    let (images, labels) = batch();
    let (l0, a0) = (snapshot(&loc), snapshot(&adv));
    let out = train_step(
        &loc,
        Eraser::Adversarial(&adv),
        &mut lo,
        Some(&mut ao),
        &images,
        &labels,
        Phase::Adversarial,
        &cfg(),
    )
    .unwrap();
    assert_eq!(Some(out.loss), out.loss_adv);
    assert_eq!(
        changed(&loc, &l0),
        (false, true),
        "localizer frozen, stats updated"
    );
    assert_eq!(changed(&adv, &a0), (true, true), "adversarial trained");
    // Without an adversarial there is no adversarial phase.
    let err = train_step(
        &loc,
        Eraser::None,
        &mut lo,
        None,
        &images,
        &labels,
        Phase::Adversarial,
        &cfg(),
    );
    assert!(err.is_err());
}

#[test]
fn gradients_flow_where_method_md_says() {
    let (_lv, loc) = net(1);
    let (_av, adv) = net(2);
    let (_, labels) = batch();
    let loc_vars: Vec<_> = loc.trainable();
    let adv_vars: Vec<_> = adv.trainable();
    let nonzero = |grads: &candle::backprop::GradStore, vars: &[(String, candle::Var)]| {
        vars.iter().any(|(_, v)| {
            grads
                .get(v.as_tensor())
                .map(|g| {
                    g.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                        > 0.0
                })
                .unwrap_or(false)
        })
    };
    // The attention-mining loss alone reaches the localizer through the adversarial and the
    // mask (a soft omega so that random 2x2 maps are not saturated).
    let soft = StepConfig {
        omega: 1.0,
        ..cfg()
    };
    let images = Tensor::randn(0f32, 1.0, (2, 3, 64, 64), &Device::Cpu).unwrap();
    let fwd = forward(
        &loc,
        Eraser::Adversarial(&adv),
        &images,
        &labels,
        &soft,
        false,
        true,
    )
    .unwrap();
    let grads = fwd.am.as_ref().unwrap().backward().unwrap();
    assert!(nonzero(&grads, &loc_vars), "am reaches the localizer");
    // The adversarial phase builds no graph through the localizer.
    let fwd = forward(
        &loc,
        Eraser::Adversarial(&adv),
        &images,
        &labels,
        &cfg(),
        true,
        true,
    )
    .unwrap();
    let grads = fwd.loss_adv.as_ref().unwrap().backward().unwrap();
    assert!(loc_vars
        .iter()
        .all(|(_, v)| grads.get(v.as_tensor()).is_none()));
    assert!(nonzero(&grads, &adv_vars));
    // Grad-CAM's channel weights are constants: the fc weight gets no gradient from the maps.
    let fwd = forward(&loc, Eraser::None, &images, &labels, &cfg(), false, true).unwrap();
    let grads = fwd.reg.backward().unwrap();
    let fc = loc_vars.iter().find(|(n, _)| n == "fc.weight").unwrap();
    assert!(
        grads.get(fc.1.as_tensor()).is_none(),
        "gcam weights detached"
    );
    let cam = StepConfig {
        attention: AttentionKind::Cam,
        ..cfg()
    };
    let fwd = forward(&loc, Eraser::None, &images, &labels, &cam, false, true).unwrap();
    let grads = fwd.reg.backward().unwrap();
    assert!(grads.get(fc.1.as_tensor()).is_some(), "cam flows into W");
    // Shapes.
    assert_eq!(fwd.maps.dims(), &[3, 64, 64]);
    let fwd = forward(
        &loc,
        Eraser::Adversarial(&adv),
        &images,
        &labels,
        &cfg(),
        false,
        false,
    )
    .unwrap();
    assert_eq!(fwd.erased.as_ref().unwrap().dims(), &[3, 3, 64, 64]);
    assert_eq!(fwd.erased_logits.as_ref().unwrap().dims(), &[3, K]);
}

#[test]
fn shared_weights_and_no_adversarial() {
    let (_lv, loc) = net(3);
    let mut lo = optimizer(&loc);
    let (images, labels) = batch();
    let l0 = snapshot(&loc);
    let out = train_step(
        &loc,
        Eraser::SharedWeights,
        &mut lo,
        None,
        &images,
        &labels,
        Phase::Localizer,
        &cfg(),
    )
    .unwrap();
    assert!(out.loss_am.is_some() && out.loss_adv.is_none());
    assert_eq!(changed(&loc, &l0), (true, true));
    let out = train_step(
        &loc,
        Eraser::None,
        &mut lo,
        None,
        &images,
        &labels,
        Phase::Localizer,
        &cfg(),
    )
    .unwrap();
    assert!(out.loss_am.is_none());
    assert!((out.loss - (out.loss_cls + 1e-5 * out.loss_reg)).abs() < 1e-6);
}

#[test]
fn evaluation_maps_are_the_training_forwards() {
    // eader-eval's single-scale maps are exactly the maps this step trains on.
    let (_v, m) = net(5);
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (2, 3, 40, 56), &dev).unwrap();
    let labels = Tensor::new(&[[1f32, 0., 1.], [0., 0., 1.]], &dev).unwrap();
    for attention in [AttentionKind::GradCam, AttentionKind::Cam] {
        let step = StepConfig { attention, ..cfg() };
        let want = forward(&m, Eraser::None, &x, &labels, &step, true, false).unwrap();
        let got = eader_eval::image_maps(
            &m,
            &x,
            eader_eval::MapClasses::Labels(&labels),
            &eader_eval::MapConfig::single_scale(attention),
        )
        .unwrap();
        assert_eq!(got.pairs.class, want.pairs.class);
        let diff = (&got.maps - &want.maps).unwrap().abs().unwrap();
        assert_eq!(diff.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let diff = (&got.logits - &want.logits).unwrap().abs().unwrap();
        assert_eq!(diff.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
