//! `POST /api/chat`: the plain JSON chat endpoint of earlier integrations, on the same
//! conversations as ChatKit.
//!
//! Request `{"conversation_id"?: string, "message": string}`, answer
//! `{"conversation_id", "response", "tool_calls": [{"name", "arguments", "output"}]}`. A
//! conversation is a ChatKit thread: the message goes through the engine as `threads.create` (no
//! id) or `threads.add_user_message`, so the same items are stored, the same agent answers, and a
//! conversation started here shows in `threads.list` (and the other way round).
//!
//! `tool_calls` are read back from the store after the turn: the hidden tool-call records the
//! agent bridge saves for every server-side call (see `chatkit_engine::bridge::TOOL_CALL_CONTEXT`)
//! that come after this turn's user message. The store is the record the model itself reads on the
//! next turn, so the two can never disagree; the stream never carries those records, because
//! hidden items are not sent to clients.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chatkit_engine::Response;
use chatkit_engine::bridge::TOOL_CALL_CONTEXT;
use chatkit_protocol::{ChatKitRequest, Order, ThreadItem, ThreadStreamEvent};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::{AppState, read_body};

/// The request body.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// The conversation to continue; a new one when absent.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// What the user says.
    pub message: String,
}

/// One server-side tool call of the turn.
#[derive(Debug, Serialize)]
pub struct ToolCallRecord {
    /// The tool's name.
    pub name: String,
    /// The arguments, parsed when they are JSON (else the raw text).
    pub arguments: Value,
    /// What the tool returned to the model.
    pub output: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct ChatResponse {
    /// The conversation (ChatKit thread) id.
    pub conversation_id: String,
    /// The assistant's answer (its messages of this turn, joined by blank lines).
    pub response: String,
    /// Server-side tool calls made during this turn, in order.
    pub tool_calls: Vec<ToolCallRecord>,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// `POST /api/chat`.
pub async fn chat(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if let Some(refused) =
        crate::http::ratelimit::refuse_if_limited(&state, &caller.0.user.id).await
    {
        return Ok(refused);
    }
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let request: ChatRequest =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
            .map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if path == "." {
                    bad_request(format!("the body is not a valid chat request: {inner}"))
                } else {
                    bad_request(format!("{path}: {inner}"))
                }
            })?;
    if request.message.trim().is_empty() {
        return Err(bad_request("message: must not be empty"));
    }
    let input = json!({
        "content": [{"type": "input_text", "text": request.message}],
        "attachments": [],
        "inference_options": {},
    });
    let chatkit_request = match &request.conversation_id {
        Some(id) => {
            json!({"type": "threads.add_user_message", "params": {"thread_id": id, "input": input}})
        }
        None => json!({"type": "threads.create", "params": {"input": input}}),
    };
    let chatkit_request = ChatKitRequest::from_slice(chatkit_request.to_string().as_bytes())
        .map_err(|err| bad_request(err.to_string()))?;
    let ctx = caller.0;
    let sctx = ctx.store();
    let Response::Stream(mut events) = state.engine.process_request(chatkit_request, ctx).await?
    else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        ));
    };
    let _guard = state.metrics.stream_started("api_chat");
    let mut conversation_id = request.conversation_id.clone();
    let mut user_item_id = None;
    let mut answers = Vec::new();
    let mut failure = None;
    while let Some(event) = events.next().await {
        match event {
            ThreadStreamEvent::ThreadCreated { thread } => conversation_id = Some(thread.id),
            ThreadStreamEvent::ThreadItemDone { item } => match item {
                ThreadItem::UserMessage(message) if user_item_id.is_none() => {
                    user_item_id = Some(message.id)
                }
                ThreadItem::AssistantMessage(message) => answers.push(message.text()),
                _ => {}
            },
            ThreadStreamEvent::Error { code, message, .. } => {
                failure = Some((code, message));
            }
            _ => {}
        }
    }
    if let Some((code, message)) = failure {
        let message = match (code, message) {
            (chatkit_protocol::ErrorCode::Custom, Some(message)) => message,
            _ => "the assistant could not answer; please try again".to_owned(),
        };
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "stream_error",
            message,
        ));
    }
    let (Some(conversation_id), Some(user_item_id)) = (conversation_id, user_item_id) else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        ));
    };
    let tool_calls = tool_calls_after(&state, &conversation_id, &user_item_id, &sctx).await?;
    Ok(HttpResponse::Ok().json(ChatResponse {
        conversation_id,
        response: answers.join("\n\n"),
        tool_calls,
    }))
}

/// The recorded tool calls that come after item `user_item_id`, oldest first.
async fn tool_calls_after(
    state: &AppState,
    thread_id: &str,
    user_item_id: &str,
    sctx: &chatkit_store::StoreContext,
) -> Result<Vec<ToolCallRecord>, ApiError> {
    const PAGE: usize = 50;
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    'pages: loop {
        let page = state
            .store
            .load_thread_items(thread_id, after.as_deref(), PAGE, Order::Desc, sctx)
            .await
            .map_err(|err| ApiError::from(chatkit_engine::EngineError::from(err)))?;
        for item in &page.data {
            if item.id() == user_item_id {
                break 'pages;
            }
            if let ThreadItem::HiddenContext(hidden) = item
                && let Some(record) = tool_call_record(&hidden.content)
            {
                records.push(record);
            }
        }
        if !page.has_more {
            break;
        }
        after = page.after;
    }
    records.reverse();
    Ok(records)
}

fn tool_call_record(content: &Value) -> Option<ToolCallRecord> {
    if content.get("type")?.as_str()? != TOOL_CALL_CONTEXT {
        return None;
    }
    let arguments = content.get("arguments")?.as_str()?;
    Some(ToolCallRecord {
        name: content.get("name")?.as_str()?.to_owned(),
        arguments: serde_json::from_str(arguments)
            .unwrap_or_else(|_| Value::String(arguments.to_owned())),
        output: content.get("output")?.as_str()?.to_owned(),
    })
}
