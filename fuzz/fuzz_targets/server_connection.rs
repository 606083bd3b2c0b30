//! Fuzz target `server_connection`: the oracle is `hybi_fuzz::server_connection` (fuzz/src/open_connection.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::server_connection(data));
