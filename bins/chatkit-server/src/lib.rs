#![doc = include_str!("../README.md")]

pub mod actions;
pub mod agents;
pub mod app;
pub mod demo_corpus;
pub mod http;
pub mod retrieval;
pub mod settings;
pub mod telemetry;

pub use app::{Application, Components, compose};
pub use settings::Settings;

/// The allocator of every program linking this crate: the binary, its tests and benchmarks
/// (ADR 0014). A turn allocates and frees many small buffers across threads; glibc's malloc
/// spent about a tenth of the server's CPU on them.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
