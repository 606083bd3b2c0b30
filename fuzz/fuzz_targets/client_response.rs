//! Fuzz target `client_response`: the oracle is `hybi_fuzz::client_response` (fuzz/src/client_response.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::client_response(data));
