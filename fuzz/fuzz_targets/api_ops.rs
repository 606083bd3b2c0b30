//! Fuzz target `api_ops`: the oracle is `hybi_fuzz::api_ops` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::api_ops(data));
