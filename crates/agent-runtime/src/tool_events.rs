//! What a running tool can tell the run's consumer besides its output: events while it runs, and
//! a request to end the turn with a call the client executes.
//!
//! The runtime knows nothing of what the events mean. A tool emits [`ToolEvent`]s (a `kind` and a
//! JSON payload) through the [`ToolCallContext`] in its [`RunContext`](crate::RunContext); the run
//! stream surfaces each one as [`RunEvent::ToolEmitted`](crate::RunEvent::ToolEmitted), tagged
//! with the call that sent it, in the order the tool sent them and before that call's
//! `ToolCallFinished`. The consumer (a ChatKit bridge, for one) gives the kinds their meaning and
//! ignores kinds it does not know.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::AgentError;

/// How many emitted events may wait for the consumer before `emit` waits: a tool that streams
/// faster than the client reads is slowed down instead of buffering without bound.
pub(crate) const TOOL_EVENT_BUFFER: usize = 64;

/// One event a tool sent while it ran. Opaque to the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEvent {
    /// What the event is, in a namespace the consumer understands (for example `chatkit.widget`).
    pub kind: String,
    /// The event's content.
    pub data: Value,
}

impl ToolEvent {
    /// An event of kind `kind` carrying `data`.
    pub fn new(kind: impl Into<String>, data: Value) -> Self {
        Self {
            kind: kind.into(),
            data,
        }
    }
}

/// A call the client (the browser) must execute, requested by a server-side tool. The run ends
/// after the turn's tools have finished, as it does when the model calls a client tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientToolCallRequest {
    /// The client tool's name.
    pub name: String,
    /// Its arguments.
    pub arguments: Map<String, Value>,
}

/// An event on its way from a tool to the run loop: the call's position in its turn, and the event.
pub(crate) type Emitted = (usize, ToolEvent);

/// State shared between a call's context (held by the tool) and the run loop.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    /// False once the call has finished (or the run is over): later events are refused.
    open: AtomicBool,
    /// The client tool call this call asked to end the turn with, if any.
    client_tool_call: Mutex<Option<ClientToolCallRequest>>,
}

impl CallState {
    pub(crate) fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    pub(crate) fn take_client_tool_call(&self) -> Option<ClientToolCallRequest> {
        self.client_tool_call
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// What a tool knows about the call it is serving, and its channel to the run's consumer.
///
/// The run loop puts one in the [`RunContext`](crate::RunContext) of every tool call it makes
/// (`ctx.tool_call`); a context built by hand for calling a tool directly has none. Cheap to clone;
/// clones talk for the same call.
#[derive(Clone)]
pub struct ToolCallContext {
    call_id: String,
    tool_name: String,
    position: usize,
    sender: mpsc::Sender<Emitted>,
    state: Arc<CallState>,
}

impl fmt::Debug for ToolCallContext {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ToolCallContext")
            .field("call_id", &self.call_id)
            .field("tool_name", &self.tool_name)
            .finish_non_exhaustive()
    }
}

impl ToolCallContext {
    pub(crate) fn new(
        call_id: String,
        tool_name: String,
        position: usize,
        sender: mpsc::Sender<Emitted>,
    ) -> (Self, Arc<CallState>) {
        let state = Arc::new(CallState {
            open: AtomicBool::new(true),
            client_tool_call: Mutex::new(None),
        });
        let context = Self {
            call_id,
            tool_name,
            position,
            sender,
            state: state.clone(),
        };
        (context, state)
    }

    /// A context whose events go to `sender`, for testing a tool outside a run: what the tool
    /// emits arrives on the receiver paired with `sender`, tagged with position 0.
    pub fn detached(
        call_id: impl Into<String>,
        tool_name: impl Into<String>,
        sender: mpsc::Sender<(usize, ToolEvent)>,
    ) -> Self {
        Self::new(call_id.into(), tool_name.into(), 0, sender).0
    }

    /// The id of the model's call this tool is answering.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The name the tool was called by.
    pub fn tool_name(&self) -> &str {
        &self.tool_name
    }

    /// Sends `event` to the run's consumer. Waits while the consumer is behind.
    ///
    /// Fails with [`AgentError::ToolCallOver`] once the call has finished or the run is gone (a
    /// task the tool spawned and left running cannot talk into a later part of the run).
    pub async fn emit(&self, event: ToolEvent) -> Result<(), AgentError> {
        if !self.state.open.load(Ordering::SeqCst) {
            return Err(AgentError::ToolCallOver);
        }
        self.sender
            .send((self.position, event))
            .await
            .map_err(|_| AgentError::ToolCallOver)
    }

    /// Ends the turn with a call the client executes, like the reference's
    /// `AgentContext.client_tool_call`.
    ///
    /// When the turn's tools have finished, the run stops with
    /// [`RunStop::ClientToolCalls`](crate::RunStop::ClientToolCalls) and reports
    /// [`RunEvent::ClientToolCallRequested`](crate::RunEvent::ClientToolCallRequested) for a call
    /// with this call's id and the given name and arguments. The client's result answers this
    /// call in the history: this tool's own output is shown to the consumer but not given to the
    /// model. Asking twice keeps the last request.
    pub fn end_turn_with_client_tool_call(
        &self,
        name: impl Into<String>,
        arguments: Map<String, Value>,
    ) {
        let request = ClientToolCallRequest {
            name: name.into(),
            arguments,
        };
        *self
            .state
            .client_tool_call
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(request);
    }
}
