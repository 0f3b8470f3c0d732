//! Integration tests of eader-crf, one binary: parity with pydensecrf2 on committed
//! fixtures, properties of the CRF, and the errors bad inputs give.

mod errors;
mod parity;
mod properties;
mod util;
