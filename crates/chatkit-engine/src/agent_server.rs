//! A [`ChatKitServer`] that answers with an agent from the agent runtime.

use agent_runtime::{Agent, run_streamed};
use chatkit_protocol::{Order, UserMessageItem};
use futures::StreamExt;

use crate::bridge::{EventBridge, ToolDisplay, agent_error, items_to_messages};
use crate::server::{ChatKitServer, EventStream, Turn};

/// Settings of an [`AgentServer`].
#[derive(Debug, Clone)]
pub struct AgentServerConfig {
    /// How many of the thread's most recent messages the model sees (the seeds' default: 10).
    pub history_items: usize,
    /// How server-side tool calls are shown.
    pub tool_display: ToolDisplay,
}

impl Default for AgentServerConfig {
    fn default() -> Self {
        Self {
            history_items: 10,
            tool_display: ToolDisplay::default(),
        }
    }
}

/// Answers every message by running an [`Agent`] over the thread's recent history.
///
/// The user a run acts for comes from the request context (never from the model), and the
/// request's metadata reaches the agent's instructions through the run context.
#[derive(Clone)]
pub struct AgentServer {
    agent: Agent,
    config: AgentServerConfig,
}

impl AgentServer {
    /// A server for `agent`.
    pub fn new(agent: Agent, config: AgentServerConfig) -> Self {
        let agent = agent.with_history_items(config.history_items.max(1));
        Self { agent, config }
    }
}

impl ChatKitServer for AgentServer {
    fn respond(&self, turn: Turn, _input: Option<UserMessageItem>) -> EventStream {
        let agent = self.agent.clone();
        let config = self.config.clone();
        async_stream::stream! {
            let thread_id = turn.thread.id();
            let store = turn.store.clone();
            let sctx = turn.ctx.store();
            // Hidden tool-call records and workflows sit between messages, so read more items
            // than messages are kept; the runtime cuts the history to its window.
            let fetch = config.history_items.saturating_mul(4).saturating_add(8);
            let page = match store.load_thread_items(&thread_id, None, fetch, Order::Desc, &sctx).await {
                Ok(page) => page,
                Err(err) => {
                    yield Err(err.into());
                    return;
                }
            };
            let mut items = page.data;
            items.reverse();
            let input = items_to_messages(&items);
            let mut bridge = EventBridge::new(store.as_ref(), turn.thread.snapshot(), sctx.clone(), config.tool_display);
            let mut run = run_streamed(&agent, turn.ctx.run_context(&thread_id), input);
            while let Some(event) = run.next().await {
                match event {
                    Ok(event) => {
                        for out in bridge.on_event(event) {
                            yield Ok(out);
                        }
                    }
                    Err(err) => {
                        for out in bridge.finish() {
                            yield Ok(out);
                        }
                        yield Err(agent_error(err));
                        return;
                    }
                }
            }
            for out in bridge.finish() {
                yield Ok(out);
            }
        }
        .boxed()
    }
}
