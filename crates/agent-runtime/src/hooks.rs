//! Lifecycle hooks for embedders, as the OpenAI Agents SDK's `RunHooks` and `AgentHooks`.
//!
//! [`RunHooks`] see every agent of one run ([`crate::run_streamed_with_hooks`]); [`AgentHooks`]
//! belong to one agent ([`crate::Agent::with_hooks`]) and see only what happens while it is the
//! active agent. Every method has an empty default, so an implementation overrides only what it
//! needs. The loop awaits each hook before it goes on, run hooks before agent hooks: keep them
//! short, since the run waits for them.

use async_trait::async_trait;

use crate::agent::Agent;
use crate::context::RunContext;
use crate::model::{ToolCall, Usage};
use crate::tool::ToolOutput;

/// Callbacks on the events of one run, whichever agent is active.
#[async_trait]
pub trait RunHooks: Send + Sync {
    /// `agent` becomes active: at the start of the run, and after each handoff.
    async fn on_agent_start(&self, ctx: &RunContext, agent: &Agent) {
        let _ = (ctx, agent);
    }

    /// A model call of `agent` finished, having used `usage` (when the provider reported it).
    async fn on_llm_end(&self, ctx: &RunContext, agent: &Agent, usage: Option<&Usage>) {
        let _ = (ctx, agent, usage);
    }

    /// `agent` is about to run the server-side tool call `call`.
    async fn on_tool_start(&self, ctx: &RunContext, agent: &Agent, call: &ToolCall) {
        let _ = (ctx, agent, call);
    }

    /// The tool call `call` of `agent` returned `output`.
    async fn on_tool_end(
        &self,
        ctx: &RunContext,
        agent: &Agent,
        call: &ToolCall,
        output: &ToolOutput,
    ) {
        let _ = (ctx, agent, call, output);
    }

    /// `from` handed the conversation to `to`.
    async fn on_handoff(&self, ctx: &RunContext, from: &Agent, to: &Agent) {
        let _ = (ctx, from, to);
    }

    /// `agent` produced the run's final output (after the output guardrails passed).
    async fn on_agent_end(&self, ctx: &RunContext, agent: &Agent, output: &str) {
        let _ = (ctx, agent, output);
    }
}

/// Callbacks on the events of one agent, while it is the active agent.
#[async_trait]
pub trait AgentHooks: Send + Sync {
    /// This agent becomes active.
    async fn on_start(&self, ctx: &RunContext, agent: &Agent) {
        let _ = (ctx, agent);
    }

    /// This agent is about to run the tool call `call`.
    async fn on_tool_start(&self, ctx: &RunContext, agent: &Agent, call: &ToolCall) {
        let _ = (ctx, agent, call);
    }

    /// The tool call `call` of this agent returned `output`.
    async fn on_tool_end(
        &self,
        ctx: &RunContext,
        agent: &Agent,
        call: &ToolCall,
        output: &ToolOutput,
    ) {
        let _ = (ctx, agent, call, output);
    }

    /// This agent (`agent`) receives the conversation from `source`.
    async fn on_handoff(&self, ctx: &RunContext, agent: &Agent, source: &Agent) {
        let _ = (ctx, agent, source);
    }

    /// This agent produced the run's final output.
    async fn on_end(&self, ctx: &RunContext, agent: &Agent, output: &str) {
        let _ = (ctx, agent, output);
    }
}

/// Run hooks that do nothing, for runs started without hooks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRunHooks;

impl RunHooks for NoRunHooks {}
