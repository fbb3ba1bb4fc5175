//! Thread items: the eleven kinds of entry a thread holds, and what they are made of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::widgets::WidgetRoot;

/// One entry of a thread, tagged by `type` on the wire.
///
/// The two hidden-context kinds ([`ThreadItem::HiddenContext`] and
/// [`ThreadItem::SdkHiddenContext`]) are stored and shown to the model but must never reach a
/// client; [`ThreadItem::is_hidden`] tells them apart.
///
/// Deserialization is written by hand (see `item_decode.rs`): it reads the variant straight from
/// the input when `type` is the first field, as in everything this crate serializes, instead of
/// buffering the whole item first as serde's derived internally tagged enums do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
#[non_exhaustive]
// A widget item holds its typed root inline; boxing it would make every match and constructor
// noisier for a few hundred bytes per item, which pages of items can afford.
#[allow(clippy::large_enum_variant)]
pub enum ThreadItem {
    /// A message the user sent.
    #[serde(rename = "user_message")]
    UserMessage(UserMessageItem),
    /// A message from the assistant.
    #[serde(rename = "assistant_message")]
    AssistantMessage(AssistantMessageItem),
    /// A tool call the client executes.
    #[serde(rename = "client_tool_call")]
    ClientToolCall(ClientToolCallItem),
    /// A widget shown in the thread.
    #[serde(rename = "widget")]
    Widget(WidgetItem),
    /// An image the assistant generated.
    #[serde(rename = "generated_image")]
    GeneratedImage(GeneratedImageItem),
    /// A request for structured answers from the user.
    #[serde(rename = "structured_input")]
    StructuredInput(StructuredInputItem),
    /// A workflow: a group of tasks, optionally summarised.
    #[serde(rename = "workflow")]
    Workflow(WorkflowItem),
    /// A single task shown on its own.
    #[serde(rename = "task")]
    Task(TaskItem),
    /// Integration context for the model that the client never sees.
    #[serde(rename = "hidden_context_item")]
    HiddenContext(HiddenContextItem),
    /// Context the server itself stores for the model (for example "the user cancelled").
    #[serde(rename = "sdk_hidden_context")]
    SdkHiddenContext(SdkHiddenContextItem),
    /// Marks the end of the assistant's turn.
    #[serde(rename = "end_of_turn")]
    EndOfTurn(EndOfTurnItem),
}

macro_rules! for_each_item {
    ($self:expr, $item:ident => $body:expr) => {
        match $self {
            ThreadItem::UserMessage($item) => $body,
            ThreadItem::AssistantMessage($item) => $body,
            ThreadItem::ClientToolCall($item) => $body,
            ThreadItem::Widget($item) => $body,
            ThreadItem::GeneratedImage($item) => $body,
            ThreadItem::StructuredInput($item) => $body,
            ThreadItem::Workflow($item) => $body,
            ThreadItem::Task($item) => $body,
            ThreadItem::HiddenContext($item) => $body,
            ThreadItem::SdkHiddenContext($item) => $body,
            ThreadItem::EndOfTurn($item) => $body,
        }
    };
}

impl ThreadItem {
    /// The item's id.
    pub fn id(&self) -> &str {
        for_each_item!(self, item => &item.id)
    }

    /// Replaces the item's id.
    pub fn set_id(&mut self, id: impl Into<String>) {
        let id = id.into();
        for_each_item!(self, item => item.id = id)
    }

    /// The id of the thread the item belongs to.
    pub fn thread_id(&self) -> &str {
        for_each_item!(self, item => &item.thread_id)
    }

    /// Moves the item to another thread id (used when an item is built before its thread exists).
    pub fn set_thread_id(&mut self, thread_id: impl Into<String>) {
        let thread_id = thread_id.into();
        for_each_item!(self, item => item.thread_id = thread_id)
    }

    /// When the item was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        for_each_item!(self, item => item.created_at)
    }

    /// The wire tag of the item (`"user_message"`, `"workflow"`...).
    pub fn kind(&self) -> &'static str {
        match self {
            ThreadItem::UserMessage(_) => "user_message",
            ThreadItem::AssistantMessage(_) => "assistant_message",
            ThreadItem::ClientToolCall(_) => "client_tool_call",
            ThreadItem::Widget(_) => "widget",
            ThreadItem::GeneratedImage(_) => "generated_image",
            ThreadItem::StructuredInput(_) => "structured_input",
            ThreadItem::Workflow(_) => "workflow",
            ThreadItem::Task(_) => "task",
            ThreadItem::HiddenContext(_) => "hidden_context_item",
            ThreadItem::SdkHiddenContext(_) => "sdk_hidden_context",
            ThreadItem::EndOfTurn(_) => "end_of_turn",
        }
    }

    /// True for the hidden-context kinds, which are never sent to a client.
    pub fn is_hidden(&self) -> bool {
        matches!(
            self,
            ThreadItem::HiddenContext(_) | ThreadItem::SdkHiddenContext(_)
        )
    }

    /// The role of a message item (`"user"` or `"assistant"`), `None` for other kinds.
    pub fn role(&self) -> Option<&'static str> {
        match self {
            ThreadItem::UserMessage(_) => Some("user"),
            ThreadItem::AssistantMessage(_) => Some("assistant"),
            _ => None,
        }
    }

    /// The plain text of a user or assistant message (its text parts joined), `None` for other
    /// kinds. Stores keep it beside the JSON so that SQL users can read conversations.
    pub fn plain_text(&self) -> Option<String> {
        match self {
            ThreadItem::UserMessage(item) => Some(item.text()),
            ThreadItem::AssistantMessage(item) => Some(item.text()),
            _ => None,
        }
    }
}

/// A message the user sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Text and tag parts, in order.
    pub content: Vec<UserMessageContent>,
    /// Attachments sent with the message.
    #[serde(default)]
    pub attachments: Vec<crate::attachments::Attachment>,
    /// Text the user quoted from an earlier message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_text: Option<String>,
    /// Model and tool choices the user made in the composer.
    pub inference_options: InferenceOptions,
}

impl UserMessageItem {
    /// The message's text: text parts and tag texts joined without separators, as typed.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .map(|part| match part {
                UserMessageContent::InputText { text } => text.as_str(),
                UserMessageContent::InputTag(tag) => tag.text.as_str(),
            })
            .collect()
    }
}

/// A part of a user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum UserMessageContent {
    /// Plain text.
    #[serde(rename = "input_text")]
    InputText {
        /// The text.
        text: String,
    },
    /// An interactive tag (an @-mention of an entity).
    #[serde(rename = "input_tag")]
    InputTag(UserMessageTag),
}

impl UserMessageContent {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        UserMessageContent::InputText { text: text.into() }
    }
}

/// An interactive tag inside a user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageTag {
    /// Tag id.
    pub id: String,
    /// Text shown for the tag.
    pub text: String,
    /// Integration data carried with the tag.
    pub data: Map<String, Value>,
    /// Group the tag belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether the tag is interactive.
    #[serde(default)]
    pub interactive: bool,
}

/// Model and tool choices sent with a user message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceOptions {
    /// A tool the user asked the assistant to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// A model the user picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// An explicit tool selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolChoice {
    /// Tool id.
    pub id: String,
}

/// A message from the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessageItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Output text parts.
    pub content: Vec<AssistantMessageContent>,
}

impl AssistantMessageItem {
    /// The message's text: all parts joined.
    pub fn text(&self) -> String {
        self.content.iter().map(|part| part.text.as_str()).collect()
    }
}

/// A text part of an assistant message, with its annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessageContent {
    /// Citations and references attached to the text.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// The text.
    pub text: String,
    /// Always `output_text`.
    #[serde(rename = "type", default = "output_text")]
    pub kind: OutputText,
}

/// The constant `output_text` tag of assistant content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputText {
    /// `output_text`.
    #[default]
    #[serde(rename = "output_text")]
    OutputText,
}

fn output_text() -> OutputText {
    OutputText::OutputText
}

impl AssistantMessageContent {
    /// A text part without annotations.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            annotations: Vec::new(),
            text: text.into(),
            kind: OutputText::OutputText,
        }
    }
}

/// A reference to supporting context attached to assistant output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Always `annotation`.
    #[serde(rename = "type", default = "annotation_tag")]
    pub kind: AnnotationTag,
    /// What the annotation points at.
    pub source: Source,
    /// Character index in the text where the annotation applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
}

/// The constant `annotation` tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnotationTag {
    /// `annotation`.
    #[default]
    #[serde(rename = "annotation")]
    Annotation,
}

fn annotation_tag() -> AnnotationTag {
    AnnotationTag::Annotation
}

/// A source shown to users: a URL, a file or an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Source {
    /// An external URL.
    #[serde(rename = "url")]
    Url(UrlSource),
    /// A file.
    #[serde(rename = "file")]
    File(FileSource),
    /// An entity of the integration.
    #[serde(rename = "entity")]
    Entity(EntitySource),
}

/// Source metadata for an external URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlSource {
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Timestamp text, as the integration wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The URL.
    pub url: String,
    /// Attribution text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
}

/// Source metadata for a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Timestamp text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// File name.
    pub filename: String,
}

/// Source metadata for an entity reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySource {
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Timestamp text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Entity id.
    pub id: String,
    /// Icon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Label in the hover header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Label for the inline annotation view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_label: Option<String>,
    /// Whether client callbacks are wired for this entity.
    #[serde(default)]
    pub interactive: bool,
    /// Data passed to client entity callbacks.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Deprecated and ignored by clients; kept so that it survives a round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

/// A tool call executed by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientToolCallItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// `pending` until the client sends the output.
    #[serde(default)]
    pub status: ClientToolCallStatus,
    /// The model's call id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments the model produced.
    pub arguments: Map<String, Value>,
    /// The client's result, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// Status of a client tool call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientToolCallStatus {
    /// Waiting for the client's output.
    #[default]
    Pending,
    /// The output arrived.
    Completed,
}

/// A widget shown in the thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// The widget tree (boxed: it is about 800 bytes inline, and every item and event would
    /// otherwise be that large).
    pub widget: Box<WidgetRoot>,
    /// Text copied when the user copies the widget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_text: Option<String>,
}

impl WidgetItem {
    /// What the model is told about this widget in later turns, in the reference's words
    /// (`ThreadItemConverter.widget_to_input`): a sentence naming the item, then the widget's
    /// compact JSON.
    ///
    /// One deliberate difference: the reference dumps with `exclude_unset`, which drops every
    /// component's `type` when the widget was built in code (it is a default there), so its model
    /// cannot tell a `Button` from a `Text`. The JSON here is the wire form, `type`s included.
    pub fn model_input_text(&self) -> String {
        format!(
            "The following graphical UI widget (id: {}) was displayed to the user:{}",
            self.id,
            self.widget.to_json()
        )
    }
}

/// A generated image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImage {
    /// Image id.
    pub id: String,
    /// Where the image can be fetched.
    pub url: String,
}

/// An image the assistant generated (or is generating).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImageItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// The image, once available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<GeneratedImage>,
}

/// An answer recorded for one structured input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputAnswer {
    /// Text values.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether the input was skipped.
    #[serde(default)]
    pub skipped: bool,
}

/// One option of a multiple-choice input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputOption {
    /// Value submitted when chosen.
    pub value: String,
}

/// One question of a structured input item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum StructuredInput {
    /// Answered by choosing options (or a custom answer).
    #[serde(rename = "multiple_choice")]
    MultipleChoice {
        /// Stable id of the input.
        id: String,
        /// Question shown.
        question: String,
        /// Recorded answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<StructuredInputAnswer>,
        /// Suggested choices.
        options: Vec<StructuredInputOption>,
        /// Whether several values may be submitted.
        #[serde(default)]
        multiple: bool,
    },
    /// Answered with free text.
    #[serde(rename = "freeform")]
    Freeform {
        /// Stable id of the input.
        id: String,
        /// Question shown.
        question: String,
        /// Recorded answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<StructuredInputAnswer>,
        /// Supporting text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

impl StructuredInput {
    /// The input's id.
    pub fn id(&self) -> &str {
        match self {
            StructuredInput::MultipleChoice { id, .. } | StructuredInput::Freeform { id, .. } => id,
        }
    }

    /// The recorded answer, mutably.
    pub fn answer_mut(&mut self) -> &mut Option<StructuredInputAnswer> {
        match self {
            StructuredInput::MultipleChoice { answer, .. }
            | StructuredInput::Freeform { answer, .. } => answer,
        }
    }
}

/// Status of a structured input item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredInputStatus {
    /// Waiting for the user.
    #[default]
    Pending,
    /// Answered.
    Answered,
    /// Skipped.
    Skipped,
}

/// A request for structured answers from the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Status.
    #[serde(default)]
    pub status: StructuredInputStatus,
    /// The questions.
    pub inputs: Vec<StructuredInput>,
}

/// A single task shown on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// The task.
    pub task: Task,
}

/// A workflow item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// The workflow.
    pub workflow: Workflow,
}

/// Integration context for the model, never sent to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HiddenContextItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Any JSON the integration wants the model to see.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub content: Value,
}

/// Context stored by the server itself for the model, never sent to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdkHiddenContextItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Text for the model.
    pub content: String,
}

/// Marks the end of the assistant's turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndOfTurnItem {
    /// Item id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
}

/// A workflow: tasks with an optional summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// `custom` or `reasoning`.
    #[serde(rename = "type")]
    pub kind: WorkflowKind,
    /// The tasks, in order.
    pub tasks: Vec<Task>,
    /// Summary shown when collapsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<WorkflowSummary>,
    /// Whether the workflow is shown expanded.
    #[serde(default)]
    pub expanded: bool,
}

/// Kind of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowKind {
    /// Tasks of the integration's choosing.
    Custom,
    /// The model's reasoning.
    Reasoning,
}

/// Summary of a workflow: a title or a duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WorkflowSummary {
    /// A custom title (and icon).
    Custom {
        /// Title.
        title: String,
        /// Icon name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
    },
    /// The workflow's duration in seconds.
    Duration {
        /// Seconds.
        duration: i64,
    },
}

/// How a task is drawn inside a workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusIndicator {
    /// No indicator.
    #[default]
    None,
    /// A spinner.
    Loading,
    /// A check mark.
    Complete,
}

/// A workflow task, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Task {
    /// Custom content.
    #[serde(rename = "custom")]
    Custom {
        /// Status indicator.
        #[serde(default)]
        status_indicator: StatusIndicator,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Icon name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
        /// Content (markdown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
    },
    /// A web search.
    #[serde(rename = "web_search")]
    WebSearch {
        /// Status indicator.
        #[serde(default)]
        status_indicator: StatusIndicator,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Query shown in the title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title_query: Option<String>,
        /// Queries run.
        #[serde(default)]
        queries: Vec<String>,
        /// Sources found.
        #[serde(default)]
        sources: Vec<UrlSourceTagged>,
    },
    /// The assistant's reasoning.
    #[serde(rename = "thought")]
    Thought {
        /// Status indicator.
        #[serde(default)]
        status_indicator: StatusIndicator,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The thought.
        content: String,
    },
    /// File sources.
    #[serde(rename = "file")]
    File {
        /// Status indicator.
        #[serde(default)]
        status_indicator: StatusIndicator,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Files referenced.
        #[serde(default)]
        sources: Vec<FileSourceTagged>,
    },
    /// Image content.
    #[serde(rename = "image")]
    Image {
        /// Status indicator.
        #[serde(default)]
        status_indicator: StatusIndicator,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

/// A URL source as it appears in lists that carry the `type` tag (`"type": "url"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "url")]
pub struct UrlSourceTagged {
    /// The source.
    #[serde(flatten)]
    pub source: UrlSource,
}

/// A file source as it appears in lists that carry the `type` tag (`"type": "file"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "file")]
pub struct FileSourceTagged {
    /// The source.
    #[serde(flatten)]
    pub source: FileSource,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::widgets::WidgetRoot;

    #[test]
    fn a_widget_is_described_to_the_model_as_the_reference_does_with_component_types() {
        let widget = WidgetRoot::from_json(json!({
            "type": "Card",
            "children": [{"type": "Text", "value": "Hi"}],
        }))
        .expect("a valid widget");
        let item = WidgetItem {
            id: "w1".into(),
            thread_id: "t1".into(),
            created_at: Utc.timestamp_opt(0, 0).single().expect("valid time"),
            widget: Box::new(widget),
            copy_text: Some("Hi".into()),
        };
        assert_eq!(
            item.model_input_text(),
            r#"The following graphical UI widget (id: w1) was displayed to the user:{"type":"Card","children":[{"type":"Text","value":"Hi"}]}"#
        );
    }
}
