//! Grids of eader training runs, the paper's claims as a measurement:
//! alpha values x seeds, each point a normal experiment folder evaluated
//! under one protocol, summarised as mean ± std over seeds.
//!
//! - [`grid`]: the points (`--alpha 0,0.01,0.05 --seeds 0,1,2`) and their folder names;
//! - [`runs`]: the state of a run folder (fresh, interrupted, trained,
//!   complete) and what a finished run measured;
//! - [`aggregate`]: the metrics and their mean ± std per alpha;
//! - [`report`]: `study.csv`, `study.json`, `study.md` and the plots.
//!
//! The crate plans and summarises; training and evaluating each run is the
//! caller's (the `eader study` command drives eader-train and eader-eval).

pub mod aggregate;
mod error;
pub mod grid;
pub mod report;
pub mod runs;

pub use aggregate::{aggregate, AlphaSummary, Metric, Stat, METRICS};
pub use error::{Error, Result};
pub use grid::{parse_list, Grid, Point};
pub use report::StudyReport;
pub use runs::{read_result, run_dir, run_state, RunResult, RunState};
