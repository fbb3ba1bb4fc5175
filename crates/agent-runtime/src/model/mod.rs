//! Model providers over normalized types.
//!
//! A provider turns a [`ModelRequest`] into a stream of [`ModelEvent`]s. Wire formats (OpenAI
//! Chat Completions chunks, Responses API events) stay inside the provider modules; the agent loop
//! only ever sees the types defined here.

pub mod demo;
pub mod hosted;
pub mod openai;
pub mod settings;

use std::collections::BTreeMap;
use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AgentError;
use crate::tool::ToolDefinition;

pub use hosted::{HostedToolEvent, SearchKind, SearchSource};
pub use settings::{
    HostedTool, HostedToolKind, OutputSchema, ReasoningEffort, ReasoningSettings, ReasoningSummary,
};

/// One part of a user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UserContent {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL (`https://...` or a `data:` URL).
    Image {
        /// Where the image is.
        url: String,
        /// Requested detail level (`low`, `high`, `auto`), when the caller cares.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// A tool call the model made: the id that ties it to its result, the tool name, and the raw
/// arguments string exactly as the model produced it (it may not be valid JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's call id; the tool result must carry the same id.
    pub id: String,
    /// The name of the tool the model wants to run.
    pub name: String,
    /// The arguments as a JSON text, unparsed.
    pub arguments: String,
}

/// A reasoning item of the Responses API, kept so that it can be sent back: a reasoning model
/// that called tools continues from its own reasoning when the next request carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningItem {
    /// The vendor's id of the item.
    pub id: String,
    /// The summary texts, one per summary part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<String>,
    /// The encrypted reasoning, when the request asked for it (`include:
    /// ["reasoning.encrypted_content"]`, needed to send it back with `store: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
}

/// One message of a conversation, in the provider-neutral form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The instructions.
        content: String,
    },
    /// What the user said: text and images.
    User {
        /// The parts, in order.
        content: Vec<UserContent>,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The text, when the model wrote any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// The tool calls, in the order the model made them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The model's reasoning before the assistant message that follows it (Responses API only;
    /// Chat Completions requests leave it out).
    Reasoning(ReasoningItem),
    /// The result of one tool call, fed back to the model.
    Tool {
        /// The id of the call this answers.
        call_id: String,
        /// The output text.
        content: String,
        /// True when the output describes a failure.
        #[serde(default)]
        is_error: bool,
    },
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    /// A user message with a single text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::User {
            content: vec![UserContent::Text { text: text.into() }],
        }
    }

    /// An assistant message with text only.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::Assistant {
            content: Some(text.into()),
            tool_calls: Vec::new(),
        }
    }

    /// The result of tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::Tool {
            call_id: call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }

    /// The text of a user message (its text parts joined), or `None` for other roles.
    pub fn user_text(&self) -> Option<String> {
        match self {
            Self::User { content } => Some(
                content
                    .iter()
                    .filter_map(|part| match part {
                        UserContent::Text { text } => Some(text.as_str()),
                        UserContent::Image { .. } => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    }
}

/// Which tool the model may or must call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Named(String),
}

/// Sampling and tool settings for one request. `None` leaves the provider's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSettings {
    /// The model to ask instead of the provider's configured one (for example the model a user
    /// picked in the composer, once the integration has checked it against its allow-list).
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u32>,
    /// Tool choice; only sent when the request has tools.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn; only sent when the request has tools.
    pub parallel_tool_calls: Option<bool>,
    /// Reasoning effort and summary, for reasoning models.
    pub reasoning: Option<ReasoningSettings>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Stop sequences (Chat Completions only: the Responses API has none).
    pub stop: Vec<String>,
    /// Sampling seed (Chat Completions only).
    pub seed: Option<i64>,
    /// Key/value pairs stored with the completion at the vendor.
    pub metadata: BTreeMap<String, String>,
    /// Whether the vendor stores the response (`store`). The Responses provider sends `false`
    /// when unset, because it sends the whole conversation every turn anyway.
    pub store: Option<bool>,
    /// Extra output the Responses API should include (`include`, e.g.
    /// `reasoning.encrypted_content`); the provider adds what the hosted tools need.
    pub include: Vec<String>,
    /// Fields merged into the request JSON last, over the ones built from the other settings,
    /// for compatible servers' own parameters (`top_k`, `repetition_penalty`...).
    pub extra_body: Map<String, Value>,
    /// A JSON schema the final answer must match; see [`OutputSchema`].
    pub output_schema: Option<OutputSchema>,
    /// Tools the vendor runs itself (Responses API only); see [`HostedTool`].
    pub hosted_tools: Vec<HostedTool>,
}

/// Everything a provider needs for one model call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRequest {
    /// The conversation, system message first when there is one.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Vec<ToolDefinition>,
    /// Sampling and tool settings.
    pub settings: ModelSettings,
}

/// Token usage of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// Total as reported by the provider (usually input + output).
    pub total_tokens: u64,
}

impl Usage {
    /// Adds another call's usage to this one, for run totals.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end of the answer.
    Stop,
    /// The model wants its tool calls run.
    ToolCalls,
    /// The token limit was reached.
    Length,
    /// The provider's content filter stopped the answer.
    ContentFilter,
    /// Something else, as the provider named it.
    Other(String),
}

/// A citation a provider attached to the answer text (the Responses API's `url_citation` and
/// `file_citation` annotations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextAnnotation {
    /// Where the citation sits in the answer text, in characters: the end of the cited span
    /// (`end_index`) for a URL, the position (`index`) for a file.
    pub index: usize,
    /// What is cited.
    pub source: AnnotationSource,
}

/// What a [`TextAnnotation`] cites.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnnotationSource {
    /// A web page.
    Url {
        /// The page's URL.
        url: String,
        /// Its title.
        title: String,
    },
    /// A file the provider searched.
    File {
        /// The provider's file id.
        file_id: String,
        /// The file's name.
        filename: String,
    },
}

/// One event of a streamed model answer.
///
/// Contract for providers: every tool call is reported exactly once as an assembled
/// [`ModelEvent::ToolCall`] (deltas are optional progress information), usage at most once, and a
/// successful stream ends with exactly one [`ModelEvent::Finished`] after everything else. A
/// failure ends the stream with an `Err` instead.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelEvent {
    /// A piece of answer text.
    TextDelta(String),
    /// A citation on the answer text.
    Annotation(TextAnnotation),
    /// A piece of the model's reasoning (or reasoning summary), where the provider shares it.
    ReasoningDelta(String),
    /// Progress on a tool call that is still being generated.
    ToolCallDelta {
        /// Identifies the call within this answer (its position among the calls for Chat
        /// Completions, its output index for the Responses API); stable across its deltas.
        index: usize,
        /// The call id, when this delta carries it.
        id: Option<String>,
        /// The tool name, when this delta carries it.
        name: Option<String>,
        /// The next piece of the arguments text.
        arguments_delta: String,
    },
    /// A complete tool call.
    ToolCall(ToolCall),
    /// A finished reasoning item, to be sent back on the run's next model call (Responses API).
    ReasoningItem(ReasoningItem),
    /// Progress of a tool the vendor runs itself.
    HostedTool(HostedToolEvent),
    /// Token usage of this call.
    Usage(Usage),
    /// The answer is complete.
    Finished(FinishReason),
}

/// The stream a provider returns.
pub type ModelEventStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, AgentError>> + Send>>;

/// A language model behind some API.
///
/// Object-safe so an application can pick the provider at runtime (`Arc<dyn ModelProvider>`).
///
/// Contract:
/// - `stream` sends the request and resolves once the first event arrived, so a request the
///   provider refuses (bad key, unknown model, overload after retries) comes back as `Err` here
///   rather than inside the stream.
/// - Dropping the future or the returned stream aborts the upstream request at once.
/// - A provider may retry a request that failed before it produced anything, but never re-sends
///   a request after it has yielded its first event: the caller would see a duplicated answer.
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// The model name, for logs and traces.
    fn model_name(&self) -> &str;

    /// Sends `request` and streams the answer.
    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError>;
}

/// Waits for the first item of `stream` and hands back a stream that starts with it, so a
/// provider can report a failed start as `Err` from [`ModelProvider::stream`].
pub(crate) async fn resolve_first_event(
    mut stream: ModelEventStream,
) -> Result<ModelEventStream, AgentError> {
    use futures::StreamExt;
    match stream.next().await {
        Some(Err(error)) => Err(error),
        Some(Ok(first)) => Ok(Box::pin(
            futures::stream::once(async { Ok(first) }).chain(stream),
        )),
        None => Err(AgentError::StreamInterrupted(
            "the provider ended the stream without any event".to_owned(),
        )),
    }
}
