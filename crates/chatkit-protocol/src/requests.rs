//! Requests: the sixteen request types a ChatKit client sends, tagged by `type`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ProtocolError;
use crate::actions::Action;
use crate::items::{InferenceOptions, UserMessageContent};
use crate::thread::Order;

/// Integration metadata sent with every request (page context, user hints...). Untrusted.
pub type RequestMetadata = Map<String, Value>;

/// A ChatKit request. Six kinds answer with a stream of events ([`ChatKitRequest::is_streaming`]),
/// the other ten with one JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ChatKitRequest {
    /// Create a thread from a first user message (streaming).
    #[serde(rename = "threads.create")]
    ThreadsCreate {
        /// Parameters.
        params: ThreadCreateParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Append a user message to a thread (streaming).
    #[serde(rename = "threads.add_user_message")]
    ThreadsAddUserMessage {
        /// Parameters.
        params: ThreadAddUserMessageParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Deliver a client tool's output (streaming).
    #[serde(rename = "threads.add_client_tool_output")]
    ThreadsAddClientToolOutput {
        /// Parameters.
        params: ThreadAddClientToolOutputParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Answer a pending structured input item (streaming).
    #[serde(rename = "threads.add_structured_input")]
    ThreadsAddStructuredInput {
        /// Parameters.
        params: ThreadAddStructuredInputParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Delete everything after a user message and respond again (streaming).
    #[serde(rename = "threads.retry_after_item")]
    ThreadsRetryAfterItem {
        /// Parameters.
        params: ThreadRetryAfterItemParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Run a custom (widget) action (streaming).
    #[serde(rename = "threads.custom_action")]
    ThreadsCustomAction {
        /// Parameters.
        params: ThreadCustomActionParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Fetch a thread and its first page of items.
    #[serde(rename = "threads.get_by_id")]
    ThreadsGetById {
        /// Parameters.
        params: ThreadGetByIdParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// List the caller's threads.
    #[serde(rename = "threads.list")]
    ThreadsList {
        /// Parameters (required, as in the reference, even though every one has a default).
        params: ThreadListParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// List a thread's items.
    #[serde(rename = "items.list")]
    ItemsList {
        /// Parameters.
        params: ItemsListParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Record feedback on items.
    #[serde(rename = "items.feedback")]
    ItemsFeedback {
        /// Parameters.
        params: ItemFeedbackParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Register an attachment (two-phase upload).
    #[serde(rename = "attachments.create")]
    AttachmentsCreate {
        /// Parameters.
        params: AttachmentCreateParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Delete an attachment.
    #[serde(rename = "attachments.delete")]
    AttachmentsDelete {
        /// Parameters.
        params: AttachmentDeleteParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Rename a thread.
    #[serde(rename = "threads.update")]
    ThreadsUpdate {
        /// Parameters.
        params: ThreadUpdateParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Delete a thread and everything in it.
    #[serde(rename = "threads.delete")]
    ThreadsDelete {
        /// Parameters.
        params: ThreadDeleteParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Transcribe dictated audio.
    #[serde(rename = "input.transcribe")]
    InputTranscribe {
        /// Parameters.
        params: InputTranscribeParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
    /// Run a custom action that answers with one item update.
    #[serde(rename = "threads.sync_custom_action")]
    ThreadsSyncCustomAction {
        /// Parameters.
        params: ThreadCustomActionParams,
        /// Integration metadata.
        #[serde(default)]
        metadata: RequestMetadata,
    },
}

impl ChatKitRequest {
    /// Every request `type`, the six streaming ones first.
    pub const KINDS: [&'static str; 16] = [
        "threads.create",
        "threads.add_user_message",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
        "threads.retry_after_item",
        "threads.custom_action",
        "threads.get_by_id",
        "threads.list",
        "items.list",
        "items.feedback",
        "attachments.create",
        "attachments.delete",
        "threads.update",
        "threads.delete",
        "input.transcribe",
        "threads.sync_custom_action",
    ];

    /// Whether a request `type` answers with a stream of events, without parsing the request.
    /// `None` for a `type` that is not a request type.
    pub fn kind_is_streaming(kind: &str) -> Option<bool> {
        let index = Self::KINDS.iter().position(|known| *known == kind)?;
        Some(index < 6)
    }

    /// Parses a request body. On failure the message names what is wrong: the field's path
    /// (`params.input.content[0]: unknown variant ...`, `params: missing field ...`) or the
    /// unknown `type` value.
    pub fn from_slice(body: &[u8]) -> Result<Self, ProtocolError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let request = match serde_path_to_error::deserialize::<_, Self>(&mut de) {
            Ok(request) => request,
            Err(err) => {
                let error = ProtocolError::from_path_error(err);
                if matches!(error, ProtocolError::MalformedJson(_)) {
                    return Err(error);
                }
                // The derived deserializer buffers the body to find the `type` tag first, which
                // loses the path of the failing field; find it again on the failure path only.
                return Err(serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|value| explain_invalid_request(&value))
                    .unwrap_or(error));
            }
        };
        de.end()
            .map_err(|err| ProtocolError::MalformedJson(err.to_string()))?;
        Ok(request)
    }

    /// The wire tag (`"threads.create"`...).
    pub fn kind(&self) -> &'static str {
        match self {
            ChatKitRequest::ThreadsCreate { .. } => "threads.create",
            ChatKitRequest::ThreadsAddUserMessage { .. } => "threads.add_user_message",
            ChatKitRequest::ThreadsAddClientToolOutput { .. } => "threads.add_client_tool_output",
            ChatKitRequest::ThreadsAddStructuredInput { .. } => "threads.add_structured_input",
            ChatKitRequest::ThreadsRetryAfterItem { .. } => "threads.retry_after_item",
            ChatKitRequest::ThreadsCustomAction { .. } => "threads.custom_action",
            ChatKitRequest::ThreadsGetById { .. } => "threads.get_by_id",
            ChatKitRequest::ThreadsList { .. } => "threads.list",
            ChatKitRequest::ItemsList { .. } => "items.list",
            ChatKitRequest::ItemsFeedback { .. } => "items.feedback",
            ChatKitRequest::AttachmentsCreate { .. } => "attachments.create",
            ChatKitRequest::AttachmentsDelete { .. } => "attachments.delete",
            ChatKitRequest::ThreadsUpdate { .. } => "threads.update",
            ChatKitRequest::ThreadsDelete { .. } => "threads.delete",
            ChatKitRequest::InputTranscribe { .. } => "input.transcribe",
            ChatKitRequest::ThreadsSyncCustomAction { .. } => "threads.sync_custom_action",
        }
    }

    /// True for the six kinds that answer with a stream of events.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            ChatKitRequest::ThreadsCreate { .. }
                | ChatKitRequest::ThreadsAddUserMessage { .. }
                | ChatKitRequest::ThreadsAddClientToolOutput { .. }
                | ChatKitRequest::ThreadsAddStructuredInput { .. }
                | ChatKitRequest::ThreadsRetryAfterItem { .. }
                | ChatKitRequest::ThreadsCustomAction { .. }
        )
    }

    /// The request's integration metadata.
    pub fn metadata(&self) -> &RequestMetadata {
        match self {
            ChatKitRequest::ThreadsCreate { metadata, .. }
            | ChatKitRequest::ThreadsAddUserMessage { metadata, .. }
            | ChatKitRequest::ThreadsAddClientToolOutput { metadata, .. }
            | ChatKitRequest::ThreadsAddStructuredInput { metadata, .. }
            | ChatKitRequest::ThreadsRetryAfterItem { metadata, .. }
            | ChatKitRequest::ThreadsCustomAction { metadata, .. }
            | ChatKitRequest::ThreadsGetById { metadata, .. }
            | ChatKitRequest::ThreadsList { metadata, .. }
            | ChatKitRequest::ItemsList { metadata, .. }
            | ChatKitRequest::ItemsFeedback { metadata, .. }
            | ChatKitRequest::AttachmentsCreate { metadata, .. }
            | ChatKitRequest::AttachmentsDelete { metadata, .. }
            | ChatKitRequest::ThreadsUpdate { metadata, .. }
            | ChatKitRequest::ThreadsDelete { metadata, .. }
            | ChatKitRequest::InputTranscribe { metadata, .. }
            | ChatKitRequest::ThreadsSyncCustomAction { metadata, .. } => metadata,
        }
    }

    /// The thread the request targets, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            ChatKitRequest::ThreadsAddUserMessage { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsAddClientToolOutput { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsAddStructuredInput { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsRetryAfterItem { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsCustomAction { params, .. }
            | ChatKitRequest::ThreadsSyncCustomAction { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsGetById { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ItemsList { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ItemsFeedback { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsUpdate { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsDelete { params, .. } => Some(&params.thread_id),
            ChatKitRequest::ThreadsCreate { .. }
            | ChatKitRequest::ThreadsList { .. }
            | ChatKitRequest::AttachmentsCreate { .. }
            | ChatKitRequest::AttachmentsDelete { .. }
            | ChatKitRequest::InputTranscribe { .. } => None,
        }
    }
}

/// Finds what makes `value` an invalid request and says where, or `None` when it cannot tell.
fn explain_invalid_request(value: &Value) -> Option<ProtocolError> {
    let invalid = |message: String| Some(ProtocolError::InvalidRequest(message));
    let Value::Object(body) = value else {
        return invalid("a request must be a JSON object".to_owned());
    };
    let kind = match body.get("type") {
        None => return invalid("missing field `type`".to_owned()),
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return invalid(format!("type: expected a string, got `{other}`")),
    };
    if ChatKitRequest::kind_is_streaming(kind).is_none() {
        return invalid(format!(
            "type: unknown request type `{kind}`, expected one of {}",
            ChatKitRequest::KINDS.join(", ")
        ));
    }
    if let Some(metadata) = body.get("metadata")
        && let Err(error) = explain::<RequestMetadata>(metadata)
    {
        return invalid(format!("metadata{error}"));
    }
    let Some(params) = body.get("params") else {
        return invalid("missing field `params`".to_owned());
    };
    let explained = match kind {
        "threads.create" => explain::<ThreadCreateParams>(params),
        "threads.add_user_message" => explain::<ThreadAddUserMessageParams>(params),
        "threads.add_client_tool_output" => explain::<ThreadAddClientToolOutputParams>(params),
        "threads.add_structured_input" => explain::<ThreadAddStructuredInputParams>(params),
        "threads.retry_after_item" => explain::<ThreadRetryAfterItemParams>(params),
        "threads.custom_action" | "threads.sync_custom_action" => {
            explain::<ThreadCustomActionParams>(params)
        }
        "threads.get_by_id" => explain::<ThreadGetByIdParams>(params),
        "threads.list" => explain::<ThreadListParams>(params),
        "items.list" => explain::<ItemsListParams>(params),
        "items.feedback" => explain::<ItemFeedbackParams>(params),
        "attachments.create" => explain::<AttachmentCreateParams>(params),
        "attachments.delete" => explain::<AttachmentDeleteParams>(params),
        "threads.update" => explain::<ThreadUpdateParams>(params),
        "threads.delete" => explain::<ThreadDeleteParams>(params),
        "input.transcribe" => explain::<InputTranscribeParams>(params),
        _ => Ok(()),
    };
    match explained {
        Err(error) => invalid(format!("params{error}")),
        Ok(()) => None,
    }
}

/// Deserializes `value` as `T` only to describe the failure: `.field[0].other: message`, or
/// `: message` for a failure of `value` itself.
fn explain<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), String> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => Ok(()),
        Err(err) => {
            let path = err.path().to_string();
            let path = if path == "." {
                String::new()
            } else if path.starts_with('[') {
                path
            } else {
                format!(".{path}")
            };
            let message = err.into_inner().to_string();
            // serde reports a missing field at its parent's path; name the field itself.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(field, _)| field)
            {
                return Err(format!("{path}.{field}: missing required field"));
            }
            Err(format!("{path}: {message}"))
        }
    }
}

/// A user message as the composer submits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageInput {
    /// Text and tag parts.
    pub content: Vec<UserMessageContent>,
    /// Ids of attachments uploaded beforehand.
    pub attachments: Vec<String>,
    /// Quoted text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_text: Option<String>,
    /// Model and tool choices.
    pub inference_options: InferenceOptions,
}

/// Parameters of `threads.create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadCreateParams {
    /// The first message.
    pub input: UserMessageInput,
}

/// Parameters of `threads.add_user_message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadAddUserMessageParams {
    /// The message.
    pub input: UserMessageInput,
    /// Target thread.
    pub thread_id: String,
}

/// Parameters of `threads.add_client_tool_output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadAddClientToolOutputParams {
    /// Target thread.
    pub thread_id: String,
    /// The tool's output, any JSON (`null` is omitted on output, as the reference does).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
}

/// One answer in a structured input submission.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputAnswerSubmission {
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether skipped.
    #[serde(default)]
    pub skipped: bool,
}

/// Overall status of a structured input submission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Answered.
    #[default]
    Answered,
    /// Skipped as a whole.
    Skipped,
}

/// Answers for a pending structured input item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputSubmission {
    /// Overall status.
    #[serde(default)]
    pub status: SubmissionStatus,
    /// Answers keyed by input id.
    #[serde(default)]
    pub answers: std::collections::BTreeMap<String, StructuredInputAnswerSubmission>,
}

/// Parameters of `threads.add_structured_input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadAddStructuredInputParams {
    /// Target thread.
    pub thread_id: String,
    /// The structured input item answered.
    pub item_id: String,
    /// The answers.
    pub input: StructuredInputSubmission,
}

/// Parameters of `threads.custom_action` and `threads.sync_custom_action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadCustomActionParams {
    /// Target thread.
    pub thread_id: String,
    /// The widget item that sent the action, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// The action.
    pub action: Action,
}

/// Parameters of `threads.retry_after_item`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRetryAfterItemParams {
    /// Target thread.
    pub thread_id: String,
    /// The user message to answer again.
    pub item_id: String,
}

/// Parameters of `threads.get_by_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadGetByIdParams {
    /// Thread id.
    pub thread_id: String,
}

/// Parameters of `threads.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadListParams {
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Order.
    #[serde(default)]
    pub order: Order,
    /// Cursor: the id of the last thread of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Parameters of `items.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsListParams {
    /// Thread id.
    pub thread_id: String,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Order.
    #[serde(default)]
    pub order: Order,
    /// Cursor: the id of the last item of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Sentiment of feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// Thumbs up.
    Positive,
    /// Thumbs down.
    Negative,
}

impl FeedbackKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Positive => "positive",
            FeedbackKind::Negative => "negative",
        }
    }
}

/// Parameters of `items.feedback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemFeedbackParams {
    /// Thread id.
    pub thread_id: String,
    /// Items the feedback is about.
    pub item_ids: Vec<String>,
    /// Sentiment.
    pub kind: FeedbackKind,
}

/// Parameters of `attachments.create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentCreateParams {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// MIME type.
    pub mime_type: String,
}

/// Parameters of `attachments.delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentDeleteParams {
    /// Attachment id.
    pub attachment_id: String,
}

/// Parameters of `threads.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadUpdateParams {
    /// Thread id.
    pub thread_id: String,
    /// New title.
    pub title: String,
}

/// Parameters of `threads.delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadDeleteParams {
    /// Thread id.
    pub thread_id: String,
}

/// Parameters of `input.transcribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputTranscribeParams {
    /// Base64-encoded audio.
    pub audio_base64: String,
    /// MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
}

/// The result of `input.transcribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionResult {
    /// The transcribed text.
    pub text: String,
}

/// The result of `threads.sync_custom_action`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncCustomActionResponse {
    /// The item the action changed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_item: Option<crate::items::ThreadItem>,
}
