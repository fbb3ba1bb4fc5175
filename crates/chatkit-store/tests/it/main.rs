//! Integration tests of chatkit-store: the conformance suite against every backend (memory, a
//! SQLite file, PostgreSQL), plus what only SQL can show (positions, legacy columns), the
//! attachment stores (local disk, and S3 against an in-process S3 server), the thread locks and
//! migrating under a lock.

mod attachments;
mod memory;
mod migrations;
mod object_storage;
mod postgres;
mod rate_limit;
mod sql_checks;
mod sqlite;
mod thread_lock;
