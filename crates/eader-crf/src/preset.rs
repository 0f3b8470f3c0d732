//! CRF settings published with the WSSS codebases that use them.

use std::fmt;
use std::str::FromStr;

use crate::crf::{BilateralKernel, CrfConfig, GaussianKernel};
use crate::error::{Error, Result};

/// A named CRF setting, read from the code of the repository it is named after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// jiwoon-ahn/psa (AffinityNet), `tool/imutils.py::crf_inference` at 9493e59:
    /// `addPairwiseGaussian(sxy=3/scale_factor, compat=3)`,
    /// `addPairwiseBilateral(sxy=80/scale_factor, srgb=13, rgbim=img, compat=10)`,
    /// `t=10`, on `unary_from_softmax` of [`crate::psa_background`] scores
    /// (`scale_factor = 1`).
    Psa,
    /// jiwoon-ahn/irn, `misc/imutils.py::crf_inference_label` at a2ece00:
    /// `addPairwiseGaussian(sxy=3, compat=3)`,
    /// `addPairwiseBilateral(sxy=50, srgb=5, rgbim=img, compat=10)`, `t=10`, on
    /// `unary_from_labels(labels, n_labels, gt_prob=0.7, zero_unsure=False)` of
    /// [`crate::labels_from_threshold`] labels.
    Irn,
    /// kazuto1011/deeplab-pytorch, `configs/voc12.yaml` (`CRF:` `ITER_MAX: 10`,
    /// `POS_W: 3`, `POS_XY_STD: 1`, `BI_W: 4`, `BI_XY_STD: 67`, `BI_RGB_STD: 3`) as used
    /// by `libs/utils/crf.py` at 4219467 on `unary_from_softmax` of the segmentation
    /// network's probabilities. The Gaussian's `sxy` is 1, not 3.
    Deeplab,
}

impl Preset {
    /// The names [`Preset::from_str`] accepts, in declaration order.
    pub const NAMES: [&'static str; 3] = ["psa", "irn", "deeplab"];

    /// Every preset, in declaration order.
    pub const ALL: [Preset; 3] = [Preset::Psa, Preset::Irn, Preset::Deeplab];

    /// The preset's name (`"psa"`, `"irn"`, `"deeplab"`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Psa => "psa",
            Preset::Irn => "irn",
            Preset::Deeplab => "deeplab",
        }
    }

    /// The kernels and iterations of the preset.
    pub fn config(self) -> CrfConfig {
        let (gaussian, bilateral) = match self {
            Preset::Psa => ((3.0, 3.0), (80.0, 13.0, 10.0)),
            Preset::Irn => ((3.0, 3.0), (50.0, 5.0, 10.0)),
            Preset::Deeplab => ((1.0, 3.0), (67.0, 3.0, 4.0)),
        };
        CrfConfig {
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
        }
    }
}

impl FromStr for Preset {
    type Err = Error;

    /// Parses a name of [`Preset::NAMES`] (case-insensitive).
    fn from_str(name: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownPreset {
                name: name.to_string(),
            })
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
