#![no_main]
//! Fuzz target: see `fuzz_harness::chat_completions_stream` for what every input must satisfy.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::chat_completions_stream(data));
