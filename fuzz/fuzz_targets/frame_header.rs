//! Fuzz target `frame_header`: the oracle is `hybi_fuzz::frame_header` (fuzz/src/frame_header.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::frame_header(data));
