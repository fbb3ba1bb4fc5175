//! Stream events: what a streaming request answers with, one per SSE frame.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::items::{Annotation, AssistantMessageContent, GeneratedImage, Task, ThreadItem};
use crate::thread::Thread;
use crate::widgets::{WidgetComponent, WidgetRoot};

/// An event of a ChatKit stream, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
// Events are built, serialized and dropped at once; boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum ThreadStreamEvent {
    /// A thread was created.
    #[serde(rename = "thread.created")]
    ThreadCreated {
        /// The new thread.
        thread: Thread,
    },
    /// A thread's title, status or metadata changed.
    #[serde(rename = "thread.updated")]
    ThreadUpdated {
        /// The thread as it now is.
        thread: Thread,
    },
    /// An item is complete (and persisted).
    #[serde(rename = "thread.item.done")]
    ThreadItemDone {
        /// The item.
        item: ThreadItem,
    },
    /// An item started (it will be updated, then done).
    #[serde(rename = "thread.item.added")]
    ThreadItemAdded {
        /// The item.
        item: ThreadItem,
    },
    /// An incremental update of an item.
    #[serde(rename = "thread.item.updated")]
    ThreadItemUpdated {
        /// The item updated.
        item_id: String,
        /// The update.
        update: ThreadItemUpdate,
    },
    /// An item was removed.
    #[serde(rename = "thread.item.removed")]
    ThreadItemRemoved {
        /// The item removed.
        item_id: String,
    },
    /// An item was replaced as a whole.
    #[serde(rename = "thread.item.replaced")]
    ThreadItemReplaced {
        /// The new item.
        item: ThreadItem,
    },
    /// Stream options, sent first.
    #[serde(rename = "stream_options")]
    StreamOptions {
        /// The options.
        stream_options: StreamOptions,
    },
    /// A transient progress line.
    #[serde(rename = "progress_update")]
    ProgressUpdate {
        /// Icon name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
        /// Text.
        text: String,
    },
    /// A side effect for the client to perform.
    #[serde(rename = "client_effect")]
    ClientEffect {
        /// Effect name.
        name: String,
        /// Effect data.
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// An error; the stream ends after it.
    #[serde(rename = "error")]
    Error {
        /// Error code (`custom` when `message` says it all).
        #[serde(default)]
        code: ErrorCode,
        /// User-facing message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Whether the client may offer a retry.
        #[serde(default)]
        allow_retry: bool,
    },
    /// A user-facing notice.
    #[serde(rename = "notice")]
    Notice {
        /// Severity.
        level: NoticeLevel,
        /// Markdown message.
        message: String,
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

impl ThreadStreamEvent {
    /// The wire tag of the event.
    pub fn kind(&self) -> &'static str {
        match self {
            ThreadStreamEvent::ThreadCreated { .. } => "thread.created",
            ThreadStreamEvent::ThreadUpdated { .. } => "thread.updated",
            ThreadStreamEvent::ThreadItemDone { .. } => "thread.item.done",
            ThreadStreamEvent::ThreadItemAdded { .. } => "thread.item.added",
            ThreadStreamEvent::ThreadItemUpdated { .. } => "thread.item.updated",
            ThreadStreamEvent::ThreadItemRemoved { .. } => "thread.item.removed",
            ThreadStreamEvent::ThreadItemReplaced { .. } => "thread.item.replaced",
            ThreadStreamEvent::StreamOptions { .. } => "stream_options",
            ThreadStreamEvent::ProgressUpdate { .. } => "progress_update",
            ThreadStreamEvent::ClientEffect { .. } => "client_effect",
            ThreadStreamEvent::Error { .. } => "error",
            ThreadStreamEvent::Notice { .. } => "notice",
        }
    }

    /// The generic retryable stream error the reference sends when a response fails.
    pub fn stream_error() -> Self {
        ThreadStreamEvent::Error {
            code: ErrorCode::StreamError,
            message: None,
            allow_retry: true,
        }
    }
}

/// Runtime stream settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Whether the client may cancel mid-stream.
    pub allow_cancel: bool,
}

/// Severity of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    /// Informational.
    Info,
    /// Warning.
    Warning,
    /// Danger.
    Danger,
}

/// Error codes. Not closed: the reference adds codes over time, and unknown ones survive a round
/// trip as [`ErrorCode::Other`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `custom`: the message is the user-facing text.
    #[default]
    Custom,
    /// `stream.error`: a localized generic "something went wrong" on the client.
    StreamError,
    /// A code this version does not know.
    Other(String),
}

impl ErrorCode {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Custom => "custom",
            ErrorCode::StreamError => "stream.error",
            ErrorCode::Other(code) => code,
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(match code.as_str() {
            "custom" => ErrorCode::Custom,
            "stream.error" => ErrorCode::StreamError,
            _ => ErrorCode::Other(code),
        })
    }
}

/// An incremental update of an item, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
// Updates are built, serialized and dropped at once; boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum ThreadItemUpdate {
    /// A content part was added to an assistant message.
    #[serde(rename = "assistant_message.content_part.added")]
    AssistantMessageContentPartAdded {
        /// Part index.
        content_index: i64,
        /// The part as it starts.
        content: AssistantMessageContent,
    },
    /// Text appended to a content part.
    #[serde(rename = "assistant_message.content_part.text_delta")]
    AssistantMessageContentPartTextDelta {
        /// Part index.
        content_index: i64,
        /// The appended text.
        delta: String,
    },
    /// An annotation added to a content part.
    #[serde(rename = "assistant_message.content_part.annotation_added")]
    AssistantMessageContentPartAnnotationAdded {
        /// Part index.
        content_index: i64,
        /// Annotation index.
        annotation_index: i64,
        /// The annotation.
        annotation: Annotation,
    },
    /// A content part is final.
    #[serde(rename = "assistant_message.content_part.done")]
    AssistantMessageContentPartDone {
        /// Part index.
        content_index: i64,
        /// The final part.
        content: AssistantMessageContent,
    },
    /// Text streamed into a widget's Text or Markdown component.
    #[serde(rename = "widget.streaming_text.value_delta")]
    WidgetStreamingTextValueDelta {
        /// Component id.
        component_id: String,
        /// Appended text.
        delta: String,
        /// Whether the text is complete.
        done: bool,
    },
    /// A component changed.
    #[serde(rename = "widget.component.updated")]
    WidgetComponentUpdated {
        /// Component id.
        component_id: String,
        /// The new component (boxed: a component is about 1.4 KB inline, and every event on
        /// every stream would otherwise be that large).
        component: Box<WidgetComponent>,
    },
    /// The whole widget changed.
    #[serde(rename = "widget.root.updated")]
    WidgetRootUpdated {
        /// The new widget (boxed, as `component` above).
        widget: Box<WidgetRoot>,
    },
    /// A task was added to a workflow.
    #[serde(rename = "workflow.task.added")]
    WorkflowTaskAdded {
        /// Task index.
        task_index: i64,
        /// The task.
        task: Task,
    },
    /// A workflow task changed.
    #[serde(rename = "workflow.task.updated")]
    WorkflowTaskUpdated {
        /// Task index.
        task_index: i64,
        /// The task as it now is.
        task: Task,
    },
    /// A generated image changed.
    #[serde(rename = "generated_image.updated")]
    GeneratedImageUpdated {
        /// The image.
        image: GeneratedImage,
        /// Progress from 0 to 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        progress: Option<f64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of every stream is moved through the engine's pipeline, buffered in its
    /// channel and held by the futures that await it: its inline size is paid per event and
    /// per open stream (docs/BENCHMARKS.md, memory per stream). Widgets are boxed for that; a
    /// new large variant should be too.
    #[test]
    fn events_and_items_stay_small_inline() {
        assert!(
            std::mem::size_of::<ThreadStreamEvent>() <= 400,
            "ThreadStreamEvent is {} bytes",
            std::mem::size_of::<ThreadStreamEvent>()
        );
        assert!(
            std::mem::size_of::<ThreadItem>() <= 300,
            "ThreadItem is {} bytes",
            std::mem::size_of::<ThreadItem>()
        );
    }
}
