//! Optimizers against `torch.optim` (fixture: `tests/fixtures/make_optim_fixture.py`).

use std::collections::HashMap;
use std::path::PathBuf;

use candle::{Device, Tensor, Var};

use super::*;

fn fixture() -> HashMap<String, Tensor> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/optim.safetensors");
    candle::safetensors::load(&path, &Device::Cpu).expect("fixture (run make_optim_fixture.py)")
}

fn assert_close(name: &str, actual: &Tensor, expected: &Tensor) {
    assert_eq!(actual.dims(), expected.dims(), "{name}: shape");
    let a: Vec<f32> = actual.flatten_all().unwrap().to_vec1().unwrap();
    let e: Vec<f32> = expected.flatten_all().unwrap().to_vec1().unwrap();
    for (i, (a, e)) in a.iter().zip(&e).enumerate() {
        let tol = 1e-4 * e.abs().max(1e-2);
        assert!((a - e).abs() <= tol, "{name}[{i}]: {a} vs torch {e}");
    }
}

/// Runs the fixture's steps: the gradient of `sum(p * g)` is exactly `g`.
fn run(kind: OptimizerKind, lr: f64, fx: &HashMap<String, Tensor>) -> (Optimizer, Var, Var) {
    let w = Var::from_tensor(&fx["init.w"]).unwrap();
    let b = Var::from_tensor(&fx["init.b"]).unwrap();
    let mut opt = Optimizer::new(
        kind,
        lr,
        vec![("w".into(), w.clone()), ("b".into(), b.clone())],
    )
    .unwrap();
    for t in 1..=4 {
        let mut loss = (w.as_tensor() * &fx[&format!("grad.{t}.w")])
            .unwrap()
            .sum_all()
            .unwrap();
        if let Some(gb) = fx.get(&format!("grad.{t}.b")) {
            let lb = (b.as_tensor() * gb).unwrap().sum_all().unwrap();
            loss = (loss + lb).unwrap();
        }
        let grads = loss.backward().unwrap();
        if t == 1 {
            assert!(
                grads.get(b.as_tensor()).is_none(),
                "b has no gradient at step 1"
            );
        }
        opt.step(&grads).unwrap();
        let name = kind.name();
        assert_close(
            &format!("{name} step {t} w"),
            w.as_tensor(),
            &fx[&format!("{name}.{t}.w")],
        );
        assert_close(
            &format!("{name} step {t} b"),
            b.as_tensor(),
            &fx[&format!("{name}.{t}.b")],
        );
    }
    (opt, w, b)
}

/// The learning rates `make_optim_fixture.py` uses.
fn fixture_lr(kind: OptimizerKind) -> f64 {
    match kind {
        OptimizerKind::Sgd => 0.1,
        OptimizerKind::Adam => 0.05,
        OptimizerKind::Rmsprop => 0.01,
    }
}

fn check_against_torch(kind: OptimizerKind) {
    let fx = fixture();
    let lr = fixture_lr(kind);
    let (opt, _, _) = run(kind, lr, &fx);
    let state: HashMap<String, Tensor> = opt.state_tensors("").unwrap().into_iter().collect();
    let prefix = format!("{}.state.", kind.name());
    let mut n_checked = 0;
    for (name, expected) in fx.iter().filter(|(n, _)| n.starts_with(&prefix)) {
        let key = &name[prefix.len()..];
        let actual = state
            .get(key)
            .unwrap_or_else(|| panic!("missing state {key}"));
        let actual = actual.to_dtype(candle::DType::F32).unwrap();
        assert_close(key, &actual, expected);
        n_checked += 1;
    }
    assert_eq!(n_checked, state.len(), "same state tensors as torch");
    assert!(n_checked >= 2);
}

#[test]
fn sgd_matches_torch() {
    check_against_torch(OptimizerKind::Sgd);
}

#[test]
fn adam_matches_torch() {
    check_against_torch(OptimizerKind::Adam);
}

#[test]
fn rmsprop_matches_torch() {
    check_against_torch(OptimizerKind::Rmsprop);
}

#[test]
fn state_round_trip_continues_identically() {
    let fx = fixture();
    for kind in OptimizerKind::ALL {
        // Reference: 4 steps in one optimizer; then a 5th step with the step-4 gradient.
        let lr = fixture_lr(kind);
        let (mut opt, w, b) = run(kind, lr, &fx);
        let state: HashMap<String, Tensor> =
            opt.state_tensors("opt.").unwrap().into_iter().collect();
        let w2 = Var::from_tensor(w.as_tensor()).unwrap();
        let b2 = Var::from_tensor(b.as_tensor()).unwrap();
        let mut restored = Optimizer::new(
            kind,
            lr,
            vec![("w".into(), w2.clone()), ("b".into(), b2.clone())],
        )
        .unwrap();
        restored.load_state(&state, "opt.").unwrap();
        let g = &fx["grad.4.w"];
        for (o, var) in [(&mut opt, &w), (&mut restored, &w2)] {
            let grads = (var.as_tensor() * g)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            o.step(&grads).unwrap();
        }
        let a: Vec<f32> = w.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let r: Vec<f32> = w2.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, r, "{kind}: restored optimizer continues bit for bit");
    }
}

#[test]
fn load_state_rejects_wrong_shapes_and_unknown_names() {
    let fx = fixture();
    let (opt, _, _) = run(OptimizerKind::Adam, 0.05, &fx);
    let mut state: HashMap<String, Tensor> =
        opt.state_tensors("adv.").unwrap().into_iter().collect();
    let fresh = |kind| {
        let w = Var::zeros((3, 4), candle::DType::F32, &Device::Cpu).unwrap();
        let b = Var::zeros(5, candle::DType::F32, &Device::Cpu).unwrap();
        Optimizer::new(kind, 0.05, vec![("w".into(), w), ("b".into(), b)]).unwrap()
    };
    // Adam state into SGD: unknown names.
    let err = fresh(OptimizerKind::Sgd)
        .load_state(&state, "adv.")
        .unwrap_err();
    assert!(
        err.to_string().contains("adv.w.") || err.to_string().contains("adv.b."),
        "{err}"
    );
    assert!(err.to_string().contains("sgd"), "{err}");
    // Wrong shape.
    state.insert(
        "adv.w.exp_avg".into(),
        Tensor::zeros((4, 3), candle::DType::F32, &Device::Cpu).unwrap(),
    );
    let err = fresh(OptimizerKind::Adam)
        .load_state(&state, "adv.")
        .unwrap_err();
    assert!(
        err.to_string().contains("adv.w.exp_avg") && err.to_string().contains("[4, 3]"),
        "{err}"
    );
    // Incomplete state.
    state.remove("adv.w.exp_avg");
    let err = fresh(OptimizerKind::Adam)
        .load_state(&state, "adv.")
        .unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
    // Other prefixes are ignored; an empty state is valid.
    fresh(OptimizerKind::Adam)
        .load_state(&state, "loc.")
        .unwrap();
}

#[test]
fn kind_parses_and_rejects() {
    assert_eq!("adam".parse::<OptimizerKind>(), Ok(OptimizerKind::Adam));
    assert_eq!(
        "RMSprop".parse::<OptimizerKind>(),
        Ok(OptimizerKind::Rmsprop)
    );
    let err = "adagrad".parse::<OptimizerKind>().unwrap_err();
    assert!(err.contains("adagrad") && err.contains("sgd, adam, rmsprop"));
    assert!(Optimizer::new(OptimizerKind::Sgd, f64::NAN, vec![]).is_err());
}
