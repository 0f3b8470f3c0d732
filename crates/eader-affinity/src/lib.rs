//! Affinity refinement after IRN (Ahn, Cho & Kwak, "Weakly Supervised
//! Learning of Instance Segmentation with Inter-pixel Relations", CVPR 2019;
//! code: jiwoon-ahn/irn, its semantic path).
//!
//! - [`paths`]: the neighbourhood of inter-pixel relations within a radius and
//!   the path of pixels between each pair;
//! - [`walk`]: affinities from a boundary map (`1 − max B` along the path), the
//!   transition matrix and the random walk that spreads attention maps up to
//!   the boundaries, sparse: `O(N · neighbours)` memory where IRN's dense
//!   matrix takes `N²`.
//!
//! Plain slices in, plain slices out: no tensors, no other eader crate.

mod error;
pub mod paths;
mod real;
pub mod walk;

pub use error::{Error, Result};
pub use paths::{Direction, Neighbourhood};
pub use real::Real;
pub use walk::{
    labels_from_walk, propagate, Transition, IRN_BACKGROUND, IRN_BETA, IRN_EXP_TIMES, IRN_RADIUS,
};
