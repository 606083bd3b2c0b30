//! Fuzz target `server_handshake`: the oracle is `hybi_fuzz::server_handshake` (fuzz/src/server_handshake.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::server_handshake(data));
