//! Fuzz target `fixed_storage`: the oracle is `hybi_fuzz::fixed_storage` (fuzz/src/fixed_storage.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::fixed_storage(data));
