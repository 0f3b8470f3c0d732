//! The walk against IRN's own `propagate_to_edge` (fixture from
//! `tests/fixtures/make_fixtures.py`): in f64 it is IRN's float64 run to
//! 1e-9; in f32 it is at least as close to that truth as IRN's float32 run.

use eader_affinity::{
    labels_from_walk, propagate, Neighbourhood, IRN_BACKGROUND, IRN_BETA, IRN_EXP_TIMES, IRN_RADIUS,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    height: usize,
    width: usize,
    channels: usize,
    edge: Vec<f64>,
    maps: Vec<f64>,
    rw_float32: Vec<f64>,
    rw_float64: Vec<f64>,
    image_height: usize,
    image_width: usize,
    keys: Vec<u8>,
    labels: Vec<u8>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/walk.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// eader's walk of the fixture's maps and boundary in f32.
fn walk_f32(f: &Fixture) -> Vec<f32> {
    let maps: Vec<f32> = f.maps.iter().map(|&v| v as f32).collect();
    let edge: Vec<f32> = f.edge.iter().map(|&v| v as f32).collect();
    let n = Neighbourhood::new(IRN_RADIUS).unwrap();
    propagate(&maps, &edge, f.height, f.width, &n, IRN_BETA, IRN_EXP_TIMES).unwrap()
}

/// max |a − b| / max |b|.
fn relative(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn the_walk_is_irns_propagate_to_edge() {
    let f = fixture();
    assert_eq!(f.maps.len(), f.channels * f.height * f.width);
    let n = Neighbourhood::new(IRN_RADIUS).unwrap();
    let walk64 = propagate(
        &f.maps,
        &f.edge,
        f.height,
        f.width,
        &n,
        IRN_BETA,
        IRN_EXP_TIMES,
    )
    .unwrap();
    let err64 = relative(&walk64, &f.rw_float64);
    assert!(err64 < 1e-9, "f64 walk vs IRN float64: {err64:e}");

    let walk32: Vec<f64> = walk_f32(&f).into_iter().map(f64::from).collect();
    let ours = relative(&walk32, &f.rw_float64);
    let theirs = relative(&f.rw_float32, &f.rw_float64);
    // IRN's float32 run (T squared 8 times) is 4.1e-5 from the truth; the walk
    // keeps f32 weights but walks in f64.
    eprintln!("from IRN's float64 run: f32 walk {ours:e}, IRN's float32 {theirs:e}");
    assert!(
        ours <= theirs,
        "f32 walk {ours:e} vs IRN's own float32 {theirs:e} (from float64)"
    );
}

#[test]
fn labels_are_irns_make_sem_seg_labels() {
    let f = fixture();
    let shapes = ((f.height, f.width), (f.image_height, f.image_width));
    // From IRN's own float32 walk: the same labels, pixel for pixel.
    let theirs: Vec<f32> = f.rw_float32.iter().map(|&v| v as f32).collect();
    let labels = labels_from_walk(&theirs, &f.keys, shapes.0, shapes.1, IRN_BACKGROUND).unwrap();
    assert_eq!(labels, f.labels);
    // From eader's walk: the same labels but where IRN's float32 rounding
    // decides a near-tie (none on this fixture).
    let ours =
        labels_from_walk(&walk_f32(&f), &f.keys, shapes.0, shapes.1, IRN_BACKGROUND).unwrap();
    let differ = ours.iter().zip(&f.labels).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} of {} pixels differ", ours.len());
    // Maps that do not cover the image are refused.
    let e = labels_from_walk(
        &theirs,
        &f.keys,
        shapes.0,
        (4 * f.height + 1, f.image_width),
        0.25,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not cover"), "{e}");
}
