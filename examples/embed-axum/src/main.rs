#![doc = include_str!("../README.md")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::{Agent, DemoModel};
use anyhow::Context;
use auth::{Authenticator, JwtAuthenticator, JwtConfig, KeySource};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatkit_engine::{
    AgentServer, AgentServerConfig, ChatKitServer, Engine, EngineConfig, EventStream, Turn,
    transport,
};
use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, ThreadItem, ThreadItemUpdate, ThreadStreamEvent,
    UserMessageItem,
};
use chatkit_store::{ItemIdKind, SeaOrmStore, StoreConfig};
use futures::StreamExt;
use serde_json::json;

/// How long running streams may take to finish once a shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// A hand-written responder: it answers every message by echoing it back, word by word.
///
/// This is the whole contract of [`ChatKitServer`]: return a stream of events whose items carry
/// ids from the store and the turn's thread id. The engine persists each item when its
/// `thread.item.done` passes through, so the responder never touches the store itself.
struct Echo;

impl ChatKitServer for Echo {
    fn respond(&self, turn: Turn, input: Option<UserMessageItem>) -> EventStream {
        let text = match input {
            Some(message) => format!("You said: {}", message.text()),
            None => "Nothing to echo.".to_owned(),
        };
        let thread = turn.thread.snapshot();
        let mut item = AssistantMessageItem {
            id: turn
                .store
                .generate_item_id(ItemIdKind::Message, &thread, &turn.ctx.store()),
            thread_id: thread.id,
            created_at: chatkit_protocol::time::now(),
            content: Vec::new(),
        };
        let update = |update| ThreadStreamEvent::ThreadItemUpdated {
            item_id: item.id.clone(),
            update,
        };
        let mut events = vec![
            ThreadStreamEvent::ThreadItemAdded {
                item: ThreadItem::AssistantMessage(item.clone()),
            },
            update(ThreadItemUpdate::AssistantMessageContentPartAdded {
                content_index: 0,
                content: AssistantMessageContent::text(""),
            }),
        ];
        for word in text.split_inclusive(' ') {
            events.push(update(
                ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                    content_index: 0,
                    delta: word.to_owned(),
                },
            ));
        }
        let content = AssistantMessageContent::text(text);
        events.push(update(ThreadItemUpdate::AssistantMessageContentPartDone {
            content_index: 0,
            content: content.clone(),
        }));
        item.content = vec![content];
        events.push(ThreadStreamEvent::ThreadItemDone {
            item: ThreadItem::AssistantMessage(item),
        });
        futures::stream::iter(events.into_iter().map(Ok)).boxed()
    }
}

/// The agent runtime's responder instead: an agent over the thread's history, here with the
/// offline demo model. A real service passes an `OpenAiChatProvider` and its tools.
fn agent_responder() -> AgentServer {
    let agent = Agent::new("assistant", Arc::new(DemoModel::new(Duration::ZERO)));
    AgentServer::new(agent, AgentServerConfig::default())
}

/// What every handler needs; cheap to clone (the engine is an `Arc` inside).
#[derive(Clone)]
struct AppState {
    engine: Engine,
    authenticator: Arc<dyn Authenticator>,
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/chatkit", post(chatkit))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(state)
}

/// The one error body of this service: `{"error": {"code", "message"}}`.
fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

/// `POST /chatkit`: authenticate, hand the body to the engine, write JSON or SSE. The steps
/// around the engine (bearer token to request context, events to SSE frames with keep-alive)
/// are the engine's `transport` module, the same calls the bundled server makes.
async fn chatkit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let Ok(ctx) = transport::authenticate(state.authenticator.as_ref(), authorization).await else {
        // `authenticate` logged why (expired, bad signature...); the token itself never is.
        return error(401, "unauthorized", "a valid bearer token is required");
    };
    match state.engine.process(&body, ctx).await {
        Ok(chatkit_engine::Response::Json(json)) => {
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
        Ok(chatkit_engine::Response::Stream(events)) => {
            // Dropping the body (the client left) drops `events`, which the engine treats as a
            // cancellation, so nothing else is needed to stop the responder.
            let frames = transport::SseStream::new(events, transport::DEFAULT_KEEP_ALIVE);
            let mut response = Body::from_stream(frames).into_response();
            for (name, value) in transport::SSE_HEADERS {
                response.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                );
            }
            response
        }
        Err(err) => {
            if !err.is_public() {
                tracing::error!(error = %err, "request failed");
            }
            error(err.status(), err.code(), &err.public_message())
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains: no new streams, running ones get
/// [`SHUTDOWN_GRACE`] to finish and are cancelled after it (their partial answer is saved).
async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let engine = state.engine.clone();
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    shutdown.await;
    engine.close();
    let _ = stop_accepting.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE, engine.wait_idle())
        .await
        .is_err()
    {
        engine.shutdown();
        engine.wait_idle().await;
    }
    server.await??;
    Ok(())
}

async fn build_state(
    database_url: &str,
    jwt_secret: &str,
    responder: Arc<dyn ChatKitServer>,
) -> anyhow::Result<AppState> {
    let store = SeaOrmStore::connect(StoreConfig::with_url(database_url))
        .await
        .context("opening the database")?;
    let engine = Engine::new(Arc::new(store), responder, EngineConfig::default());
    let authenticator =
        JwtAuthenticator::new(KeySource::shared_secret(jwt_secret), JwtConfig::default())
            .context("configuring JWT authentication")?;
    Ok(AppState {
        engine,
        authenticator: Arc::new(authenticator),
    })
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let bind = env("BIND").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let database_url =
        env("DATABASE_URL").unwrap_or_else(|| "sqlite://embed-axum.db?mode=rwc".to_owned());
    let secret = env("JWT_SECRET").context("set JWT_SECRET (at least 32 bytes)")?;
    let responder: Arc<dyn ChatKitServer> = match env("RESPONDER").as_deref() {
        Some("agent") => Arc::new(agent_responder()),
        _ => Arc::new(Echo),
    };
    let state = build_state(&database_url, &secret, responder).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    serve(listener, state, shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatkit_protocol::sse::SseDecoder;
    use serde_json::Value;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

    struct Running {
        url: String,
        stop: tokio::sync::oneshot::Sender<()>,
        finished: tokio::task::JoinHandle<anyhow::Result<()>>,
        _dir: tempfile::TempDir,
    }

    async fn start(responder: Arc<dyn ChatKitServer>) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
        let state = build_state(&url, SECRET, responder).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!("http://{}/chatkit", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let finished = tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Running {
            url,
            stop,
            finished,
            _dir: dir,
        }
    }

    fn token(user: &str) -> String {
        let exp = chatkit_protocol::time::now().timestamp() + 600;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"sub": user, "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
        )
        .expect("signs")
    }

    async fn post(url: &str, token: Option<&str>, body: Value) -> (u16, String, String) {
        let mut request = reqwest::Client::new().post(url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sends");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }

    fn events(raw: &str) -> Vec<Value> {
        SseDecoder::new()
            .push(raw.as_bytes())
            .into_iter()
            .map(|message| serde_json::from_str(&message.data).expect("JSON frame"))
            .collect()
    }

    fn create(text: &str) -> Value {
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": text}],
            "attachments": [], "inference_options": {}
        }}})
    }

    #[tokio::test]
    async fn threads_create_streams_the_echo_over_sse_and_persists_it() {
        let app = start(Arc::new(Echo)).await;
        let ada = token("ada");

        let (status, content_type, raw) = post(&app.url, Some(&ada), create("hello there")).await;
        assert_eq!(status, 200, "{raw}");
        assert_eq!(content_type, "text/event-stream");
        let events = events(&raw);
        let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str()).collect();
        assert_eq!(kinds.first(), Some(&Some("thread.created")));
        let answer = events
            .iter()
            .rev()
            .find(|e| e["type"] == "thread.item.done")
            .expect("a finished item");
        assert_eq!(answer["item"]["type"], "assistant_message");
        assert_eq!(
            answer["item"]["content"][0]["text"],
            "You said: hello there"
        );
        let deltas = events
            .iter()
            .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
            .count();
        assert_eq!(deltas, 4, "one delta per word of `You said: hello there`");

        // The engine persisted both items under Ada's id; Bob sees none of it.
        let thread_id = events[0]["thread"]["id"].as_str().expect("thread id");
        let get = json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}});
        let (status, _, body) = post(&app.url, Some(&ada), get.clone()).await;
        assert_eq!(status, 200, "{body}");
        let thread: Value = serde_json::from_str(&body).expect("JSON");
        let texts: Vec<_> = thread["items"]["data"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["content"][0]["text"].clone())
            .collect();
        assert_eq!(
            texts,
            [json!("hello there"), json!("You said: hello there")]
        );
        let (status, _, _) = post(&app.url, Some(&token("bob")), get).await;
        assert_eq!(status, 404);

        let _ = app.stop.send(());
        app.finished.await.expect("joins").expect("stops cleanly");
    }

    #[tokio::test]
    async fn requests_without_a_valid_token_are_refused_with_a_json_error() {
        let app = start(Arc::new(Echo)).await;
        let list = json!({"type": "threads.list", "params": {}});
        for token in [None, Some("not-a-jwt")] {
            let (status, content_type, body) = post(&app.url, token, list.clone()).await;
            assert_eq!((status, content_type.as_str()), (401, "application/json"));
            let body: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        let (status, _, body) = post(&app.url, Some(&token("ada")), json!({"type": "nope"})).await;
        assert_eq!(status, 400, "{body}");
    }

    #[tokio::test]
    async fn the_agent_responder_answers_through_the_same_endpoint() {
        let app = start(Arc::new(agent_responder())).await;
        let (status, _, raw) = post(&app.url, Some(&token("ada")), create("hi")).await;
        assert_eq!(status, 200, "{raw}");
        let events = events(&raw);
        let answer = events
            .iter()
            .rev()
            .find(|e| e["type"] == "thread.item.done")
            .expect("a finished item");
        assert_eq!(answer["item"]["type"], "assistant_message", "{raw}");
        let text = answer["item"]["content"][0]["text"].as_str().unwrap_or("");
        assert!(!text.is_empty(), "{raw}");
    }
}
