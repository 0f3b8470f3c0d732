//! Every bad input gives one named error whose message names the culprit.

use eader_crf::{unary_from_labels, unary_from_softmax, DenseCrf, Error, Preset};

fn message(err: Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

#[test]
fn probabilities_of_another_size_than_the_image() {
    let crf = DenseCrf::new(4, 3, 2).unwrap();
    let err = crf.inference(&[0.0; 3 * 4 * 3], 1).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    let text = message(err);
    assert!(
        text.contains("unary") && text.contains("[2, 3, 4]") && text.contains("[3, 3, 4]"),
        "{text}"
    );

    let err = crf.inference(&[0.0; 7], 1).unwrap_err();
    assert!(message(err).contains("[7]"));

    let err = DenseCrf::new(4, 3, 2)
        .unwrap()
        .bilateral(80.0, 13.0, 10.0, &[0u8; 4 * 3])
        .unwrap_err();
    let text = message(err);
    assert!(
        text.contains("rgb image") && text.contains("[3, 4, 3]") && text.contains("[12]"),
        "{text}"
    );
}

#[test]
fn non_finite_or_negative_values() {
    let err = unary_from_softmax(&[0.5, f32::NAN]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 1, .. }), "{err:?}");
    assert!(message(err).contains("probabilities"));
    let err = unary_from_softmax(&[0.5, f32::INFINITY]).unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 1, .. }), "{err:?}");
    let err = unary_from_softmax(&[0.5, 0.2, -0.1]).unwrap_err();
    assert!(
        matches!(err, Error::NegativeProbability { index: 2, .. }),
        "{err:?}"
    );
    assert!(message(err).contains("negative probability -0.1"));

    let mut unary = vec![1.0; 2 * 6];
    unary[3] = f32::NEG_INFINITY;
    let err = DenseCrf::new(3, 2, 2)
        .unwrap()
        .inference(&unary, 1)
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 3, .. }), "{err:?}");
    assert!(message(err).contains("unary"));

    let err = eader_crf::psa_background(&[0.1, f32::NAN], 1, 4.0).unwrap_err();
    assert!(message(err).contains("cams"));
}

#[test]
fn fewer_than_two_labels() {
    for n_labels in [0, 1] {
        let err = DenseCrf::new(4, 3, n_labels).unwrap_err();
        assert!(matches!(err, Error::TooFewLabels(n) if n == n_labels));
        assert!(message(err).contains(&format!("got {n_labels}")));
        assert!(matches!(
            unary_from_labels(&[0], n_labels, 0.7, false),
            Err(Error::TooFewLabels(_))
        ));
    }
}

#[test]
fn unknown_preset() {
    let err = "crf-as-rnn".parse::<Preset>().unwrap_err();
    assert!(matches!(err, Error::UnknownPreset { .. }));
    let text = message(err);
    assert!(
        text.contains("\"crf-as-rnn\"") && text.contains("psa, irn, deeplab"),
        "{text}"
    );
    for name in Preset::NAMES {
        assert_eq!(name.parse::<Preset>().unwrap().name(), name);
    }
    assert_eq!("PSA".parse::<Preset>().unwrap(), Preset::Psa);
}

#[test]
fn unreadable_image_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jpg");
    let err = eader_crf::io::read_rgb(&missing).unwrap_err();
    assert!(matches!(err, Error::Image { .. }));
    assert!(message(err).contains("missing.jpg"));

    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"\x89PNG but not really").unwrap();
    let err = eader_crf::io::read_rgb(&garbage).unwrap_err();
    assert!(message(err).contains("garbage.png"));

    // A readable one decodes to (H, W, 3).
    let path = dir.path().join("ok.png");
    image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(&path)
        .unwrap();
    let rgb = eader_crf::io::read_rgb(&path).unwrap();
    assert_eq!((rgb.width, rgb.height, rgb.data.len()), (5, 3, 45));
    assert_eq!(&rgb.data[3 * (5 + 2)..][..3], &[2, 1, 7]);
}

#[test]
fn bad_parameters_and_labels() {
    assert!(matches!(
        DenseCrf::new(0, 3, 2),
        Err(Error::EmptyImage {
            width: 0,
            height: 3
        })
    ));
    let crf = || DenseCrf::new(4, 3, 2).unwrap();
    for sxy in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let err = crf().gaussian(sxy, 3.0).unwrap_err();
        assert!(message(err).contains("gaussian sxy"));
    }
    let err = crf().bilateral(80.0, 0.0, 10.0, &[0; 36]).unwrap_err();
    assert!(message(err).contains("bilateral srgb"));
    let err = crf().gaussian(3.0, f32::NAN).unwrap_err();
    assert!(message(err).contains("gaussian compat"));
    // A standard deviation so small that lattice keys would overflow.
    let err = DenseCrf::new(100, 100, 2)
        .unwrap()
        .gaussian(1e-6, 3.0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LatticeOverflow {
                kernel: "gaussian",
                ..
            }
        ),
        "{err:?}"
    );

    for gt_prob in [0.0, 1.0, 1.5, f64::NAN] {
        let err = unary_from_labels(&[0, 1], 2, gt_prob, false).unwrap_err();
        assert!(message(err).contains("gt_prob"));
    }
    let err = unary_from_labels(&[0, 1, 2], 2, 0.7, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                label: 2,
                pixel: 2,
                n_labels: 2
            }
        ),
        "{err:?}"
    );
    // With zero_unsure, labels run 0..=n_labels.
    assert!(unary_from_labels(&[0, 1, 2], 2, 0.7, true).is_ok());
    assert!(unary_from_labels(&[3], 2, 0.7, true).is_err());
}

/// unary_from_labels as pydensecrf computes it (numbers from pydensecrf.utils:
/// `unary_from_labels(np.array([0, 2, 1]), 3, 0.7, zero_unsure=z)`).
#[test]
fn unary_from_labels_values() {
    let n = -((0.3f64 / 2.0).ln()) as f32;
    let p = -(0.7f64.ln()) as f32;
    let u = unary_from_labels(&[0, 2, 1], 3, 0.7, false).unwrap();
    assert_eq!(u, vec![p, n, n, n, n, p, n, p, n]);
    let unsure = -((1.0f64 / 3.0).ln()) as f32;
    let u = unary_from_labels(&[0, 2, 1], 3, 0.7, true).unwrap();
    assert_eq!(u, vec![unsure, n, p, unsure, p, n, unsure, n, n]);
}
