//! Widget actions answered by configuration (`[[actions]]`): call a tool, show its widget in
//! place of the sender, and/or hand the action to the model.

use std::sync::Arc;

use agent_runtime::{DynTool, RunContext, ToolCallContext, ToolEvent};
use async_trait::async_trait;
use chatkit_engine::{ActionHandler, ActionOutcome, ActionRequest, EngineError};
use chatkit_protocol::WidgetRoot;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::settings::ActionSettings;

/// The kind of tool event that carries a widget (the MCP widget convention).
const WIDGET_EVENT_KIND: &str = mcp_client::WIDGET_EVENT_KIND;

/// Most events one action's tool call may emit before the rest are dropped: an action shows one
/// widget, so anything beyond a handful is a misbehaving tool.
const ACTION_EVENT_BUFFER: usize = 16;

/// Where an action's tool comes from: looked up on each action, so that MCP tools listed after
/// a server (re)starts are found.
#[async_trait]
pub trait ToolLookup: Send + Sync {
    /// The tool the agent knows as `name`, if there is one now.
    async fn tool(&self, name: &str) -> Option<DynTool>;
}

#[async_trait]
impl ToolLookup for mcp_client::McpManager {
    async fn tool(&self, name: &str) -> Option<DynTool> {
        self.tools()
            .await
            .into_iter()
            .find(|tool| tool.definition().name == name)
    }
}

/// An [`ActionHandler`] made from one `[[actions]]` entry.
pub struct ConfiguredAction {
    settings: ActionSettings,
    tools: Option<Arc<dyn ToolLookup>>,
}

impl ConfiguredAction {
    /// The handler for `settings`, finding its tool in `tools`.
    pub fn new(settings: ActionSettings, tools: Option<Arc<dyn ToolLookup>>) -> Self {
        Self { settings, tools }
    }

    /// Calls the tool for `request`: its text output and the widget its result carried.
    async fn call_tool(
        &self,
        name: &str,
        request: &ActionRequest,
    ) -> Result<(String, Option<(WidgetRoot, Option<String>)>), EngineError> {
        let tool = match &self.tools {
            Some(tools) => tools.tool(name).await,
            None => None,
        };
        let Some(tool) = tool else {
            tracing::warn!(action.kind = %self.settings.kind, tool.name = %name, "the tool of a configured action is not available");
            return Err(EngineError::Custom {
                message: "This action is not available right now.".to_owned(),
                allow_retry: true,
            });
        };
        let arguments = match &request.action.payload {
            Value::Object(arguments) => arguments.clone(),
            Value::Null => Map::new(),
            _ => {
                return Err(EngineError::BadRequest(
                    "params.action.payload: must be an object for this action".to_owned(),
                ));
            }
        };
        let (sender, mut receiver) = mpsc::channel(ACTION_EVENT_BUFFER);
        let mut ctx: RunContext = request.ctx.run_context(&request.thread.id);
        ctx.tool_call = Some(ToolCallContext::detached(
            format!("action_{}", request.action.kind),
            name,
            sender,
        ));
        let result = tool.call(&ctx, Value::Object(arguments)).await;
        drop(ctx);
        let output = result.map_err(|error| {
            tracing::warn!(action.kind = %self.settings.kind, tool.name = %name, error = %error, "the tool of a configured action failed");
            EngineError::Custom {
                message: "The action failed. Please try again.".to_owned(),
                allow_retry: true,
            }
        })?;
        if output.is_error {
            // The tool's own explanation ("task 7 not found") is meant for whoever called it.
            return Err(EngineError::BadRequest(output.content));
        }
        let mut widget = None;
        while let Some((_, event)) = receiver.recv().await {
            if let Some(found) = widget_of(&event) {
                widget = Some(found);
            }
        }
        Ok((output.content, widget))
    }
}

/// The widget (and copy text) a widget event carries; a malformed one is logged and ignored.
fn widget_of(event: &ToolEvent) -> Option<(WidgetRoot, Option<String>)> {
    if event.kind != WIDGET_EVENT_KIND {
        return None;
    }
    match WidgetRoot::from_json(event.data.get("widget").cloned().unwrap_or(Value::Null)) {
        Ok(widget) => {
            let copy_text = event
                .data
                .get("copy_text")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((widget, copy_text))
        }
        Err(error) => {
            tracing::warn!(error = %error, "an action's tool returned a widget that is not valid; the sender stays as it was");
            None
        }
    }
}

#[async_trait]
impl ActionHandler for ConfiguredAction {
    async fn handle(&self, request: ActionRequest) -> Result<ActionOutcome, EngineError> {
        let mut outcome = ActionOutcome::default();
        let mut tool_answer = None;
        if let Some(name) = &self.settings.tool {
            let (text, widget) = self.call_tool(name, &request).await?;
            if let Some((widget, copy_text)) = widget {
                outcome.widget = Some(widget);
                outcome.copy_text = copy_text;
            }
            tool_answer = Some(text);
        }
        if self.settings.forward_to_model && !request.sync {
            let mut note = format!(
                "The user triggered the action `{}` with payload {} in a widget.",
                request.action.kind, request.action.payload
            );
            if let Some(answer) = tool_answer {
                note.push_str(&format!(" The action's tool answered: {answer}"));
            }
            outcome.hand_to_model = Some(note);
        }
        Ok(outcome)
    }
}
