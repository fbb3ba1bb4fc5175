#![doc = include_str!("../README.md")]

pub mod chatkit;
pub mod fake_openai;

pub use fake_openai::{
    ChatQuirks, FakeOpenAi, FakeOpenAiOptions, Fallback, ReasoningField, RecordedRequest,
    ScriptedFailure, ScriptedToolCall, ScriptedTranscription, ScriptedTurn,
};
