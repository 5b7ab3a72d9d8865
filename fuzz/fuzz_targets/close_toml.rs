//! Fuzz target: `close_toml` of fuzz/src/close.rs on arbitrary bytes. The harness file is
//! included here rather than in the library because only this target needs the host crate.

#![no_main]

#[path = "../src/close.rs"]
mod close;

libfuzzer_sys::fuzz_target!(|data: &[u8]| close::close_toml(data));
