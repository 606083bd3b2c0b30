//! Fuzz target `client_connection`: the oracle is `hybi_fuzz::client_connection` (fuzz/src/open_connection.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::client_connection(data));
