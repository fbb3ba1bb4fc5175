//! Thread items → model input, in the words of the reference's `ThreadItemConverter`, with one
//! overridable method per item kind.
//!
//! [`ThreadItemConverter`] is what [`crate::AgentServer`] uses to show the model the thread's
//! history. Every method has the reference's default rendering (or, where the reference has none
//! and raises, a documented one), so an embedder overrides only the kinds it renders differently:
//! how its tags resolve to entities, how its attachments reach the model, what a widget says.

use std::collections::{HashMap, HashSet};

use agent_runtime::{Message, ToolCall, UserContent};
use async_trait::async_trait;
use chatkit_protocol::items::StructuredInput;
use chatkit_protocol::items::UserMessageTag;
use chatkit_protocol::{
    AssistantMessageItem, Attachment, ClientToolCallItem, ClientToolCallStatus, EndOfTurnItem,
    GeneratedImageItem, HiddenContextItem, SdkHiddenContextItem, StructuredInputItem,
    StructuredInputStatus, Task, TaskItem, ThreadItem, UserMessageContent, UserMessageItem,
    WidgetItem, WorkflowItem,
};
use serde_json::Value;

use crate::bridge::{AttachmentContent, ToolCallRecord, tool_task_titles};

/// The attachment contents read for one conversion: attachment id → what the model gets.
pub type AttachmentContents = HashMap<String, AttachmentContent>;

/// The reference's header of the message that carries the resolved @-mentions.
pub const TAG_CONTEXT_HEADER: &str = "# User-provided context for @-mentions\n\
    - When referencing resolved entities, use their canonical names **without** '@'.\n\
    - The '@' form appears only in user text and should not be echoed.";

/// Converts thread items into model input. Object-safe; hold it as `Arc<dyn ThreadItemConverter>`.
///
/// Contract:
/// - [`ThreadItemConverter::to_messages`] keeps the items' order; each item becomes zero or more
///   messages, and an item that carries nothing for the model (an end-of-turn marker, a pending
///   client tool call) becomes none;
/// - hidden-context items reach the model (they exist for it) and nothing here is shown to the
///   user;
/// - a recorded server-side tool call (a hidden item of type [`crate::bridge::TOOL_CALL_CONTEXT`])
///   becomes the assistant's call followed by its result, so the model sees what its tools
///   returned in earlier turns; the workflow tasks that traced those calls for the user are not
///   repeated as text.
///
/// Override a per-kind method to change one rendering; override `to_messages` only to change
/// the whole walk.
#[async_trait]
pub trait ThreadItemConverter: Send + Sync + 'static {
    /// A user message: its text as typed with tags as `@label`, its attachments, then, for the
    /// newest item only, the quoted text it refers to, then one message with the resolved
    /// @-mentions (each distinct tag once, through [`ThreadItemConverter::tag`]).
    async fn user_message(
        &self,
        item: &UserMessageItem,
        is_last_message: bool,
        attachments: &AttachmentContents,
    ) -> Vec<Message> {
        let mut text = String::new();
        let mut tags: Vec<&UserMessageTag> = Vec::new();
        for part in &item.content {
            match part {
                UserMessageContent::InputText { text: typed } => text.push_str(typed),
                UserMessageContent::InputTag(tag) => {
                    text.push('@');
                    text.push_str(&tag.text);
                    tags.push(tag);
                }
                // A part kind this crate does not know yet carries nothing it can render.
                _ => {}
            }
        }
        let mut content = Vec::with_capacity(1 + item.attachments.len());
        if !text.is_empty() || item.attachments.is_empty() {
            content.push(UserContent::Text { text });
        }
        for attachment in &item.attachments {
            let read = attachments.get(&attachment.base().id);
            content.push(self.attachment(attachment, read).await);
        }
        let mut messages = vec![Message::User { content }];
        if is_last_message
            && let Some(quoted) = item.quoted_text.as_deref().filter(|q| !q.trim().is_empty())
        {
            messages.push(Message::user(format!(
                "The user is referring to this in particular: \n{quoted}"
            )));
        }
        let mut seen = HashSet::new();
        let mut tag_content = vec![UserContent::Text {
            text: TAG_CONTEXT_HEADER.to_owned(),
        }];
        for tag in tags {
            if seen.insert(tag.text.as_str()) {
                tag_content.push(self.tag(tag).await);
            }
        }
        if tag_content.len() > 1 {
            messages.push(Message::User {
                content: tag_content,
            });
        }
        messages
    }

    /// One attachment of a user message. `content` is what was read from its bytes, when the
    /// server has an attachment store: an image becomes an image part, a text file its text in a
    /// fenced block after a line naming it, anything else a line naming the file. Without
    /// `content`, an image whose preview URL the model can fetch (`data:` or `http`) is sent by
    /// URL, and anything else is named.
    async fn attachment(
        &self,
        attachment: &Attachment,
        content: Option<&AttachmentContent>,
    ) -> UserContent {
        let base = attachment.base();
        let named = || UserContent::Text {
            text: format!("[attached file: {} ({})]", base.name, base.mime_type),
        };
        match content {
            Some(AttachmentContent::Image { data_url }) => UserContent::Image {
                url: data_url.clone(),
                detail: None,
            },
            Some(AttachmentContent::Text { text, truncated }) => UserContent::Text {
                text: format!(
                    "[attached file: {} ({}){}]\n```\n{text}\n```",
                    base.name,
                    base.mime_type,
                    if *truncated {
                        ", only its beginning is shown"
                    } else {
                        ""
                    }
                ),
            },
            Some(AttachmentContent::Unreadable) => named(),
            None => match attachment {
                Attachment::Image(image)
                    if image.preview_url.starts_with("data:")
                        || image.preview_url.starts_with("http") =>
                {
                    UserContent::Image {
                        url: image.preview_url.clone(),
                        detail: None,
                    }
                }
                _ => named(),
            },
        }
    }

    /// One @-mention. The reference leaves this to the integration (it raises); the default here
    /// gives the model the tag's label, id, group and data, so that what the composer attached
    /// to the mention is not lost. Override it to resolve the entity (load the document, the
    /// course, the user) instead.
    async fn tag(&self, tag: &UserMessageTag) -> UserContent {
        let mut text = format!("<Tag label=\"{}\" id=\"{}\"", tag.text, tag.id);
        if let Some(group) = &tag.group {
            text.push_str(&format!(" group=\"{group}\""));
        }
        text.push_str(">\n");
        text.push_str(&Value::Object(tag.data.clone()).to_string());
        text.push_str("\n</Tag>");
        UserContent::Text { text }
    }

    /// An assistant message: its text, as the assistant's turn.
    async fn assistant_message(&self, item: &AssistantMessageItem) -> Vec<Message> {
        let text = item.text();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Message::assistant(text)]
        }
    }

    /// A client tool call: nothing while pending (the model cannot be shown a call without its
    /// result), else the call and its output.
    async fn client_tool_call(&self, item: &ClientToolCallItem) -> Vec<Message> {
        if item.status != ClientToolCallStatus::Completed {
            return Vec::new();
        }
        let output = match &item.output {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        vec![
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: item.call_id.clone(),
                    name: item.name.clone(),
                    arguments: Value::Object(item.arguments.clone()).to_string(),
                }],
            },
            Message::tool_result(item.call_id.clone(), output),
        ]
    }

    /// A widget: the reference's sentence naming it, then its JSON
    /// ([`WidgetItem::model_input_text`]).
    async fn widget(&self, item: &WidgetItem) -> Vec<Message> {
        vec![Message::user(item.model_input_text())]
    }

    /// A workflow: one message per custom task with a title or content, as the reference words
    /// it; reasoning and other task kinds carry nothing. Tool-call traces are skipped by
    /// [`ThreadItemConverter::to_messages`] before this is called.
    async fn workflow(&self, item: &WorkflowItem) -> Vec<Message> {
        item.workflow
            .tasks
            .iter()
            .filter_map(performed_task_message)
            .collect()
    }

    /// A single task: as a task of a workflow.
    async fn task(&self, item: &TaskItem) -> Vec<Message> {
        performed_task_message(&item.task).into_iter().collect()
    }

    /// A structured input request with its answers, as the reference words it.
    async fn structured_input(&self, item: &StructuredInputItem) -> Vec<Message> {
        let lines: Vec<String> = item
            .inputs
            .iter()
            .filter_map(|input| {
                let (question, answer) = match input {
                    StructuredInput::MultipleChoice {
                        question, answer, ..
                    }
                    | StructuredInput::Freeform {
                        question, answer, ..
                    } => (question, answer),
                    _ => return None,
                };
                Some(match answer {
                    None => format!("- {question}: unanswered"),
                    Some(answer) if answer.skipped => format!("- {question}: skipped"),
                    Some(answer) => format!("- {question}: {}", answer.values.join(", ")),
                })
            })
            .collect();
        let status = match item.status {
            StructuredInputStatus::Pending => "pending",
            StructuredInputStatus::Answered => "answered",
            StructuredInputStatus::Skipped => "skipped",
        };
        vec![Message::user(format!(
            "A structured input request was displayed to the user with the following status: \
             {status}\n<StructuredInput>\n{}\n</StructuredInput>",
            lines.join("\n")
        ))]
    }

    /// Integration context: a recorded tool call becomes the call and its result; anything else
    /// the reference's hidden-context note (non-text content as its JSON, where the reference
    /// would raise).
    async fn hidden_context(&self, item: &HiddenContextItem) -> Vec<Message> {
        if let Some(ToolCallRecord { call, output }) = ToolCallRecord::from_content(&item.content) {
            return vec![
                Message::Assistant {
                    content: None,
                    tool_calls: vec![call.clone()],
                },
                Message::Tool {
                    call_id: call.id,
                    content: output.content,
                    is_error: output.is_error,
                },
            ];
        }
        let text = match &item.content {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        vec![hidden_context_message(&text)]
    }

    /// Context the engine stored for the model (the cancellation note): the reference's
    /// hidden-context note.
    async fn sdk_hidden_context(&self, item: &SdkHiddenContextItem) -> Vec<Message> {
        vec![hidden_context_message(&item.content)]
    }

    /// A generated image: the reference's sentence and the image, once it exists.
    async fn generated_image(&self, item: &GeneratedImageItem) -> Vec<Message> {
        let Some(image) = &item.image else {
            return Vec::new();
        };
        vec![Message::User {
            content: vec![
                UserContent::Text {
                    text: "The following image was generated by the agent.".to_owned(),
                },
                UserContent::Image {
                    url: image.url.clone(),
                    detail: Some("auto".to_owned()),
                },
            ],
        }]
    }

    /// An end-of-turn marker: a hint for the client only.
    async fn end_of_turn(&self, item: &EndOfTurnItem) -> Vec<Message> {
        let _ = item;
        Vec::new()
    }

    /// The whole history, oldest first. The newest item is the "last message" of
    /// [`ThreadItemConverter::user_message`].
    async fn to_messages(
        &self,
        items: &[ThreadItem],
        attachments: &AttachmentContents,
    ) -> Vec<Message> {
        let traced_tools: HashSet<String> = items
            .iter()
            .filter_map(ToolCallRecord::from_item)
            .map(|record| record.call.name)
            .collect();
        let mut messages = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let is_last = index + 1 == items.len();
            let converted = match item {
                ThreadItem::UserMessage(item) => {
                    self.user_message(item, is_last, attachments).await
                }
                ThreadItem::AssistantMessage(item) => self.assistant_message(item).await,
                ThreadItem::ClientToolCall(item) => self.client_tool_call(item).await,
                ThreadItem::Widget(item) => self.widget(item).await,
                ThreadItem::GeneratedImage(item) => self.generated_image(item).await,
                ThreadItem::StructuredInput(item) => self.structured_input(item).await,
                ThreadItem::Workflow(item) => {
                    if is_tool_trace(item, &traced_tools) {
                        Vec::new()
                    } else {
                        self.workflow(item).await
                    }
                }
                ThreadItem::Task(item) => self.task(item).await,
                ThreadItem::HiddenContext(item) => self.hidden_context(item).await,
                ThreadItem::SdkHiddenContext(item) => self.sdk_hidden_context(item).await,
                ThreadItem::EndOfTurn(item) => self.end_of_turn(item).await,
                _ => Vec::new(),
            };
            messages.extend(converted);
        }
        messages
    }
}

/// The reference's rendering, with every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultConverter;

impl ThreadItemConverter for DefaultConverter {}

fn hidden_context_message(content: &str) -> Message {
    Message::user(format!(
        "Hidden context for the agent (not shown to the user):\n<HiddenContext>\n{content}\n</HiddenContext>"
    ))
}

/// The reference's note for a performed custom task; `None` for other kinds and empty tasks.
fn performed_task_message(task: &Task) -> Option<Message> {
    let Task::Custom { title, content, .. } = task else {
        return None;
    };
    let title = title.as_deref().filter(|t| !t.is_empty());
    let content = content.as_deref().filter(|c| !c.is_empty());
    let task_text = match (title, content) {
        (Some(title), Some(content)) => format!("{title}: {content}"),
        (Some(only), None) | (None, Some(only)) => only.to_owned(),
        (None, None) => return None,
    };
    Some(Message::user(format!(
        "A message was displayed to the user that the following task was performed:\n<Task>\n{task_text}\n</Task>"
    )))
}

/// True when every task of `item` is the bridge's trace of a server-side tool call whose record
/// is in the history: the model sees those calls and results themselves, so the trace would only
/// repeat them.
fn is_tool_trace(item: &WorkflowItem, traced_tools: &HashSet<String>) -> bool {
    !item.workflow.tasks.is_empty()
        && item.workflow.tasks.iter().all(|task| match task {
            Task::Custom {
                title: Some(title),
                content: None,
                ..
            } => traced_tools
                .iter()
                .any(|name| tool_task_titles(name).iter().any(|t| t == title)),
            _ => false,
        })
}
