//! Fuzz target: `closebook_fuzz::journal_csv` (see fuzz/src/lib.rs) on arbitrary bytes.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| closebook_fuzz::journal_csv(data));
