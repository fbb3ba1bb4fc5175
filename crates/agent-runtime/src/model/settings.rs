//! The parts of [`ModelSettings`](super::ModelSettings) that go beyond sampling: reasoning,
//! structured output and the Responses API's hosted tools.
//!
//! They live in the settings (not beside them on the request) because an agent's settings are
//! what reaches every model call of its runs unchanged; the agent's builder methods
//! ([`Agent::with_output_schema`](crate::Agent::with_output_schema),
//! [`Agent::with_hosted_tool`](crate::Agent::with_hosted_tool)) set them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AgentError;

/// How much a reasoning model thinks before it answers (`reasoning.effort` on the Responses API,
/// `reasoning_effort` on Chat Completions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// No reasoning (models that support switching it off).
    None,
    /// The least reasoning.
    Minimal,
    /// Little reasoning.
    Low,
    /// The vendor's default.
    Medium,
    /// Much reasoning.
    High,
}

impl ReasoningEffort {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// Which reasoning summary the Responses API should stream. Without one, a reasoning model
/// reasons silently and no thought reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasoningSummary {
    /// The most detailed summary the model supports.
    Auto,
    /// A short summary.
    Concise,
    /// A long summary.
    Detailed,
}

impl ReasoningSummary {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Concise => "concise",
            Self::Detailed => "detailed",
        }
    }
}

/// Reasoning settings for reasoning models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningSettings {
    /// How much the model reasons.
    pub effort: Option<ReasoningEffort>,
    /// Which summary it streams (Responses API only; Chat Completions has no such field).
    pub summary: Option<ReasoningSummary>,
}

/// A JSON schema the final answer must match (the Agents SDK's `output_type`).
///
/// Sent as `response_format: {type: json_schema}` on Chat Completions and as `text.format` on
/// the Responses API, under the name `final_output` as the Agents SDK does; the run validates the
/// final text against it and ends with [`AgentError::InvalidOutput`] when it does not match.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    name: String,
    schema: Value,
    strict: bool,
}

impl OutputSchema {
    /// A schema for the final output. Fails when `schema` is not a valid JSON schema, so a
    /// mistake shows when the agent is built, not on the first answer.
    ///
    /// Strict mode is on, as in the Agents SDK: OpenAI then guarantees the shape, but requires
    /// every property to be listed in `required` and `additionalProperties: false` on objects.
    pub fn new(schema: Value) -> Result<Self, AgentError> {
        jsonschema::validator_for(&schema).map_err(|error| {
            AgentError::Configuration(format!(
                "the output schema is not a valid JSON schema: {error}"
            ))
        })?;
        Ok(Self {
            name: "final_output".to_owned(),
            schema,
            strict: true,
        })
    }

    /// Switches OpenAI's strict schema mode (for schemas that cannot meet its rules, or servers
    /// that do not know it). The run validates the answer either way.
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The name sent with the schema.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Whether strict mode is asked for.
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// Parses `text` as JSON and checks it against the schema; the parsed value when it matches.
    pub fn validate(&self, text: &str) -> Result<Value, AgentError> {
        let value: Value = serde_json::from_str(text.trim()).map_err(|error| {
            AgentError::InvalidOutput(format!("the answer is not JSON: {error}"))
        })?;
        let validator = jsonschema::validator_for(&self.schema).map_err(|error| {
            AgentError::Configuration(format!(
                "the output schema is not a valid JSON schema: {error}"
            ))
        })?;
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|error| format!("{} at {:?}", error, error.instance_path().as_str()))
            .collect();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(AgentError::InvalidOutput(format!(
                "the answer does not match the output schema: {}",
                problems.join("; ")
            )))
        }
    }
}

/// Which hosted tool a [`HostedTool`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostedToolKind {
    /// `web_search`: the vendor searches the web; its results come back as citations.
    WebSearch,
    /// `file_search`: the vendor searches vector stores.
    FileSearch,
    /// `image_generation`: the vendor generates an image, streaming partial images.
    ImageGeneration,
}

impl HostedToolKind {
    /// The tool's `type` on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSearch => "web_search",
            Self::FileSearch => "file_search",
            Self::ImageGeneration => "image_generation",
        }
    }
}

/// A tool the vendor runs itself (Responses API only): the request names it, the stream reports
/// its progress as [`HostedToolEvent`](super::HostedToolEvent)s, and the loop never runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostedTool {
    kind: HostedToolKind,
    options: Map<String, Value>,
}

impl HostedTool {
    /// Web search with the vendor's defaults.
    pub fn web_search() -> Self {
        Self {
            kind: HostedToolKind::WebSearch,
            options: Map::new(),
        }
    }

    /// File search over these vector stores.
    pub fn file_search(vector_store_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let ids: Vec<Value> = vector_store_ids
            .into_iter()
            .map(|id| Value::String(id.into()))
            .collect();
        let mut options = Map::new();
        options.insert("vector_store_ids".to_owned(), Value::Array(ids));
        Self {
            kind: HostedToolKind::FileSearch,
            options,
        }
    }

    /// Image generation; `partial_images` (0 to 3) is how many previews stream before the image.
    pub fn image_generation(partial_images: u8) -> Self {
        let mut options = Map::new();
        options.insert("partial_images".to_owned(), Value::from(partial_images));
        Self {
            kind: HostedToolKind::ImageGeneration,
            options,
        }
    }

    /// Sets one more field of the tool's spec (`search_context_size`, `max_num_results`,
    /// `size`, `quality`...), passed through as is.
    pub fn with_option(mut self, key: impl Into<String>, value: Value) -> Self {
        self.options.insert(key.into(), value);
        self
    }

    /// Which tool this is.
    pub fn kind(&self) -> HostedToolKind {
        self.kind
    }

    /// A field of the spec, if set.
    pub fn option(&self, key: &str) -> Option<&Value> {
        self.options.get(key)
    }

    /// The tool as the Responses API's `tools` entry.
    pub fn to_wire(&self) -> Value {
        let mut spec = Map::new();
        spec.insert(
            "type".to_owned(),
            Value::String(self.kind.as_str().to_owned()),
        );
        for (key, value) in &self.options {
            spec.insert(key.clone(), value.clone());
        }
        Value::Object(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_schema_accepts_matching_json_and_names_the_problem_otherwise() {
        let schema = OutputSchema::new(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": false,
        }))
        .expect("valid schema");
        assert_eq!(
            schema.validate(r#" {"city": "Oslo"} "#),
            Ok(json!({"city": "Oslo"}))
        );
        let Err(AgentError::InvalidOutput(message)) = schema.validate(r#"{"city": 3}"#) else {
            panic!("a number is not a string");
        };
        assert!(message.contains("/city"), "{message}");
        assert!(matches!(
            schema.validate("Oslo"),
            Err(AgentError::InvalidOutput(_))
        ));
    }

    #[test]
    fn an_invalid_schema_is_a_configuration_error() {
        assert!(matches!(
            OutputSchema::new(json!({"type": 12})),
            Err(AgentError::Configuration(_))
        ));
    }

    #[test]
    fn hosted_tools_serialize_with_their_type_first() {
        let tool = HostedTool::file_search(["vs_1"]).with_option("max_num_results", json!(3));
        assert_eq!(
            tool.to_wire(),
            json!({"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 3})
        );
    }
}
