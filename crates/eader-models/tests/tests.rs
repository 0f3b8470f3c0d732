//! One test binary for eader-models (linked once): parity with PyTorch on
//! committed fixtures, weights round trips, attention maps, the hub cache.

mod common;

mod attention_maps;
#[cfg(feature = "hub")]
mod hub;
mod parity;
mod weights_io;
