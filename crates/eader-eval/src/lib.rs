//! Evaluation of eader localizers: the stage after erasing and before
//! training in the flow (dataset → models → erasing → **eval** → train → cli),
//! and the place later stages (CRF, affinity refinement, a segmentation
//! network) plug into. It knows networks, maps and label maps; nothing of the
//! trainer.
//!
//! - [`maps`]: attention maps at image size, single scale (the method's own
//!   path) or multi-scale + flip.
//! - [`segmentation`]: the one segmentation rule (threshold, background
//!   score, argmax), [`BestLabels`].
//! - [`sweep`]: many thresholds in one pass, the oracle and held-out choices.
//! - [`coverage`]: the maps' area and, with part maps (the demo's face and
//!   body), where their mass goes.
//! - [`pass`]: [`evaluate_split`], the pass over a split at original size
//!   that both `eader evaluate` and training's validation run.
//! - [`protocol`]: the named protocols (`eader`, `wsss`) and their card.
//! - [`refine`]: dense-CRF refinement of the maps (eader-crf, presets of the
//!   WSSS codebases), scored beside the plain maps in the same pass.
//! - [`outputs`]: pseudo-label PNGs, `.npz` maps and visuals, written
//!   atomically, resumable.
//! - [`visuals`]: heatmaps, overlays, erased images and coloured label maps.
//! - [`infer`]: maps and segmentation maps of unlabelled images.
#![warn(missing_docs)]

pub mod coverage;
mod error;
pub mod infer;
pub mod maps;
pub mod outputs;
pub mod pass;
pub mod protocol;
pub mod refine;
pub mod segmentation;
pub mod sweep;
pub mod visuals;

pub use coverage::{CoverageReport, MapCoverage, PartShares};
pub use error::{Error, Result};
pub use maps::{image_maps, ImageMaps, MapClasses, MapConfig};
pub use outputs::{Existing, SaveDirs, VisualStyle};
pub use pass::{
    evaluate_split, CrfReport, EvalReport, EvalSettings, PassObserver, Progress, Timing,
};
pub use protocol::{LabelSource, Protocol, ProtocolCard};
pub use refine::{relation_labels, CrfRefinement, CrfUnary};
pub use segmentation::{segmentation_map, BestLabels, BACKGROUND_SCORE};
pub use sweep::{merge_thresholds, parse_thresholds, SweepReport};
