//! Integration tests of eader-dataset, one test binary.

mod util;

mod demo;
mod loader;
mod transforms;
mod voc;
