//! eader-kernels' tests, one binary: PyTorch fixtures, candle's composed ops,
//! f64 finite differences, and property tests over random shapes.

mod composed;
mod fixtures_torch;
mod gradcheck;
mod props;
mod util;
