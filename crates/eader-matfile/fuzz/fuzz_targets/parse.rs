//! Any bytes: parsing gives a value or an error, never a panic, an abort or
//! an unbounded allocation; whatever parses can be written back.
#![no_main]

use eader_matfile::{MatFile, WriteOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = MatFile::parse(data) {
        // The writer may refuse what it cannot store, but must not panic.
        let _ = file.to_bytes(WriteOptions { compress: false });
    }
});
