//! Tools the agent can call: the erased runtime form that built-in and MCP tools share.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::RunContext;

/// What the model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Name the model calls the tool by; unique within one agent.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object (always `"type": "object"`).
    pub parameters: Value,
}

/// The result of a tool call, as the model will read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Text the model receives as the tool's output.
    pub content: String,
    /// True when the call failed in a way the model should know about (bad arguments, a failing
    /// backend, an MCP error result). The run goes on; the model sees the text.
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful output.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
        }
    }

    /// An error output the model should see.
    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
        }
    }
}

/// A failure that the tool itself could not turn into output.
///
/// The agent loop turns it into an error output for the model; it never ends the run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments did not match the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The call did not finish in time.
    #[error("tool call timed out")]
    Timeout,
    /// The tool's backend (an MCP server, an HTTP API...) failed or is unreachable.
    #[error("tool backend failed: {0}")]
    Backend(String),
}

/// A tool as the agent loop sees it: built-in tools and MCP tools implement the same trait.
///
/// Contract: `call` receives the arguments the model produced (already parsed from JSON) and the
/// run context. Anything that identifies the acting user must come from `ctx.user`, never from
/// `arguments`. Implementations must be cancel-safe: the loop may drop the future when the run is
/// cancelled.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The definition shown to the model.
    fn definition(&self) -> ToolDefinition;

    /// Runs the tool.
    async fn call(&self, ctx: &RunContext, arguments: Value) -> Result<ToolOutput, ToolError>;
}

/// A shared, type-erased tool.
pub type DynTool = Arc<dyn Tool>;

/// Tools that can change while an agent lives: MCP servers that come up after start-up, or that
/// announce `notifications/tools/list_changed`.
///
/// Contract: [`tools`](ToolSource::tools) is called once at the start of every run, and that run
/// uses the answer for all its turns (a run never sees a tool vanish mid-way). It never fails: a
/// source that cannot reach its backend returns what it last knew, or nothing, and reports the
/// failure itself (logs, health). It should be cheap, serving from a cache that the source keeps
/// fresh; it must be cancel-safe. When a source offers a tool whose name a tool added with
/// [`crate::Agent::with_tool`] or an earlier source already uses, the earlier one wins.
#[async_trait]
pub trait ToolSource: Send + Sync {
    /// The tools on offer now.
    async fn tools(&self) -> Vec<DynTool>;
}
