//! Integration tests of the protocol types.

mod captures;
mod golden;
