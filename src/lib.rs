//! eader: end-to-end adversarial erasing (EADER, Stammes et al., arXiv 2011.04626)
//! for weakly-supervised semantic segmentation.
//!
//! This facade re-exports the workspace's crates; depend on a single crate
//! (`eader-metrics`, …) when you need only one stage of the pipeline. See
//! `ARCHITECTURE.md` for how data flows between them.
#![warn(missing_docs)]

pub use eader_affinity as affinity;
pub use eader_dataset as dataset;
pub use eader_erasing as erasing;
pub use eader_eval as eval;
pub use eader_fs as fs;
pub use eader_kernels as kernels;
pub use eader_matfile as matfile;
pub use eader_metrics as metrics;
pub use eader_models as models;
pub use eader_study as study;
pub use eader_train as train;
