//! Integration tests of the protocol types.

mod captures;
mod errors;
mod golden;
mod roundtrip;
