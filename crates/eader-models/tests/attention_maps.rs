//! Attention maps: pair expansion, fast vs autograd Grad-CAM, gradient flow.

use candle::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use eader_models::attention::{self, AttentionKind, Pairs};
use eader_models::{ops, Architecture, Classifier, Head};

use crate::common::*;

fn random(name: &str, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = hashed(name, n).iter().map(|&x| x as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn pairs_are_ordered_by_image_then_class() {
    let labels = Tensor::new(
        &[[0f32, 1., 1., 0.], [0., 0., 0., 0.], [1., 0., 0., 1.]],
        &Device::Cpu,
    )
    .unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    assert_eq!(pairs.image, vec![0, 0, 2, 2]);
    assert_eq!(pairs.class, vec![1, 2, 0, 3]);
    assert_eq!(pairs.image_idx.to_vec1::<u32>().unwrap(), vec![0, 0, 2, 2]);
    assert_eq!(pairs.class_idx.to_vec1::<u32>().unwrap(), vec![1, 2, 0, 3]);
    // P copies of the images' full label vectors.
    let rows = pairs.select(&labels).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(rows[1], vec![0., 1., 1., 0.]);
    assert_eq!(rows[3], vec![1., 0., 0., 1.]);
    let one_hot = pairs
        .one_hot(4, DType::F32)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(one_hot[2], vec![1., 0., 0., 0.]);
}

#[test]
fn labels_of_the_wrong_rank_are_an_error() {
    let labels = Tensor::new(&[1f32, 0.], &Device::Cpu).unwrap();
    let err = Pairs::from_labels(&labels).unwrap_err().to_string();
    assert!(err.contains("(B, K)"), "{err}");
}

#[test]
fn fast_grad_cam_agrees_with_autograd_for_gap_linear_heads() {
    let features = random("features", &[3, 8, 4, 5]).relu().unwrap();
    let weight = random("weight", &[6, 8]);
    let bias = random("bias", &[6]);
    let labels = Tensor::new(
        &[
            [0f32, 1., 0., 0., 1., 1.],
            [1., 0., 0., 0., 0., 0.],
            [0., 0., 1., 1., 0., 0.],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    let fast = attention::grad_cam_linear(&features, &weight, &pairs).unwrap();
    let slow = attention::grad_cam_autograd(&features, &pairs, |f| {
        ops::linear(&ops::global_avg_pool(f)?, &weight, Some(&bias))
    })
    .unwrap();
    assert_eq!(fast.dims(), &[6, 4, 5]);
    assert_close("fast vs autograd", &fast, &slow, 1e-6);
    // And both are ReLU(CAM) / (h w).
    let cam = attention::cam(&features, &weight, &pairs).unwrap();
    let expected = (cam.relu().unwrap() / 20.0).unwrap();
    assert_close("gcam vs cam", &fast, &expected, 1e-6);
}

#[test]
fn classifier_dispatch_agrees_on_a_resnet() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Classifier::new(Architecture::Resnet18, 4, vb).unwrap();
    model.init_seeded(7).unwrap();
    let x = images(2, 64, 64);
    let (features, _) = model.forward_features(&x, false).unwrap();
    let labels = Tensor::new(&[[1f32, 0., 1., 0.], [0., 0., 0., 1.]], &Device::Cpu).unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    assert!(matches!(model.head(), Head::GapLinear { .. }));
    let fast = attention::grad_cam(&model, &features, &pairs, false).unwrap();
    let slow =
        attention::grad_cam_autograd(&features, &pairs, |f| model.head_forward(f, false)).unwrap();
    assert_eq!(fast.dims(), &[3, 2, 2]);
    assert_close("resnet18 gcam", &fast, &slow, 1e-5);
}

#[test]
fn gradients_flow_as_the_method_says() {
    let features = Var::from_tensor(&random("features", &[2, 8, 3, 3])).unwrap();
    let weight = Var::from_tensor(&random("weight", &[5, 8])).unwrap();
    let labels = Tensor::new(&LABELS, &Device::Cpu).unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    let coef = random("coef", &[5, 3, 3]);

    // Grad-CAM: the weights are constants, the features get a gradient.
    let g = attention::grad_cam_linear(features.as_tensor(), weight.as_tensor(), &pairs).unwrap();
    let grads = (g * &coef).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&weight).is_none(), "no gradient into W for gcam");
    let gf = grads.get(&features).expect("gradient into the features");
    assert!(
        gf.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 0.0
    );

    // CAM: both the features and W get gradients; dL/dW[c] = sum_ij coef * F.
    let g = attention::cam(features.as_tensor(), weight.as_tensor(), &pairs).unwrap();
    let grads = (g * &coef).unwrap().sum_all().unwrap().backward().unwrap();
    let gw = grads.get(&weight).expect("gradient into W for cam");
    assert!(grads.get(&features).is_some());
    // Class 3 appears once, in image 0 (pair 1).
    let f0 = features
        .as_tensor()
        .get(0)
        .unwrap()
        .reshape((8, 9))
        .unwrap();
    let c1 = coef.get(1).unwrap().reshape((9, 1)).unwrap();
    let expected = f0.matmul(&c1).unwrap().flatten_all().unwrap();
    assert_close("dL/dW[3]", &gw.get(3).unwrap(), &expected, 1e-6);
}

#[test]
fn empty_batches_give_no_maps_and_cam_needs_a_linear_head() {
    let features = random("features", &[2, 8, 3, 3]);
    let weight = random("weight", &[5, 8]);
    let labels = Tensor::zeros((2, 5), DType::F32, &Device::Cpu).unwrap();
    let pairs = Pairs::from_labels(&labels).unwrap();
    assert!(pairs.is_empty());
    let g = attention::grad_cam_linear(&features, &weight, &pairs).unwrap();
    assert_eq!(g.dims(), &[0, 3, 3]);
    // A class outside the head is refused with a message.
    let bad = Pairs::new(vec![0], vec![9], &Device::Cpu).unwrap();
    let err = attention::cam(&features, &weight, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class 9"), "{err}");
    // Unknown attention names are refused.
    assert!("gradcam++".parse::<AttentionKind>().is_err());
    assert_eq!("cam".parse::<AttentionKind>().unwrap(), AttentionKind::Cam);
}

/// `Classifier::frozen` (the adversarial in the localizer phase): the same
/// outputs and input gradient, no parameter gradients, and the running
/// statistics still move in training mode.
#[test]
fn a_frozen_network_passes_gradients_to_its_input_only() {
    for arch in [Architecture::Resnet18, Architecture::DeeplabLargefov] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = Classifier::new(arch, 3, vb).unwrap();
        let frozen = net.frozen();
        let x = Var::from_tensor(&random("frozen input", &[2, 3, 32, 32])).unwrap();
        let coef = random("frozen coef", &[2, 3]);
        let run = |model: &Classifier| {
            let y = model.forward(x.as_tensor(), false).unwrap();
            let grads = (&y * &coef).unwrap().sum_all().unwrap().backward().unwrap();
            (y, grads)
        };
        let (y_live, g_live) = run(&net);
        let (y_frozen, g_frozen) = run(&frozen);
        assert_close("logits", &y_frozen, &y_live, 0.0);
        assert_close(
            "input gradient",
            g_frozen.get(&x).expect("input gradient (frozen)"),
            g_live.get(&x).expect("input gradient"),
            0.0,
        );
        for (name, var) in net.trainable() {
            assert!(g_live.get(&var).is_some(), "{arch:?} {name}: live gradient");
            assert!(g_frozen.get(&var).is_none(), "{arch:?} {name}: frozen");
        }
        if arch == Architecture::Resnet18 {
            let stat = |m: &Classifier| {
                let p = m.params().iter().find(|p| p.name == "bn1.running_mean");
                p.expect("bn1.running_mean")
                    .var
                    .as_tensor()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            let before = stat(&net);
            frozen.forward(x.as_tensor(), true).unwrap();
            assert_ne!(
                stat(&net),
                before,
                "the frozen copy moves the shared statistics"
            );
        }
    }
}
