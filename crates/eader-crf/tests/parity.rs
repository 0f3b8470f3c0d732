//! Parity with pydensecrf2: fixtures written by `tests/fixtures/make_fixtures.py`
//! (see its docstring for how each array was obtained).

use eader_crf::{
    psa_background, unary_from_labels, unary_from_softmax, BilateralKernel, CrfConfig, DenseCrf,
    GaussianKernel, Permutohedral,
};

use crate::util::{argmax, load_f32, load_u8, transpose};

/// Features of `DenseCRF2D::addPairwiseGaussian` / `addPairwiseBilateral`, point-major.
fn features(width: usize, height: usize, sxy: f32, colour: Option<(&[u8], f32)>) -> Vec<f32> {
    let mut f = Vec::new();
    for y in 0..height {
        for x in 0..width {
            f.push(x as f32 / sxy);
            f.push(y as f32 / sxy);
            if let Some((rgb, srgb)) = colour {
                f.extend(
                    rgb[(y * width + x) * 3..][..3]
                        .iter()
                        .map(|&c| c as f32 / srgb),
                );
            }
        }
    }
    f
}

/// Largest |ours - theirs| over the largest |theirs|.
fn relative_max_error(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
        / scale
}

/// The lattice alone against pydensecrf's `Permutohedral::compute`, on a constant and a
/// random signal, both kernels of the lattice fixtures (64x48 image, Gaussian sxy 3,
/// bilateral sxy 10 srgb 13).
///
/// Tolerance 1e-5 of the output's scale: both sides run the same f32 arithmetic
/// (elevation, rounding, barycentric weights, [1/2, 1, 1/2] blurs, alpha), so points
/// land in the same simplices and only the summation order of splatting and slicing
/// differs (a few ulp). A point in the wrong simplex, a wrong weight or a missing
/// neighbour moves outputs by percent.
#[test]
fn lattice_matches_pydensecrf() {
    let (shape, rgb) = load_u8("lattice/image.npy");
    let (height, width) = (shape[0], shape[1]);
    let n = width * height;
    let (_, q0) = load_f32("lattice/random_q0.npy");
    for (kernel, feats, dim) in [
        ("gaussian", features(width, height, 3.0, None), 2),
        (
            "bilateral",
            features(width, height, 10.0, Some((&rgb, 13.0))),
            5,
        ),
    ] {
        let lattice = Permutohedral::new(&feats, dim).unwrap();
        assert_eq!(lattice.n_points(), n);

        let (shape, theirs) = load_f32(&format!("lattice/{kernel}_constant.npy"));
        assert_eq!(shape, [2, n]);
        let ours = transpose(&lattice.filter(&vec![0.5; 2 * n], 2), n, 2);
        let constant = relative_max_error(&ours, &theirs);

        let (shape, theirs) = load_f32(&format!("lattice/{kernel}_random.npy"));
        assert_eq!(shape, [4, n]);
        let ours = transpose(&lattice.filter(&transpose(&q0, 4, n), 4), n, 4);
        let random = relative_max_error(&ours, &theirs);
        eprintln!(
            "lattice {kernel}: {} vertices, max error / scale: constant {constant:.2e}, random {random:.2e}",
            lattice.n_vertices()
        );
        assert!(
            constant < 1e-5 && random < 1e-5,
            "{kernel}: constant {constant}, random {random}"
        );
    }
}

enum Input {
    Probs,
    Labels,
    Cams,
}

/// One inference fixture: a row of `make_fixtures.py`'s `CASES`.
struct Case {
    name: &'static str,
    width: usize,
    height: usize,
    n_labels: usize,
    input: Input,
    /// sxy, compat.
    gaussian: (f32, f32),
    /// sxy, srgb, compat.
    bilateral: (f32, f32, f32),
}

const fn case(
    name: &'static str,
    (width, height, n_labels): (usize, usize, usize),
    input: Input,
    gaussian: (f32, f32),
    bilateral: (f32, f32, f32),
) -> Case {
    Case {
        name,
        width,
        height,
        n_labels,
        input,
        gaussian,
        bilateral,
    }
}

/// The table of `make_fixtures.py`'s `CASES`.
const CASES: [Case; 5] = [
    case(
        "psa_2",
        (64, 48, 2),
        Input::Probs,
        (3.0, 3.0),
        (80.0, 13.0, 10.0),
    ),
    case(
        "irn_3",
        (45, 60, 3),
        Input::Labels,
        (3.0, 3.0),
        (50.0, 5.0, 10.0),
    ),
    case(
        "deeplab_3",
        (80, 56, 3),
        Input::Probs,
        (1.0, 3.0),
        (67.0, 3.0, 4.0),
    ),
    case(
        "psa_21",
        (40, 32, 21),
        Input::Cams,
        (3.0, 3.0),
        (80.0, 13.0, 10.0),
    ),
    case(
        "custom_4",
        (36, 36, 4),
        Input::Probs,
        (5.0, 2.0),
        (20.0, 8.0, 6.0),
    ),
];

/// Full 10-iteration inference against pydensecrf's `DenseCRF2D.inference(10)`:
/// argmax agreement >= 99.5% of pixels and mean |dQ| <= 1e-3 (the bar).
#[test]
fn inference_matches_pydensecrf() {
    for Case {
        name,
        width,
        height,
        n_labels,
        input,
        gaussian,
        bilateral,
    } in CASES
    {
        let (shape, rgb) = load_u8(&format!("{name}/image.npy"));
        assert_eq!(shape, [height, width, 3], "{name}");
        let unary = match input {
            Input::Probs => unary_from_softmax(&load_f32(&format!("{name}/probs.npy")).1).unwrap(),
            Input::Labels => {
                let labels: Vec<u32> = load_u8(&format!("{name}/labels.npy"))
                    .1
                    .iter()
                    .map(|&l| l as u32)
                    .collect();
                unary_from_labels(&labels, n_labels, 0.7, false).unwrap()
            }
            Input::Cams => {
                let cams = load_f32(&format!("{name}/cams.npy")).1;
                unary_from_softmax(&psa_background(&cams, n_labels - 1, 4.0).unwrap()).unwrap()
            }
        };
        let config = CrfConfig {
            gaussian: Some(GaussianKernel {
                sxy: gaussian.0,
                compat: gaussian.1,
            }),
            bilateral: Some(BilateralKernel {
                sxy: bilateral.0,
                srgb: bilateral.1,
                compat: bilateral.2,
            }),
            iterations: 10,
        };
        let ours = config
            .build(width, height, n_labels, &rgb)
            .unwrap()
            .inference(&unary, 10)
            .unwrap();
        let (shape, theirs) = load_f32(&format!("{name}/q.npy"));
        assert_eq!(shape, [n_labels, height, width], "{name}");

        let (a, b) = (argmax(&ours, n_labels), argmax(&theirs, n_labels));
        let agreement = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
        let diffs: Vec<f64> = ours
            .iter()
            .zip(&theirs)
            .map(|(x, y)| (x - y).abs() as f64)
            .collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let max = diffs.iter().copied().fold(0.0, f64::max);
        eprintln!(
            "{name} ({width}x{height}, {n_labels} labels): argmax agreement {:.4}%, mean |dQ| {mean:.2e}, max |dQ| {max:.2e}",
            100.0 * agreement
        );
        assert!(agreement >= 0.995, "{name}: argmax agreement {agreement}");
        assert!(mean <= 1e-3, "{name}: mean |dQ| {mean}");
    }
}

/// The same inference with a run-time width (more labels than the compiled widths) and
/// a batch give the same marginals as one image on its own.
#[test]
fn batch_and_wide_labels_match_single_image() {
    let (_, rgb) = load_u8("psa_21/image.npy");
    let cams = load_f32("psa_21/cams.npy").1;
    let unary = unary_from_softmax(&psa_background(&cams, 20, 4.0).unwrap()).unwrap();
    let config = eader_crf::Preset::Psa.config();
    let single = config
        .build(40, 32, 21, &rgb)
        .unwrap()
        .inference(&unary, 10)
        .unwrap();
    let image = eader_crf::CrfImage {
        width: 40,
        height: 32,
        n_labels: 21,
        rgb: &rgb,
        unary: &unary,
    };
    for q in config.run_batch(&[image, image, image]) {
        assert_eq!(q.unwrap(), single);
    }
    // 21 labels padded to 24 lanes use a compile-time width; 30 labels (32 lanes) the
    // run-time one. Their first 21 labels' scores decide the same way when the extra
    // labels are hopeless.
    let mut wide = unary.clone();
    wide.extend(std::iter::repeat_n(50.0, 9 * 40 * 32));
    let q = DenseCrf::new(40, 32, 30)
        .unwrap()
        .gaussian(3.0, 3.0)
        .unwrap()
        .bilateral(80.0, 13.0, 10.0, &rgb)
        .unwrap()
        .inference(&wide, 10)
        .unwrap();
    assert_eq!(argmax(&q, 30), argmax(&single, 21));
}
