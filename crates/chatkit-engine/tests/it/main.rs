//! Integration tests of the engine: every request type, the streaming pipeline, cancellation and
//! the agent bridge, against the in-memory store and SQLite.

mod support;

mod agent;
mod cancel;
mod dispatch;
mod model_input;
mod search;
mod streaming;
mod tools;
