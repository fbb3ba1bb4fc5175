//! Handoffs: an agent hands the conversation to another agent, as the OpenAI Agents SDK does.
//!
//! The model sees every handoff of the active agent as a tool named `transfer_to_<name>` with
//! an empty-object schema. Calling one switches the run to the target agent: its instructions,
//! tools and handoffs apply from the next model call on, in the same run. The call's result is
//! the SDK's transfer message, `{"assistant": "<name>"}`.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::agent::Agent;
use crate::model::Message;
use crate::tool::ToolDefinition;

/// A function over the conversation applied when a handoff happens, before the target agent
/// sees it (the SDK's `input_filter`): for example to drop earlier tool calls, or to keep only
/// the last user message. It receives the history the run holds (without the system message)
/// and returns what the target agent reads from then on.
pub type HandoffInputFilter = Arc<dyn Fn(Vec<Message>) -> Vec<Message> + Send + Sync>;

/// What the model reads as the result of a handoff call that was not followed because an
/// earlier handoff of the same turn won (the SDK's wording).
pub const IGNORED_HANDOFF_OUTPUT: &str = "Multiple handoffs detected, ignoring this one.";

/// One handoff an agent offers: the target agent, the tool the model calls to reach it, and an
/// optional input filter.
#[derive(Clone)]
pub struct Handoff {
    pub(crate) agent: Box<Agent>,
    pub(crate) tool_name: String,
    pub(crate) tool_description: String,
    pub(crate) input_filter: Option<HandoffInputFilter>,
}

impl fmt::Debug for Handoff {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Handoff")
            .field("agent", &self.agent.name())
            .field("tool_name", &self.tool_name)
            .field("input_filter", &self.input_filter.is_some())
            .finish()
    }
}

impl Handoff {
    /// A handoff to `agent` with the SDK's default tool name and description.
    pub fn to(agent: Agent) -> Self {
        Self {
            tool_name: default_tool_name(agent.name()),
            tool_description: default_tool_description(&agent),
            agent: Box::new(agent),
            input_filter: None,
        }
    }

    /// Names the tool differently from `transfer_to_<name>`.
    pub fn with_tool_name(mut self, name: impl Into<String>) -> Self {
        self.tool_name = name.into();
        self
    }

    /// Describes the tool differently from the default.
    pub fn with_tool_description(mut self, description: impl Into<String>) -> Self {
        self.tool_description = description.into();
        self
    }

    /// Rewrites the conversation the target agent sees when the handoff happens.
    pub fn with_input_filter(mut self, filter: HandoffInputFilter) -> Self {
        self.input_filter = Some(filter);
        self
    }

    /// The target agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The name of the tool the model calls for this handoff.
    pub fn tool_name(&self) -> &str {
        &self.tool_name
    }

    /// The tool the model sees: no arguments (an empty-object schema, as the SDK sends).
    pub fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.tool_name.clone(),
            description: self.tool_description.clone(),
            parameters: json!({
                "type": "object",
                "properties": {},
                "additionalProperties": false,
                "required": [],
            }),
        }
    }
}

/// The SDK's tool name for a handoff to `agent_name`: `transfer_to_<name>`, with whitespace and
/// every character other than ASCII letters, digits and `_` replaced by `_`, lowercased.
pub fn default_tool_name(agent_name: &str) -> String {
    format!("transfer_to_{agent_name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The SDK's tool description for a handoff to `agent`.
pub fn default_tool_description(agent: &Agent) -> String {
    format!(
        "Handoff to the {} agent to handle the request. {}",
        agent.name(),
        agent.handoff_description().unwrap_or_default()
    )
}

/// The result the model reads for a handoff to `agent_name` (the SDK's transfer message).
pub fn transfer_message(agent_name: &str) -> String {
    // `json.dumps` spacing, so the model reads exactly what an SDK agent would.
    format!(
        "{{\"assistant\": {}}}",
        Value::String(agent_name.to_owned())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_normalized_as_the_sdk_does() {
        assert_eq!(
            default_tool_name("Course Tutor"),
            "transfer_to_course_tutor"
        );
        assert_eq!(
            default_tool_name("todo-assistant"),
            "transfer_to_todo_assistant"
        );
        assert_eq!(default_tool_name("Büro\tBot"), "transfer_to_b_ro_bot");
        assert_eq!(transfer_message("Tutor"), r#"{"assistant": "Tutor"}"#);
    }
}
