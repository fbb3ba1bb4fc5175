//! Integration tests for the auth crate.
