//! `spawn_app()` and a typed client.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chatkit_protocol::sse::SseDecoder;
use chatkit_server::{Application, Settings};
use serde_json::{Value, json};
use test_support::fake_openai::FakeOpenAi;
use tokio::sync::oneshot;

/// Which database a test app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub model: FakeOpenAi,
    pub engine: chatkit_engine::Engine,
    pub token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    pub finished: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    record: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn postgres_url() -> String {
    std::env::var("CHATKIT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Creates a fresh schema for one test. PostgreSQL must be reachable: these tests never skip.
async fn fresh_schema() -> String {
    use sea_orm::ConnectionTrait;
    let url = postgres_url();
    let db = sea_orm::Database::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL at {url} is required by the server tests (set CHATKIT_TEST_DATABASE_URL): {err}"));
    let schema = format!(
        "srv_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    db.execute_unprepared(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .await
    .expect("creates the schema");
    schema
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: Db, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = FakeOpenAi::start().await;
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.server.shutdown_grace_secs = 5;
    settings.server.workers = 2;
    settings.model.base_url = Some(model.base_url());
    settings.model.model = "fake-model".to_owned();
    settings.attachments.dir = dir.path().join("attachments");
    // The fake model counts as a real one, which would turn title generation on: one more model
    // call per new thread that most tests do not script. Tests of titles turn it back on.
    settings.agent.generate_titles = Some(false);
    match db {
        Db::Sqlite => {
            settings.database.url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("chatkit.db").display()
            )
        }
        Db::Postgres => {
            settings.database.url = postgres_url();
            settings.database.schema = Some(fresh_schema().await);
        }
    }
    configure(&mut settings);
    settings.validate().expect("test settings are valid");
    let app = Application::build(settings).await.expect("builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let engine = app.engine();
    let (stop, stopped) = oneshot::channel();
    let finished = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let record_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&record_dir).expect("record dir");
    let record = record_dir.join(format!(
        "server-{}-{}.jsonl",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    TestApp {
        base,
        client: reqwest::Client::new(),
        model,
        engine,
        token: None,
        stop: Some(stop),
        finished: Some(finished),
        _dir: dir,
        record,
    }
}

/// A response from `/chatkit`.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub events: Vec<Value>,
    pub raw: String,
}

impl TestApp {
    /// Records what the server sent, for the reference-types conformance check CI runs.
    pub fn remember(&self, kind: &str, value: Value) {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.record)
        {
            let _ = writeln!(file, "{}", json!({"kind": kind, "json": value}));
        }
    }

    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/chatkit", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token.or(self.token.as_deref()) {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("sends");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let raw = response.text().await.expect("reads the body");
        let mut events = Vec::new();
        let mut json = Value::Null;
        if content_type.starts_with("text/event-stream") {
            for message in SseDecoder::new().push(raw.as_bytes()) {
                assert!(message.event.is_none(), "frames carry no event names");
                events.push(serde_json::from_str(&message.data).expect("every frame is JSON"));
            }
        } else {
            json = serde_json::from_str(&raw).unwrap_or(Value::Null);
        }
        Reply {
            status,
            content_type,
            headers,
            json,
            events,
            raw,
        }
    }

    /// Sends a request as the app's token (if any), records what came back for the conformance
    /// check, and returns it.
    pub async fn post(&self, body: Value) -> Reply {
        self.post_as(body, None).await
    }

    pub async fn post_as(&self, body: Value, token: Option<&str>) -> Reply {
        let kind = body["type"].as_str().unwrap_or_default().to_owned();
        let reply = self.post_raw(body.to_string(), token, &[]).await;
        if reply.status == 200 {
            for event in &reply.events {
                self.remember("event", event.clone());
            }
            let record_kind = match kind.as_str() {
                "threads.get_by_id" | "threads.update" => Some("thread"),
                "threads.list" => Some("page_threads"),
                "items.list" => Some("page_items"),
                "attachments.create" => Some("attachment"),
                "input.transcribe" => Some("transcription"),
                "threads.sync_custom_action" => Some("sync_action"),
                "items.feedback" | "threads.delete" | "attachments.delete" => Some("empty"),
                _ => None,
            };
            if let Some(record_kind) = record_kind {
                self.remember(record_kind, reply.json.clone());
            }
        }
        reply
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Where the local-disk attachment store keeps its files.
    pub fn attachments_dir(&self) -> PathBuf {
        self._dir.path().join("attachments")
    }

    /// Stops the app as SIGTERM would and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(finished) = self.finished.take() {
            tokio::time::timeout(Duration::from_secs(30), finished)
                .await
                .expect("stops in time")
                .expect("joins")
                .expect("stops cleanly");
        }
    }
}

pub use test_support::chatkit::{add_message, create, input, kinds};
