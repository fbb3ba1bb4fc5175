#![no_main]
//! Fuzz target: see `fuzz_harness::mcp_schema` for what every input must satisfy.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::mcp_schema(data));
