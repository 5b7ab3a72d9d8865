//! Fuzz target: `closebook_fuzz::proposal` (see fuzz/src/lib.rs) on arbitrary bytes.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| closebook_fuzz::proposal(data));
