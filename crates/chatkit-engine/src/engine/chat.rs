//! The plain chat turn behind `POST /api/chat`: one message in, the whole answer out, on the
//! same conversations (threads) as ChatKit.
//!
//! The message goes through the same streaming path as `threads.create` (no conversation id) or
//! `threads.add_user_message`, so the same items are stored, the same responder answers under the
//! same thread lock, and a conversation started here shows in `threads.list`.
//!
//! Tool calls are read back from the store after the turn: the hidden records the agent bridge
//! saves for every server-side call ([`ToolCallRecord`]) that come after this turn's user
//! message. The store is what the model itself reads on the next turn, so the two never disagree;
//! the stream never carries those records, because hidden items are not sent to clients.

use agent_runtime::ToolCall;
use chatkit_protocol::{
    ChatKitRequest, ErrorCode, InferenceOptions, Order, ThreadAddUserMessageParams,
    ThreadCreateParams, ThreadItem, ThreadStreamEvent, UserMessageContent, UserMessageInput,
};
use chatkit_store::StoreContext;
use serde::Serialize;
use serde_json::Value;

use super::{Engine, Response};
use crate::bridge::ToolCallRecord;
use crate::context::RequestContext;
use crate::error::EngineError;
use crate::stream::EventReceiver;

/// One plain chat message.
#[derive(Debug, Clone)]
pub struct ChatTurn {
    /// The conversation (thread) to continue; a new one when `None`.
    pub conversation_id: Option<String>,
    /// What the user says; must not be blank.
    pub message: String,
}

/// One server-side tool call of a chat turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, parsed when they are JSON (else the raw text as a string).
    pub arguments: Value,
    /// What the tool returned to the model.
    pub output: String,
}

impl From<ToolCallRecord> for ChatToolCall {
    fn from(record: ToolCallRecord) -> Self {
        let ToolCall {
            name, arguments, ..
        } = record.call;
        Self {
            name,
            arguments: serde_json::from_str(&arguments).unwrap_or(Value::String(arguments)),
            output: record.output.content,
        }
    }
}

/// The answer to a chat turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatReply {
    /// The conversation (ChatKit thread) id.
    pub conversation_id: String,
    /// The assistant's answer: its messages of this turn, joined by blank lines.
    pub response: String,
    /// Server-side tool calls made during this turn, in order.
    pub tool_calls: Vec<ChatToolCall>,
}

/// A chat turn whose response is streaming; [`ChatRun::reply`] waits for its end. Dropping it
/// is a client disconnect (see [`crate::CancelPolicy`]).
#[derive(Debug)]
pub struct ChatRun {
    engine: Engine,
    events: EventReceiver,
    conversation_id: Option<String>,
    sctx: StoreContext,
}

impl Engine {
    /// Runs one chat turn to its end and answers with the whole reply: [`Engine::start_chat`]
    /// then [`ChatRun::reply`].
    pub async fn chat(
        &self,
        turn: ChatTurn,
        ctx: RequestContext,
    ) -> Result<ChatReply, EngineError> {
        self.start_chat(turn, ctx).await?.reply().await
    }

    /// Starts a chat turn. Everything checked before a stream starts fails here as the ChatKit
    /// request would (400 for a blank message, 404 for a foreign conversation, 409 when busy).
    pub async fn start_chat(
        &self,
        turn: ChatTurn,
        ctx: RequestContext,
    ) -> Result<ChatRun, EngineError> {
        if turn.message.trim().is_empty() {
            return Err(EngineError::BadRequest("message: must not be empty".into()));
        }
        let input = UserMessageInput {
            content: vec![UserMessageContent::InputText { text: turn.message }],
            attachments: Vec::new(),
            quoted_text: None,
            inference_options: InferenceOptions::default(),
        };
        let request = match &turn.conversation_id {
            Some(thread_id) => ChatKitRequest::ThreadsAddUserMessage {
                params: ThreadAddUserMessageParams {
                    input,
                    thread_id: thread_id.clone(),
                },
                metadata: Default::default(),
            },
            None => ChatKitRequest::ThreadsCreate {
                params: ThreadCreateParams { input },
                metadata: Default::default(),
            },
        };
        let sctx = ctx.store();
        let Response::Stream(events) = self.process_request(request, ctx).await? else {
            return Err(EngineError::Internal(
                "a chat turn answered without a stream".into(),
            ));
        };
        Ok(ChatRun {
            engine: self.clone(),
            events,
            conversation_id: turn.conversation_id,
            sctx,
        })
    }
}

impl ChatRun {
    /// Waits for the end of the turn and answers with the whole reply. A failure the responder
    /// reports in the stream is [`EngineError::TurnFailed`].
    pub async fn reply(self) -> Result<ChatReply, EngineError> {
        let ChatRun {
            engine,
            mut events,
            mut conversation_id,
            sctx,
        } = self;
        let mut user_item_id = None;
        let mut answers = Vec::new();
        let mut failure = None;
        while let Some(event) = events.recv().await {
            match event {
                ThreadStreamEvent::ThreadCreated { thread } => conversation_id = Some(thread.id),
                ThreadStreamEvent::ThreadItemDone { item } => match item {
                    ThreadItem::UserMessage(message) if user_item_id.is_none() => {
                        user_item_id = Some(message.id)
                    }
                    ThreadItem::AssistantMessage(message) => answers.push(message.text()),
                    _ => {}
                },
                ThreadStreamEvent::Error { code, message, .. } => failure = Some((code, message)),
                _ => {}
            }
        }
        if let Some((code, message)) = failure {
            let message = match (code, message) {
                (ErrorCode::Custom, Some(message)) => message,
                _ => "the assistant could not answer; please try again".to_owned(),
            };
            return Err(EngineError::TurnFailed(message));
        }
        let (Some(conversation_id), Some(user_item_id)) = (conversation_id, user_item_id) else {
            return Err(EngineError::Internal(
                "a chat turn's stream ended without its thread or user message".into(),
            ));
        };
        let tool_calls = engine
            .tool_calls_after(&conversation_id, &user_item_id, &sctx)
            .await?;
        Ok(ChatReply {
            conversation_id,
            response: answers.join("\n\n"),
            tool_calls,
        })
    }
}

impl Engine {
    /// The recorded tool calls that come after item `user_item_id`, oldest first.
    async fn tool_calls_after(
        &self,
        thread_id: &str,
        user_item_id: &str,
        sctx: &StoreContext,
    ) -> Result<Vec<ChatToolCall>, EngineError> {
        const PAGE: usize = 50;
        let mut records = Vec::new();
        let mut after: Option<String> = None;
        'pages: loop {
            let page = self
                .shared
                .store
                .load_thread_items(thread_id, after.as_deref(), PAGE, Order::Desc, sctx)
                .await?;
            for item in &page.data {
                if item.id() == user_item_id {
                    break 'pages;
                }
                records.extend(ToolCallRecord::from_item(item).map(ChatToolCall::from));
            }
            if !page.has_more {
                break;
            }
            after = page.after;
        }
        records.reverse();
        Ok(records)
    }
}
