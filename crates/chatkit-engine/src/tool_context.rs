//! What an agent tool uses to speak ChatKit: the Rust counterpart of the reference's
//! `AgentContext` (`stream_widget`, `start_workflow`, `add_workflow_task`, ...), on top of the
//! runtime's generic tool events.

use agent_runtime::{AgentError, RunContext, ToolCallContext};
use chatkit_protocol::items::WorkflowSummary;
use chatkit_protocol::{Source, Task, WidgetRoot, Workflow};
use futures::{Stream, StreamExt};
use serde_json::{Map, Value};

use crate::tool_output::ChatKitCommand;

/// The ChatKit side of a tool call: stream widgets, drive a workflow, report progress, send
/// client effects, record sources, end the turn with a client tool call.
///
/// Get one with [`ChatKitToolContext::of`] inside `Tool::call`. Every method sends a
/// [`ChatKitCommand`] through the run; [`AgentServer`](crate::AgentServer) turns them into ChatKit
/// events in order, before the call's result. A send fails with
/// [`AgentError::ToolCallOver`] once the call is over (or the client left and the run was
/// dropped): a tool should stop working then.
///
/// The workflow is the response's, not the call's: one tool can start it and a later call (of
/// the same or another tool, in the same response) add tasks and end it, as with the reference's
/// `AgentContext.workflow_item`.
#[derive(Debug, Clone)]
pub struct ChatKitToolContext {
    call: ToolCallContext,
}

impl ChatKitToolContext {
    /// The context of the tool call `ctx` belongs to; `None` when the tool was called outside a
    /// run (it can still answer, but has nobody to show things to).
    pub fn of(ctx: &RunContext) -> Option<Self> {
        ctx.tool_call.clone().map(|call| Self { call })
    }

    /// The model's id for this call.
    pub fn call_id(&self) -> &str {
        self.call.call_id()
    }

    /// Sends any command.
    pub async fn send(&self, command: ChatKitCommand) -> Result<(), AgentError> {
        self.call.emit(command.to_tool_event()).await
    }

    /// Shows a finished widget (`stream_widget(widget, copy_text)` with a single root).
    pub async fn show_widget(
        &self,
        widget: WidgetRoot,
        copy_text: Option<String>,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::Widget { widget, copy_text })
            .await
    }

    /// Streams a widget over versions (`stream_widget` over an async generator): the first
    /// version is shown, each next one is sent as a diff, and the widget is finished when the
    /// stream ends. Text of `Text`/`Markdown` nodes with an `id` that only grows streams as text
    /// deltas; any other change replaces the widget.
    pub async fn stream_widget<S>(
        &self,
        versions: S,
        copy_text: Option<String>,
    ) -> Result<(), AgentError>
    where
        S: Stream<Item = WidgetRoot> + Send,
    {
        let stream = format!("widget-{}", next_stream_number());
        let mut versions = std::pin::pin!(versions);
        let mut first = true;
        while let Some(widget) = versions.next().await {
            self.send(ChatKitCommand::WidgetVersion {
                stream: stream.clone(),
                widget,
                copy_text: if first { copy_text.clone() } else { None },
            })
            .await?;
            first = false;
        }
        if first {
            // An empty stream shows nothing, as the reference's generator would fail to.
            return Ok(());
        }
        self.send(ChatKitCommand::WidgetDone { stream }).await
    }

    /// Starts a workflow (`start_workflow`).
    pub async fn start_workflow(&self, workflow: Workflow) -> Result<(), AgentError> {
        self.send(ChatKitCommand::StartWorkflow { workflow }).await
    }

    /// Adds a task to the open workflow, opening a custom one if needed (`add_workflow_task`).
    pub async fn add_workflow_task(&self, task: Task) -> Result<(), AgentError> {
        self.send(ChatKitCommand::AddWorkflowTask { task }).await
    }

    /// Replaces the task at `task_index` of the open workflow (`update_workflow_task`).
    pub async fn update_workflow_task(
        &self,
        task: Task,
        task_index: usize,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::UpdateWorkflowTask { task, task_index })
            .await
    }

    /// Ends the open workflow (`end_workflow`).
    pub async fn end_workflow(
        &self,
        summary: Option<WorkflowSummary>,
        expanded: bool,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::EndWorkflow { summary, expanded })
            .await
    }

    /// Shows a transient progress line (`stream(ProgressUpdateEvent(...))`).
    pub async fn progress(
        &self,
        text: impl Into<String>,
        icon: Option<String>,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::Progress {
            text: text.into(),
            icon,
        })
        .await
    }

    /// Sends a client effect (`stream(ClientEffectEvent(...))`).
    pub async fn client_effect(
        &self,
        name: impl Into<String>,
        data: Map<String, Value>,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::ClientEffect {
            name: name.into(),
            data,
        })
        .await
    }

    /// Records sources that the next answer cites; they are annotated at the end of the answer.
    pub async fn add_sources(&self, sources: Vec<Source>) -> Result<(), AgentError> {
        self.send(ChatKitCommand::Sources {
            sources,
            first_number: None,
        })
        .await
    }

    /// Records sources the model was given numbered from `first_number` (`[n]`): the answer's
    /// markers naming them become annotations where they stand.
    pub async fn add_numbered_sources(
        &self,
        sources: Vec<Source>,
        first_number: usize,
    ) -> Result<(), AgentError> {
        self.send(ChatKitCommand::Sources {
            sources,
            first_number: Some(first_number),
        })
        .await
    }

    /// Replaces the task this call added last to the open workflow (for example a search task
    /// that now shows what it found).
    pub async fn update_last_task(&self, task: Task) -> Result<(), AgentError> {
        self.send(ChatKitCommand::UpdateLastTask { task }).await
    }

    /// Ends the turn with a call the browser executes (`ctx.client_tool_call = ...`). The model
    /// is asked again only once the client sends the call's output.
    pub fn end_turn_with_client_tool_call(
        &self,
        name: impl Into<String>,
        arguments: Map<String, Value>,
    ) {
        self.call.end_turn_with_client_tool_call(name, arguments);
    }
}

/// Stream names only need to be unique per call; a process-wide counter is the simplest way.
fn next_stream_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
