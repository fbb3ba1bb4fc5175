#![doc = include_str!("../README.md")]

mod actions;
mod agent_server;
pub mod bridge;
mod context;
pub mod convert;
mod engine;
mod error;
mod locks;
pub mod mime;
mod pipeline;
#[cfg(feature = "retrieval")]
pub mod search;
mod server;
mod shared;
mod stream;
mod tool_context;
pub mod tool_output;
pub mod transport;

pub use actions::{ActionFn, ActionHandler, ActionOutcome, ActionRequest, action_fn};
pub use agent_server::{
    ACTIVE_AGENT_METADATA_KEY, AgentObserver, AgentServer, AgentServerConfig, RunOutcome,
    TITLE_PROMPT, TranscriptionLimits, USAGE_METADATA_KEY, clean_title,
};
pub use bridge::{
    AttachmentContent, INPUT_GUARDRAIL_MESSAGE, OUTPUT_GUARDRAIL_MESSAGE, ToolCallRecord,
    ToolDisplay, handoff_task_title,
};
pub use context::{RequestContext, ThreadHandle};
pub use convert::{DefaultConverter, ThreadItemConverter};
pub use engine::{
    AttachmentDownload, ChatReply, ChatRun, ChatToolCall, ChatTurn, DirectUpload, Engine,
    PendingUpload, Response,
};
pub use error::EngineError;
#[cfg(feature = "retrieval")]
pub use search::ChatKitSearchTool;
pub use server::{
    AudioInput, CANCELLED_NOTE, ChatKitServer, EventStream, Turn, save_cancelled_partial,
};
pub use shared::{CancelPolicy, EngineConfig};
pub use stream::EventReceiver;
pub use tool_context::ChatKitToolContext;
pub use tool_output::{ChatKitCommand, ChatKitOutput, RecordedSource};
