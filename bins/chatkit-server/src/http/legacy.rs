//! `POST /api/chat`: the plain JSON chat endpoint of earlier integrations, on the same
//! conversations as ChatKit.
//!
//! Request `{"conversation_id"?: string, "message": string}`, answer
//! `{"conversation_id", "response", "tool_calls": [{"name", "arguments", "output"}]}`. The turn is
//! the engine's [`chatkit_engine::Engine::chat`] (see there for how conversations map to threads
//! and where the tool calls come from); this handler only reads the body and writes the reply.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chatkit_engine::ChatTurn;
use serde::Deserialize;

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
    let turn = ChatTurn {
        conversation_id: request.conversation_id,
        message: request.message,
    };
    let run = state.engine.start_chat(turn, caller.0).await?;
    // Timed from the start of the stream, like a ChatKit stream, so refusals are not turns.
    let _guard = state.metrics.stream_started("api_chat");
    let reply = run.reply().await?;
    Ok(HttpResponse::Ok().json(reply))
}
