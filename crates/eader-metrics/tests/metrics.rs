//! Metrics: hand-computed cases, error cases, a scikit-learn fixture, and
//! properties (fast update = naive count, parallel = serial, bit for bit).

use eader_metrics::{AverageMeter, ConfusionMatrix, Error, SegmentationMetrics, IGNORE_INDEX};
use proptest::prelude::*;

const VOID: u8 = IGNORE_INDEX;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class{i}")).collect()
}

fn metrics_of(n: usize, pred: &[u8], gt: &[u8]) -> SegmentationMetrics {
    let mut matrix = ConfusionMatrix::new(n).expect("valid class count");
    matrix.update(pred, gt).expect("valid maps");
    matrix.metrics(&names(n)).expect("one name per class")
}

/// Values are f64 ratios of the same integer counts; hand-written expectations
/// leave out the 1e-10 epsilon of the denominators (a relative change below
/// 1e-10), so 1e-9 relative is tight.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn hand_computed_three_classes() {
    // gt:   0 0 1 1 1 2 V V
    // pred: 0 1 1 1 0 2 2 0
    let gt = [0, 0, 1, 1, 1, 2, VOID, VOID];
    let pred = [0, 1, 1, 1, 0, 2, 2, 0];
    let mut matrix = ConfusionMatrix::new(3).unwrap();
    matrix.update(&pred, &gt).unwrap();
    assert_eq!(matrix.counts(), &[1, 1, 0, 1, 2, 0, 0, 0, 1]);
    assert_eq!(matrix.total(), 6);
    let m = matrix.metrics(&names(3)).unwrap();
    // class 0: I=1, gt=2, pred=2 -> U=3; class 1: I=2, gt=3, pred=3 -> U=4; class 2: I=1, U=1.
    assert!(close(m.classes[0].iou, 1.0 / (3.0 + 1e-10)));
    assert!(close(m.classes[1].iou, 2.0 / (4.0 + 1e-10)));
    assert!(close(m.classes[2].iou, 1.0 / (1.0 + 1e-10)));
    assert!(close(m.classes[1].precision, 2.0 / (3.0 + 1e-10)));
    assert!(close(m.classes[1].recall, 2.0 / (3.0 + 1e-10)));
    assert!(close(m.miou, (1.0 / 3.0 + 0.5 + 1.0) / 3.0));
    assert!(close(m.miou_present, m.miou));
    // means over foreground only: classes 1 and 2.
    assert!(close(m.mean_precision, (2.0 / 3.0 + 1.0) / 2.0));
    assert!(close(m.mean_recall, (2.0 / 3.0 + 1.0) / 2.0));
    assert!(close(m.pixel_accuracy, 4.0 / 6.0));
    assert_eq!(m.scored_pixels, 6);
    assert_eq!(m.classes[0].union, 3);
}

#[test]
fn class_absent_from_both_counts_zero_in_miou_only() {
    // Class 2 never occurs: it lowers `miou` (the reference's number) but not `miou_present`.
    let m = metrics_of(3, &[0, 1, 1, 0], &[0, 1, 1, 0]);
    assert_eq!(m.classes[2].iou, 0.0);
    assert_eq!(m.classes[2].union, 0);
    assert!(close(m.miou, 2.0 / 3.0 * (2.0 / (2.0 + 1e-10))));
    assert!(close(m.miou_present, 2.0 / (2.0 + 1e-10)));
}

#[test]
fn class_predicted_but_absent_from_ground_truth() {
    let m = metrics_of(3, &[2, 2, 1, 0], &[0, 0, 1, 0]);
    let absent = &m.classes[2];
    assert_eq!(
        (absent.predicted_pixels, absent.ground_truth_pixels),
        (2, 0)
    );
    assert_eq!(
        (absent.iou, absent.precision, absent.recall),
        (0.0, 0.0, 0.0)
    );
    // Present classes: 0 (I=1, U=3) and 1 (I=1, U=1).
    assert!(close(m.miou_present, (1.0 / 3.0 + 1.0) / 2.0));
    assert!(close(m.miou, (1.0 / 3.0 + 1.0 + 0.0) / 3.0));
}

#[test]
fn all_ignored_maps_score_nothing() {
    let m = metrics_of(21, &[3; 17], &[VOID; 17]);
    assert_eq!(m.scored_pixels, 0);
    assert_eq!(m.pixel_accuracy, 0.0);
    assert_eq!(m.miou, 0.0);
    assert_eq!(m.miou_present, 0.0);
    assert!(m.classes.iter().all(|c| c.predicted_pixels == 0));
}

#[test]
fn empty_maps_are_fine() {
    let m = metrics_of(21, &[], &[]);
    assert_eq!(m.scored_pixels, 0);
}

#[test]
fn bad_input_is_an_error_and_leaves_the_matrix_unchanged() {
    let mut matrix = ConfusionMatrix::new(3).unwrap();
    matrix.update(&[1], &[1]).unwrap();
    let before = matrix.clone();
    assert_eq!(
        matrix.update(&[0, 1], &[0]),
        Err(Error::LengthMismatch {
            prediction: 2,
            ground_truth: 1
        })
    );
    assert_eq!(
        matrix.update(&[0, 1, 3, 7], &[0, 0, 0, 0]),
        Err(Error::PredictionOutOfRange {
            label: 3,
            pixel: 2,
            n_classes: 3
        })
    );
    // 255 is not a valid prediction either, even where the ground truth is void.
    assert!(matches!(
        matrix.update(&[255], &[VOID]),
        Err(Error::PredictionOutOfRange { label: 255, .. })
    ));
    assert_eq!(
        matrix.update(&[0, 0, 0, 0, 0], &[0, VOID, 1, 2, 9]),
        Err(Error::GroundTruthOutOfRange {
            label: 9,
            pixel: 4,
            n_classes: 3
        })
    );
    assert_eq!(matrix, before);
    assert_eq!(ConfusionMatrix::new(0), Err(Error::InvalidClassCount(0)));
    assert_eq!(
        ConfusionMatrix::new(256),
        Err(Error::InvalidClassCount(256))
    );
    assert!(ConfusionMatrix::new(255).is_ok());
    let other = ConfusionMatrix::new(4).unwrap();
    assert_eq!(
        matrix.merge(&other),
        Err(Error::ClassCountMismatch { left: 3, right: 4 })
    );
    assert_eq!(
        matrix.metrics(&names(2)),
        Err(Error::ClassNamesMismatch {
            names: 2,
            n_classes: 3
        })
    );
    let error = matrix.update(&[5], &[0]).unwrap_err().to_string();
    assert_eq!(error, "prediction label 5 at pixel 0 is outside 0..3");
}

#[test]
fn parallel_reports_the_first_bad_map() {
    let maps = vec![(vec![0u8, 1], vec![0u8, 1]), (vec![9u8], vec![0u8])];
    let result = ConfusionMatrix::from_par_maps(3, maps);
    assert!(matches!(
        result,
        Err(Error::PredictionOutOfRange { label: 9, .. })
    ));
}

#[test]
fn table_shows_the_background_iou_not_the_mean() {
    let mut matrix = ConfusionMatrix::new(3).unwrap();
    matrix.update(&[0, 0, 1, 2], &[0, 1, 1, 2]).unwrap();
    let m = matrix.metrics(&["background", "cat", "dog"]).unwrap();
    let table = m.table();
    let background_row = table.lines().find(|l| l.starts_with("background")).unwrap();
    let shown: f64 = background_row
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((shown - 100.0 * m.classes[0].iou).abs() < 0.006, "{table}");
    assert!((shown - 100.0 * m.miou).abs() > 1.0, "{table}");
    assert!(table.contains("mean (all classes)"));
    assert!(table.contains("mIoU (present classes)"));
    assert_eq!(table, m.to_string());
}

#[test]
fn metrics_round_trip_through_json() {
    let m = metrics_of(3, &[0, 1, 2, 2], &[0, 1, 1, 2]);
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains("\"miou_present\""));
    let back: SegmentationMetrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

#[test]
fn add_and_merge_sum_counts() {
    let mut a = ConfusionMatrix::new(2).unwrap();
    a.update(&[0, 1], &[0, 0]).unwrap();
    let mut b = ConfusionMatrix::new(2).unwrap();
    b.update(&[1, 1, 1], &[1, VOID, 0]).unwrap();
    let sum = a.clone() + b.clone();
    assert_eq!(sum.counts(), &[1, 2, 0, 1]);
    a.merge(&b).unwrap();
    assert_eq!(a, sum);
    a.reset();
    assert_eq!(a.total(), 0);
}

#[test]
fn average_meter_weights_by_count() {
    let mut meter = AverageMeter::new();
    meter.update(2.0, 3);
    meter.update(6.0, 1);
    assert_eq!(meter.mean(), 3.0);
}

/// Numbers from scikit-learn and numpy (tests/fixtures/make_fixture.py).
#[test]
fn matches_scikit_learn_fixture() {
    #[derive(serde::Deserialize)]
    struct Map {
        prediction: Vec<u8>,
        ground_truth: Vec<u8>,
    }
    #[derive(serde::Deserialize)]
    struct Fixture {
        n_classes: usize,
        maps: Vec<Map>,
        confusion: Vec<u64>,
        iou: Vec<f64>,
        precision: Vec<f64>,
        recall: Vec<f64>,
        miou: f64,
        miou_present: f64,
        mean_precision: f64,
        mean_recall: f64,
        pixel_accuracy: f64,
    }
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/reference.json")).expect("fixture parses");
    let mut matrix = ConfusionMatrix::new(fixture.n_classes).unwrap();
    for map in &fixture.maps {
        matrix.update(&map.prediction, &map.ground_truth).unwrap();
    }
    assert_eq!(matrix.counts(), fixture.confusion.as_slice());
    let m = matrix.metrics(&names(fixture.n_classes)).unwrap();
    for (class_idx, class) in m.classes.iter().enumerate() {
        assert!(
            close(class.iou, fixture.iou[class_idx]),
            "iou of {class_idx}"
        );
        assert!(
            close(class.precision, fixture.precision[class_idx]),
            "precision of {class_idx}"
        );
        assert!(
            close(class.recall, fixture.recall[class_idx]),
            "recall of {class_idx}"
        );
    }
    assert!(close(m.miou, fixture.miou));
    assert!(close(m.miou_present, fixture.miou_present));
    assert!(
        m.miou_present > m.miou,
        "the fixture must have absent classes"
    );
    assert!(close(m.mean_precision, fixture.mean_precision));
    assert!(close(m.mean_recall, fixture.mean_recall));
    assert!(close(m.pixel_accuracy, fixture.pixel_accuracy));
}

/// (prediction, ground truth) label maps.
type MapPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Random (prediction, ground truth) maps over `n_classes`, with void pixels.
fn maps_strategy() -> impl Strategy<Value = (usize, MapPairs)> {
    (1usize..30).prop_flat_map(|n_classes| {
        let label = 0..n_classes as u8;
        let gt_label = prop_oneof![4 => 0..n_classes as u8, 1 => Just(VOID)];
        let map = (0usize..300).prop_flat_map(move |len| {
            (
                prop::collection::vec(label.clone(), len),
                prop::collection::vec(gt_label.clone(), len),
            )
        });
        (Just(n_classes), prop::collection::vec(map, 0..12))
    })
}

proptest! {
    #[test]
    fn fast_update_equals_naive_count((n_classes, maps) in maps_strategy()) {
        let mut matrix = ConfusionMatrix::new(n_classes).unwrap();
        let mut naive = vec![0u64; n_classes * n_classes];
        for (pred, gt) in &maps {
            matrix.update(pred, gt).unwrap();
            for (&p, &g) in pred.iter().zip(gt) {
                if g != VOID {
                    naive[g as usize * n_classes + p as usize] += 1;
                }
            }
        }
        prop_assert_eq!(matrix.counts(), naive.as_slice());
    }

    #[test]
    fn parallel_equals_serial_bit_for_bit((n_classes, maps) in maps_strategy()) {
        let mut serial = ConfusionMatrix::new(n_classes).unwrap();
        for (pred, gt) in &maps {
            serial.update(pred, gt).unwrap();
        }
        let parallel = ConfusionMatrix::from_par_maps(n_classes, maps.clone()).unwrap();
        prop_assert_eq!(&parallel, &serial);
        let names = names(n_classes);
        let (a, b) = (serial.metrics(&names).unwrap(), parallel.metrics(&names).unwrap());
        prop_assert_eq!(a.miou.to_bits(), b.miou.to_bits());
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}
