//! Fuzz target `round_trip`: the oracle is `hybi_fuzz::round_trip` (fuzz/src/round_trip.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hybi_fuzz::round_trip(data));
