//! Integration tests of chatkit-store: the conformance suite against every backend (memory, a
//! SQLite file, PostgreSQL), plus what only SQL can show (positions, legacy columns) and the
//! local-disk attachment store.

mod attachments;
mod memory;
mod postgres;
mod rate_limit;
mod sql_checks;
mod sqlite;
