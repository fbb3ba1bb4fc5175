//! End-to-end tests: the real application wiring on port 0, driven over HTTP with a typed SSE
//! client, against SQLite and PostgreSQL, with a real HTTP fake of the model provider.

mod support;

mod agents;
mod api;
mod attachments;
mod auth;
mod errors;
mod legacy_chat;
mod multi_instance;
mod observability;
mod playground;
mod proxy;
mod retrieval;
mod scale_out;
mod shutdown;
mod slow_client;
mod streamed_uploads;
mod titles_and_demo;
mod transcription;
mod widgets;
