//! A scripted, in-process DEMO model: no network, no API key, no intelligence.
//!
//! It exists so that a newcomer running the server without credentials still sees a streamed
//! answer and a tool call in the UI. It is not a test double for real models and must never be
//! configured in production.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::json;

use crate::error::AgentError;
use crate::model::{
    FinishReason, Message, ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ToolCall,
    Usage,
};

/// The demo model (see the module documentation): answers with canned streamed text and, when
/// the user asks about tasks or todos and a tool like `add_task` or `list_tasks` is offered,
/// calls it.
#[derive(Debug, Clone)]
pub struct DemoModel {
    chunk_delay: Duration,
}

impl Default for DemoModel {
    fn default() -> Self {
        Self {
            chunk_delay: Duration::from_millis(30),
        }
    }
}

impl DemoModel {
    /// A demo model pausing `chunk_delay` between words, so the streaming is visible.
    pub fn new(chunk_delay: Duration) -> Self {
        Self { chunk_delay }
    }

    fn answer(request: &ModelRequest) -> Answer {
        match request.messages.last() {
            Some(Message::Tool { content, .. }) => {
                return Answer::Text(format!("Done. The tool answered: {content}"));
            }
            Some(Message::User { .. }) => {}
            _ => return Answer::Text("This is the demo model. Ask me about your tasks!".into()),
        }
        let text = request
            .messages
            .last()
            .and_then(Message::user_text)
            .unwrap_or_default();
        let lower = text.to_lowercase();
        if lower.contains("task") || lower.contains("todo") {
            let find = |needle: &str| {
                request
                    .tools
                    .iter()
                    .find(|tool| tool.name.contains(needle))
                    .map(|tool| tool.name.clone())
            };
            let wants_new = ["add", "create", "new", "remember"]
                .iter()
                .any(|word| lower.contains(word));
            if wants_new && let Some(name) = find("add_task") {
                return Answer::Tool(name, json!({ "title": text }).to_string());
            }
            if let Some(name) = find("list_tasks") {
                return Answer::Tool(name, "{}".to_owned());
            }
        }
        Answer::Text(format!(
            "Hello from the demo model (no API key is configured, so nothing here is real). \
             You said: {text}"
        ))
    }
}

enum Answer {
    Text(String),
    Tool(String, String),
}

#[async_trait]
impl ModelProvider for DemoModel {
    fn model_name(&self) -> &str {
        "demo"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        let events: Vec<ModelEvent> = match Self::answer(&request) {
            Answer::Text(text) => {
                let mut events: Vec<ModelEvent> = text
                    .split_inclusive(' ')
                    .map(|word| ModelEvent::TextDelta(word.to_owned()))
                    .collect();
                events.push(ModelEvent::Usage(Usage::default()));
                events.push(ModelEvent::Finished(FinishReason::Stop));
                events
            }
            Answer::Tool(name, arguments) => vec![
                ModelEvent::ToolCall(ToolCall {
                    id: format!("call_demo_{}", request.messages.len()),
                    name,
                    arguments,
                }),
                ModelEvent::Finished(FinishReason::ToolCalls),
            ],
        };
        let delay = self.chunk_delay;
        Ok(Box::pin(futures::stream::iter(events).then(
            move |event| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(event)
            },
        )))
    }
}
