//! The facade exposes the metrics crate.

use eader::metrics::ConfusionMatrix;

#[test]
fn facade_reexports_metrics() {
    let mut matrix = ConfusionMatrix::new(2).expect("two classes");
    matrix.update(&[0, 1], &[0, 1]).expect("valid maps");
    let metrics = matrix.metrics(&["background", "thing"]).expect("names");
    assert_eq!(metrics.miou, 1.0 / (1.0 + 1e-10));
}
