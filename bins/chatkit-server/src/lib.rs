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
