//! A native, parallel fully-connected CRF (Krähenbühl & Koltun, NIPS 2011) for eader:
//! the first stage of refinement, after attention maps and before pseudo labels
//! (dataset → models → attention maps → **CRF** → segmentation map → metrics).
//!
//! It computes what pydensecrf's `DenseCRF2D` computes, parity-tested against
//! `pydensecrf2` on fixtures (`tests/fixtures/make_fixtures.py`):
//! - [`DenseCrf`]: the CRF of one image; [`DenseCrf::gaussian`] and
//!   [`DenseCrf::bilateral`] add Potts kernels, each filtered by a [`Permutohedral`]
//!   lattice built once; [`DenseCrf::inference`] runs mean field on all labels at once.
//! - [`unary_from_softmax`], [`unary_from_labels`]: unaries as `pydensecrf.utils` makes
//!   them; [`psa_background`] and [`labels_from_threshold`]: the CAM → CRF input of psa
//!   and irn.
//! - [`Preset`]: the settings of psa, irn and deeplab-pytorch as a [`CrfConfig`], which
//!   also runs batches of images in parallel ([`CrfConfig::run_batch`]).
//! - [`io`]: `.npy` arrays and RGB images for the `eader crf` command.
//!
//! Arrays are flat slices, row-major: unaries and marginals `(L, H, W)`, images
//! `(H, W, 3)`; `width` is always the fastest axis. Work runs on the current rayon
//! pool (install one to choose the thread count). This crate knows images and label
//! scores, nothing of networks: it does not depend on candle. It prints nothing.
#![warn(missing_docs)]

mod crf;
mod error;
#[cfg(target_arch = "x86_64")]
mod fused;
pub mod io;
mod lattice;
mod preset;
mod simd;
mod unary;
mod width;

pub use crf::{BilateralKernel, CrfConfig, CrfImage, DenseCrf, GaussianKernel};
pub use error::{Error, Result};
pub use lattice::Permutohedral;
pub use preset::Preset;
pub use unary::{
    labels_from_threshold, psa_background, unary_from_labels, unary_from_softmax, PROBABILITY_CLIP,
};
