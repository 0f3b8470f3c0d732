//! End-to-end tests of the whole pipeline, one test binary (see ARCHITECTURE.md).

mod metrics;
