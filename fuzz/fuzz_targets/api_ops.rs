//! Fuzz target `api_ops`: the oracle is `hybi_fuzz::api_ops` (fuzz/src/api_ops/mod.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::api_ops(data));
