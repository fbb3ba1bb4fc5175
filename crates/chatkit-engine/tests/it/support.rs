//! A scripted responder and helpers to drive the engine.

use std::collections::VecDeque;
use std::sync::Arc;

use agent_runtime::UserInfo;
use chatkit_engine::{
    ChatKitServer, Engine, EngineConfig, EngineError, EventReceiver, EventStream, RequestContext,
    Response, Turn,
};
use chatkit_protocol::events::ThreadItemUpdate;
use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, ClientToolCallItem, ClientToolCallStatus, Order,
    SdkHiddenContextItem, ThreadItem, ThreadStreamEvent, UserMessageItem,
};
use chatkit_store::{ItemIdKind, MemoryStore, Store};
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What one scripted response does, in order: an optional hidden note, an optional title change,
/// an assistant message streamed in `chunks` (pausing at `gate` after `pause_after` chunks), an
/// optional pending client tool call, and an optional failure at the end.
#[derive(Clone, Default)]
pub struct Script {
    pub chunks: Vec<&'static str>,
    pub pause_after: Option<usize>,
    pub gate: Option<Arc<Notify>>,
    pub reached: Option<Arc<Notify>>,
    pub hidden_note: Option<&'static str>,
    pub title: Option<&'static str>,
    pub client_tool: bool,
    pub fail: Option<fn() -> EngineError>,
}

impl Script {
    pub fn answer(chunks: &[&'static str]) -> Self {
        Self {
            chunks: chunks.to_vec(),
            ..Self::default()
        }
    }

    /// An answer that stops after `after` chunks: `reached` fires when it gets there, and it goes
    /// on once `gate` is notified.
    pub fn paused(chunks: &[&'static str], after: usize) -> (Self, Arc<Notify>, Arc<Notify>) {
        let gate = Arc::new(Notify::new());
        let reached = Arc::new(Notify::new());
        let script = Self {
            pause_after: Some(after),
            gate: Some(gate.clone()),
            reached: Some(reached.clone()),
            ..Self::answer(chunks)
        };
        (script, gate, reached)
    }
}

/// What the responder saw on one call.
#[derive(Clone, Debug)]
pub struct Call {
    pub input: Option<UserMessageItem>,
    pub history: Vec<ThreadItem>,
    pub metadata: serde_json::Map<String, Value>,
}

#[derive(Default)]
pub struct ScriptedServer {
    scripts: Mutex<VecDeque<Script>>,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl ScriptedServer {
    pub fn push(&self, script: Script) {
        self.scripts.lock().push_back(script);
    }
}

impl ChatKitServer for ScriptedServer {
    fn respond(&self, turn: Turn, input: Option<UserMessageItem>) -> EventStream {
        let script = self
            .scripts
            .lock()
            .pop_front()
            .unwrap_or_else(|| Script::answer(&["Hello", " world"]));
        let calls = Arc::clone(&self.calls);
        async_stream::stream! {
            let history = turn
                .store
                .load_thread_items(&turn.thread.id(), None, 1000, Order::Asc, &turn.ctx.store())
                .await
                .expect("history loads")
                .data;
            calls.lock().push(Call { input, history, metadata: turn.ctx.metadata.clone() });
            let thread_id = turn.thread.id();
            let now = chatkit_protocol::time::now;
            if let Some(note) = script.hidden_note {
                yield Ok(ThreadStreamEvent::ThreadItemDone { item: ThreadItem::SdkHiddenContext(SdkHiddenContextItem {
                    id: turn.store.generate_item_id(ItemIdKind::SdkHiddenContext, &turn.thread.snapshot(), &turn.ctx.store()),
                    thread_id: thread_id.clone(),
                    created_at: now(),
                    content: note.to_owned(),
                })});
            }
            if let Some(title) = script.title {
                turn.thread.update(|thread| thread.title = Some(title.to_owned()));
            }
            if !script.chunks.is_empty() {
                let mut item = AssistantMessageItem {
                    id: turn.store.generate_item_id(ItemIdKind::Message, &turn.thread.snapshot(), &turn.ctx.store()),
                    thread_id: thread_id.clone(),
                    created_at: now(),
                    content: Vec::new(),
                };
                yield Ok(ThreadStreamEvent::ThreadItemAdded { item: ThreadItem::AssistantMessage(item.clone()) });
                yield Ok(ThreadStreamEvent::ThreadItemUpdated { item_id: item.id.clone(), update: ThreadItemUpdate::AssistantMessageContentPartAdded { content_index: 0, content: AssistantMessageContent::text("") } });
                let mut text = String::new();
                for (index, chunk) in script.chunks.iter().enumerate() {
                    if script.pause_after == Some(index) {
                        if let Some(reached) = &script.reached { reached.notify_one(); }
                        if let Some(gate) = &script.gate { gate.notified().await; }
                    }
                    text.push_str(chunk);
                    yield Ok(ThreadStreamEvent::ThreadItemUpdated { item_id: item.id.clone(), update: ThreadItemUpdate::AssistantMessageContentPartTextDelta { content_index: 0, delta: (*chunk).to_owned() } });
                }
                let content = AssistantMessageContent::text(text);
                yield Ok(ThreadStreamEvent::ThreadItemUpdated { item_id: item.id.clone(), update: ThreadItemUpdate::AssistantMessageContentPartDone { content_index: 0, content: content.clone() } });
                item.content = vec![content];
                yield Ok(ThreadStreamEvent::ThreadItemDone { item: ThreadItem::AssistantMessage(item) });
            }
            if script.client_tool {
                yield Ok(ThreadStreamEvent::ThreadItemDone { item: ThreadItem::ClientToolCall(ClientToolCallItem {
                    id: turn.store.generate_item_id(ItemIdKind::ToolCall, &turn.thread.snapshot(), &turn.ctx.store()),
                    thread_id: thread_id.clone(),
                    created_at: now(),
                    status: ClientToolCallStatus::Pending,
                    call_id: "call_1".to_owned(),
                    name: "get_location".to_owned(),
                    arguments: serde_json::Map::new(),
                    output: None,
                })});
            }
            if let Some(fail) = script.fail {
                yield Err(fail());
            }
        }
        .boxed()
    }
}

pub fn user(id: &str) -> RequestContext {
    RequestContext::new(UserInfo {
        id: id.to_owned(),
        ..UserInfo::default()
    })
}

pub struct Harness {
    pub engine: Engine,
    pub server: Arc<ScriptedServer>,
    pub store: Arc<dyn Store>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(EngineConfig::default())
    }

    pub fn with_config(config: EngineConfig) -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let server = Arc::new(ScriptedServer::default());
        let engine = Engine::new(Arc::clone(&store), server.clone(), config);
        Self {
            engine,
            server,
            store,
        }
    }

    /// Sends a request expected to answer with JSON.
    pub async fn json(&self, who: &str, body: Value) -> Result<Value, EngineError> {
        match self
            .engine
            .process(body.to_string().as_bytes(), user(who))
            .await?
        {
            Response::Json(bytes) => {
                Ok(serde_json::from_slice(&bytes).expect("the engine writes JSON"))
            }
            Response::Stream(_) => panic!("expected JSON for {body}"),
        }
    }

    /// Sends a streaming request and returns the receiver.
    pub async fn stream(&self, who: &str, body: Value) -> Result<EventReceiver, EngineError> {
        match self
            .engine
            .process(body.to_string().as_bytes(), user(who))
            .await?
        {
            Response::Stream(events) => Ok(events),
            Response::Json(_) => panic!("expected a stream for {body}"),
        }
    }

    /// Sends a streaming request and collects every event as JSON.
    pub async fn events(&self, who: &str, body: Value) -> Result<Vec<Value>, EngineError> {
        let events = self.stream(who, body).await?.collect_all().await;
        Ok(events
            .iter()
            .map(|event| serde_json::to_value(event).expect("serializes"))
            .collect())
    }

    /// Creates a thread with one message and its scripted answer; returns the thread id.
    pub async fn create_thread(&self, who: &str, text: &str) -> String {
        let events = self.events(who, create(text)).await.expect("creates");
        events[0]["thread"]["id"]
            .as_str()
            .expect("thread.created first")
            .to_owned()
    }

    /// Every visible item of a thread, oldest first, through `items.list`.
    pub async fn items(&self, who: &str, thread_id: &str) -> Vec<Value> {
        let page = self
            .json(who, json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc", "limit": 1000}}))
            .await
            .expect("lists");
        page["data"].as_array().expect("data").clone()
    }

    /// Every stored item of a thread, hidden ones included, oldest first.
    pub async fn stored(&self, who: &str, thread_id: &str) -> Vec<ThreadItem> {
        self.store
            .load_thread_items(thread_id, None, 1000, Order::Asc, &user(who).store())
            .await
            .expect("loads")
            .data
    }
}

pub use test_support::chatkit::{add_message, create, kinds};

/// Sends `body` as alice to `engine` and collects the answer: every event of a stream, or the
/// one JSON body.
pub async fn send(engine: &Engine, body: Value) -> Vec<Value> {
    match engine
        .process(body.to_string().as_bytes(), user("alice"))
        .await
        .expect("accepted")
    {
        Response::Stream(events) => events
            .collect_all()
            .await
            .iter()
            .map(|e| serde_json::to_value(e).expect("json"))
            .collect(),
        Response::Json(json) => vec![serde_json::from_slice(&json).expect("json")],
    }
}

/// Records what a client received for the reference-types conformance check CI runs over
/// `target/tmp/conformance` (the events of tools, handoffs and guardrails reach no server test otherwise).
pub fn record(kind: &str, value: &Value) {
    use std::io::Write;
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let path = FILE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        std::fs::create_dir_all(&dir).expect("record dir");
        dir.join(format!("engine-{}.jsonl", std::process::id()))
    });
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write per record: parallel tests append to the same file, and an `O_APPEND`
        // write of one buffer is not interleaved with another.
        let line = format!("{}\n", json!({"kind": kind, "json": value}));
        let _ = file.write_all(line.as_bytes());
    }
}
