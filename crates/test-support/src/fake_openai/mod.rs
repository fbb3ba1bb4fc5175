//! A fake OpenAI-compatible HTTP server speaking both streaming wire formats.
//!
//! It serves `POST /v1/chat/completions` and `POST /v1/responses` on 127.0.0.1, answers each
//! request with the next scripted turn, records every request body, and counts clients that hang
//! up before their stream ended (to prove cancellation reaches the network). `POST
//! /v1/embeddings` answers with deterministic vectors ([`fake_embedding`]), and `POST
//! /v1/audio/transcriptions` with scripted or echoed transcripts ([`ScriptedTranscription`]).

mod audio;
mod embeddings;
mod script;
mod wire;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use audio::ScriptedTranscription;
pub use embeddings::{DEFAULT_DIMENSIONS, fake_embedding};
pub use script::{
    ChatQuirks, ReasoningField, ScriptedFailure, ScriptedHostedCall, ScriptedToolCall, ScriptedTurn,
};

/// What the server answers when no scripted turn is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fallback {
    /// HTTP 500 with an error body: a test that runs out of script fails loudly.
    #[default]
    Error,
    /// Echo the last user message word by word (the standalone binary's behaviour).
    Echo,
}

/// Options for [`FakeOpenAi::start_with`].
#[derive(Debug, Clone, Default)]
pub struct FakeOpenAiOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// What to answer when the script is empty.
    pub fallback: Fallback,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The JSON body (a JSON string holding the raw text if it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The conversation sent: `messages` for Chat Completions, `input` for the Responses API.
    pub fn conversation(&self) -> &[Value] {
        self.body
            .get("messages")
            .or_else(|| self.body.get("input"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The names of the tools the request offered, in either wire format, in the order sent.
    pub fn tool_names(&self) -> Vec<String> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|tool| {
                        tool.pointer("/function/name")
                            .or_else(|| tool.get("name"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The text of the first system message, in either wire format.
    pub fn system_prompt(&self) -> Option<&str> {
        self.conversation()
            .iter()
            .find(|message| message.get("role").and_then(Value::as_str) == Some("system"))
            .and_then(|message| message.get("content"))
            .and_then(Value::as_str)
    }
}

struct Shared {
    turns: Mutex<VecDeque<ScriptedTurn>>,
    requests: Mutex<Vec<RecordedRequest>>,
    fallback: Fallback,
    /// Pause before each event of an echoed answer.
    echo_chunk_latency: Mutex<Duration>,
    disconnects: watch::Sender<usize>,
    transcriptions: Mutex<VecDeque<ScriptedTranscription>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide its own failure behind ours.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake server; stops accepting connections when dropped.
pub struct FakeOpenAi {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for FakeOpenAi {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FakeOpenAi")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeOpenAi {
    /// Starts a server on a free port of 127.0.0.1 that fails requests it has no script for.
    ///
    /// # Panics
    /// When no port can be bound, which in a test is a broken environment.
    pub async fn start() -> Self {
        match Self::start_with(FakeOpenAiOptions::default()).await {
            Ok(server) => server,
            Err(error) => panic!("fake OpenAI server could not bind 127.0.0.1:0: {error}"),
        }
    }

    /// Starts a server with `options`.
    pub async fn start_with(options: FakeOpenAiOptions) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            turns: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            fallback: options.fallback,
            echo_chunk_latency: Mutex::new(Duration::ZERO),
            disconnects: watch::Sender::new(0),
            transcriptions: Mutex::new(VecDeque::new()),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/responses", post(responses))
            .route("/v1/embeddings", post(embeddings_endpoint))
            .route("/v1/audio/transcriptions", post(audio::transcriptions))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            // Streaming wants every chunk on the wire at once: with Nagle's algorithm on, the first
            // body write waits for the client's delayed ACK (measured: 44 ms per model call).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("fake OpenAI server stopped: {error}");
            }
        });
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The API root to configure a client with: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The socket address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Queues the answer to a future request.
    pub fn push_turn(&self, turn: ScriptedTurn) {
        lock(&self.shared.turns).push_back(turn);
    }

    /// Pauses before each event of the answers echoed by [`Fallback::Echo`] from now on, so that
    /// a client can leave while an answer is still streaming. Zero (the default): no pause.
    pub fn set_echo_chunk_latency(&self, latency: Duration) {
        *lock(&self.shared.echo_chunk_latency) = latency;
    }

    /// Queues the answer to a future `/v1/audio/transcriptions` request. Unscripted requests
    /// are answered with the audio bytes read as UTF-8 text.
    pub fn push_transcription(&self, answer: ScriptedTranscription) {
        lock(&self.shared.transcriptions).push_back(answer);
    }

    /// How many scripted turns were not served yet.
    pub fn remaining_turns(&self) -> usize {
        lock(&self.shared.turns).len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many clients hung up before their stream ended.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// Waits until at least `count` clients hung up before their stream ended.
    pub async fn wait_for_disconnects(&self, count: usize) {
        let mut receiver = self.shared.disconnects.subscribe();
        // The sender lives in `self.shared`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|seen| *seen >= count).await;
    }
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(shared, "/v1/chat/completions", headers, body, Format::Chat)
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(shared, "/v1/responses", headers, body, Format::Responses)
}

async fn embeddings_endpoint(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = record(&shared, "/v1/embeddings", &headers, &body).1;
    match embeddings::respond(&body) {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(message) => error_response(StatusCode::BAD_REQUEST, &message, None),
    }
}

/// Records a request; returns its number (from 1) and its body as JSON.
fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> (usize, Value) {
    let body: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let recorded_headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut requests = lock(&shared.requests);
    requests.push(RecordedRequest {
        path: path.to_owned(),
        headers: recorded_headers,
        body: body.clone(),
    });
    (requests.len(), body)
}

#[derive(Clone, Copy)]
enum Format {
    Chat,
    Responses,
}

fn error_response(status: StatusCode, message: &str, retry_after_secs: Option<u64>) -> Response {
    let body =
        json!({"error": {"message": message, "type": "fake_error", "param": null, "code": null}});
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after_secs
        && let Ok(value) = seconds.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The text of the last user message, in either wire format.
fn last_user_text(body: &Value) -> String {
    let conversation = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array);
    let Some(last_user) = conversation.and_then(|messages| {
        messages
            .iter()
            .rev()
            .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
    }) else {
        return String::new();
    };
    match last_user.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn serve(
    shared: Arc<Shared>,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
    format: Format,
) -> Response {
    let (request_number, body) = record(&shared, path, &headers, &body);
    if body.get("stream") != Some(&Value::Bool(true)) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the fake server only answers streaming requests",
            None,
        );
    }
    let turn = lock(&shared.turns).pop_front();
    let turn = match (turn, shared.fallback) {
        (Some(turn), _) => turn,
        (None, Fallback::Echo) => {
            let text = last_user_text(&body);
            ScriptedTurn::text(&format!("You said: {text}"))
                .with_chunk_latency(*lock(&shared.echo_chunk_latency))
        }
        (None, Fallback::Error) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the fake server has no scripted turn left",
                None,
            );
        }
    };
    if let Some(ScriptedFailure::HttpStatus {
        status,
        message,
        retry_after_secs,
    }) = &turn.failure
    {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error_response(status, message, *retry_after_secs);
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let frames = match format {
        Format::Chat => {
            let include_usage = body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            wire::chat_frames(
                &turn,
                model,
                &format!("chatcmpl-{request_number}"),
                include_usage,
            )
        }
        Format::Responses => {
            wire::responses_frames(&turn, model, &format!("resp_{request_number}"))
        }
    };
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(1);
    tokio::spawn(produce(shared, frames, turn, sender));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Sends the frames with the scripted latency and failure. The body's receiving end is dropped
/// by the HTTP server when the client goes away, which is how a disconnect is observed.
async fn produce(
    shared: Arc<Shared>,
    frames: Vec<String>,
    turn: ScriptedTurn,
    sender: mpsc::Sender<io::Result<Bytes>>,
) {
    let stop_after = match turn.failure {
        Some(ScriptedFailure::DropAfterEvents(count) | ScriptedFailure::HangAfterEvents(count)) => {
            Some(count)
        }
        _ => None,
    };
    let client_left = || {
        shared.disconnects.send_modify(|count| *count += 1);
    };
    for (sent, frame) in frames.into_iter().enumerate() {
        if stop_after == Some(sent) {
            break;
        }
        if !turn.chunk_latency.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(turn.chunk_latency) => {}
                () = sender.closed() => {
                    client_left();
                    return;
                }
            }
        }
        if sender.send(Ok(Bytes::from(frame))).await.is_err() {
            client_left();
            return;
        }
    }
    match turn.failure {
        Some(ScriptedFailure::DropAfterEvents(_)) => {
            // An error item makes the HTTP server abort the connection mid-body.
            let _ = sender
                .send(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "scripted drop",
                )))
                .await;
        }
        Some(ScriptedFailure::HangAfterEvents(_)) => {
            sender.closed().await;
            client_left();
        }
        _ => {}
    }
}
