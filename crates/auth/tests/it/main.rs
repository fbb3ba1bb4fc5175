//! Integration tests for the auth crate: every key source against real keys, and the JWKS cache
//! against a real HTTP endpoint on 127.0.0.1.

mod anonymous;
mod claims;
mod jwks_cache;
mod key_types;
mod logging;
mod several_sources;
mod support;
