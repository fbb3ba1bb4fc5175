#![doc = include_str!("../README.md")]

mod agent_server;
pub mod bridge;
mod context;
mod engine;
mod error;
mod locks;
pub mod mime;
mod pipeline;
mod server;
mod shared;
mod stream;
pub mod transport;

pub use agent_server::{
    AgentObserver, AgentServer, AgentServerConfig, RunOutcome, TITLE_PROMPT, clean_title,
};
pub use bridge::{AttachmentContent, ToolCallRecord, ToolDisplay};
pub use context::{RequestContext, ThreadHandle};
pub use engine::{
    AttachmentDownload, ChatReply, ChatRun, ChatToolCall, ChatTurn, DirectUpload, Engine,
    PendingUpload, Response,
};
pub use error::EngineError;
pub use server::{
    AudioInput, CANCELLED_NOTE, ChatKitServer, EventStream, Turn, save_cancelled_partial,
};
pub use shared::{CancelPolicy, EngineConfig};
pub use stream::EventReceiver;
