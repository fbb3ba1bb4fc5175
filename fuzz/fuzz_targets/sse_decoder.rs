#![no_main]
//! Fuzz target: see `fuzz_harness::sse_decoder` for what every input must satisfy.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::sse_decoder(data));
