//! Fuzz target: `closebook_fuzz::setup_toml` (see fuzz/src/lib.rs) on arbitrary bytes.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| closebook_fuzz::setup_toml(data));
