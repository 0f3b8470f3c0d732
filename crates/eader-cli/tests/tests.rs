//! End-to-end tests of the `eader` binary's train, evaluate, infer, inspect
//! crf and study commands on tiny generated data (one test binary, see ripgrep's layout).

mod classes80;
mod crf;
mod evaluate;
mod infer;
mod inspect;
mod study;
mod train;
mod util;
