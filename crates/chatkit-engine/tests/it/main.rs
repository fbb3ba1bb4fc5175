//! Integration tests of the engine: every request type, the streaming pipeline, cancellation and
//! the agent bridge, against the in-memory store and SQLite; and two engines on one PostgreSQL
//! schema taking turns on a thread through the cross-instance lock.

mod support;

mod agent;
mod agents_sdk;
mod cancel;
mod conversion;
mod cross_instance;
mod dispatch;
mod hosted;
mod model_input;
mod search;
mod streaming;
mod tools;
