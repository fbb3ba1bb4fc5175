#![doc = include_str!("../README.md")]

pub mod agent;
pub mod context;
pub mod error;
pub mod function_tool;
pub mod guardrail;
pub mod handoff;
pub mod history;
pub mod hooks;
pub mod instructions;
pub mod model;
pub mod output;
pub mod runner;
pub mod secret;
pub mod tool;
pub mod tool_events;
pub mod transcription;

pub use agent::{Agent, ToolUseBehavior};
pub use context::{RunContext, RunState, UserInfo};
pub use error::AgentError;
pub use function_tool::FunctionTool;
pub use guardrail::{
    GuardrailOutput, InputGuardrail, ModelGuardrail, OutputGuardrail, TextCheck, TextGuardrail,
};
pub use handoff::{Handoff, HandoffInputFilter};
pub use history::{answer_unanswered_tool_calls, keep_last_items};
pub use hooks::{AgentHooks, NoRunHooks, RunHooks};
pub use instructions::{Instructions, InstructionsTemplate};
pub use model::demo::DemoModel;
pub use model::openai::{OpenAiChatProvider, OpenAiConfig, OpenAiResponsesProvider, RetryConfig};
pub use model::{
    AnnotationSource, FinishReason, HostedTool, HostedToolEvent, HostedToolKind, Message,
    ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ModelSettings, OutputSchema,
    ReasoningEffort, ReasoningItem, ReasoningSettings, ReasoningSummary, SearchKind, SearchSource,
    TextAnnotation, ToolCall, ToolChoice, Usage, UserContent,
};
pub use runner::{RunEvent, RunResult, RunStop, RunStream, run_streamed, run_streamed_with_hooks};
pub use secret::ApiKey;
pub use tool::{DynTool, Tool, ToolDefinition, ToolError, ToolOutput, ToolSource};
pub use tool_events::{ClientToolCallRequest, ToolCallContext, ToolEvent};
pub use transcription::{AudioClip, DemoTranscriber, OpenAiTranscriber, Transcriber};
