#![doc = include_str!("../README.md")]

pub mod chatkit;
pub mod fake_openai;

pub use fake_openai::{
    ChatQuirks, DEFAULT_DIMENSIONS, FakeOpenAi, FakeOpenAiOptions, Fallback, ReasoningField,
    RecordedRequest, ScriptedFailure, ScriptedHostedCall, ScriptedToolCall, ScriptedTranscription,
    ScriptedTurn, fake_embedding,
};
