//! Integration tests of eader-crf, one binary.
