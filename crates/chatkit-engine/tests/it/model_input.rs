//! What the agent server adds around a run, against a real HTTP fake of the OpenAI API:
//! attachment contents as model input, a generated title after the first exchange, and the
//! observer's measurements.

use std::sync::Arc;
use std::time::Duration;

use agent_runtime::{
    Agent, FunctionTool, OpenAiChatProvider, OpenAiConfig, RetryConfig, ToolOutput,
};
use chatkit_engine::{
    AgentObserver, AgentServer, AgentServerConfig, Engine, EngineConfig, RunOutcome, TITLE_PROMPT,
};
use chatkit_store::{
    AttachmentStore, LocalDiskAttachmentStore, LocalDiskConfig, MemoryStore, Store,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};

use crate::support::*;

#[derive(Default)]
struct Recorder {
    first_outputs: Mutex<Vec<String>>,
    tools: Mutex<Vec<(String, bool)>>,
    runs: Mutex<Vec<RunOutcome>>,
}

impl AgentObserver for Recorder {
    fn model_first_output(&self, model: &str, _elapsed: Duration) {
        self.first_outputs.lock().push(model.to_owned());
    }

    fn tool_call_finished(&self, tool: &str, is_error: bool, _elapsed: Duration) {
        self.tools.lock().push((tool.to_owned(), is_error));
    }

    fn run_finished(&self, _model: &str, outcome: RunOutcome, _elapsed: Duration) {
        self.runs.lock().push(outcome);
    }
}

struct Setup {
    engine: Engine,
    model: FakeOpenAi,
    attachments: Arc<dyn AttachmentStore>,
    observer: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

async fn setup(generate_titles: bool) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiChatProvider::new(config).expect("provider");
    let echo = FunctionTool::new(
        "echo",
        "Echoes its input.",
        json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        |_ctx, args: Value| async move { Ok(ToolOutput::text(args["text"].to_string())) },
    )
    .into_dyn();
    let agent = Agent::new("assistant", Arc::new(provider)).with_tool(echo);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let attachments: Arc<dyn AttachmentStore> =
        Arc::new(LocalDiskAttachmentStore::new(LocalDiskConfig {
            root: dir.path().to_path_buf(),
            ..LocalDiskConfig::default()
        }));
    let observer = Arc::new(Recorder::default());
    let server = AgentServer::new(
        agent,
        AgentServerConfig {
            generate_titles,
            max_text_attachment_bytes: 64,
            ..AgentServerConfig::default()
        },
    )
    .with_attachment_store(Arc::clone(&attachments))
    .with_observer(observer.clone());
    Setup {
        engine: Engine::with_attachments(
            store,
            Arc::clone(&attachments),
            Arc::new(server),
            EngineConfig::default(),
        ),
        model,
        attachments,
        observer,
        _dir: dir,
    }
}

/// Creates an attachment and uploads `bytes` for it, as the server's upload endpoint does.
async fn upload(setup: &Setup, name: &str, mime: &str, bytes: &[u8]) -> String {
    let created = send(
        &setup.engine,
        json!({"type": "attachments.create", "params": {"name": name, "size": bytes.len(), "mime_type": mime}}),
    )
    .await;
    let id = created[0]["id"].as_str().expect("id").to_owned();
    setup
        .attachments
        .write_bytes(&id, bytes, &user("alice").store())
        .await
        .expect("writes");
    id
}

#[tokio::test]
async fn images_reach_the_model_as_data_urls_and_text_files_as_their_capped_text() {
    let setup = setup(false).await;
    let png = [0x89, b'P', b'N', b'G', 1, 2, 3];
    let image = upload(&setup, "cat.png", "image/png", &png).await;
    let notes = format!("line one\n{}", "é".repeat(100));
    let text = upload(&setup, "notes.txt", "text/plain", notes.as_bytes()).await;
    let pdf = upload(&setup, "paper.pdf", "application/pdf", b"%PDF-1.7").await;
    // Created but never uploaded: the model learns its name only.
    let missing = send(
        &setup.engine,
        json!({"type": "attachments.create", "params": {"name": "gone.png", "size": 3, "mime_type": "image/png"}}),
    )
    .await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    setup.model.push_turn(ScriptedTurn::text("I see a cat."));
    let mut body = create("What is in these?");
    body["params"]["input"]["attachments"] = json!([image, text, pdf, missing]);
    let events = send(&setup.engine, body).await;
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("thread.item.done:assistant_message")
    );

    let requests = setup.model.requests();
    let user_message = requests[0]
        .conversation()
        .iter()
        .find(|m| m["role"] == "user")
        .expect("a user message")
        .clone();
    let parts = user_message["content"].as_array().expect("parts").clone();
    let image_urls: Vec<&str> = parts
        .iter()
        .filter(|p| p["type"] == "image_url")
        .filter_map(|p| p["image_url"]["url"].as_str())
        .collect();
    assert_eq!(image_urls, ["data:image/png;base64,iVBORwECAw=="]);
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| p["type"] == "text")
        .filter_map(|p| p["text"].as_str())
        .collect();
    let file_text = texts
        .iter()
        .find(|t| t.contains("notes.txt"))
        .expect("the text file is there");
    assert!(file_text.contains("line one\né"), "{file_text}");
    assert!(file_text.contains("only its beginning"), "{file_text}");
    // 64 bytes: "line one\n" (9) plus 27 two-byte characters, cut before a split character.
    assert_eq!(file_text.matches('é').count(), 27, "{file_text}");
    assert!(
        texts.contains(&"[attached file: paper.pdf (application/pdf)]"),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"[attached file: gone.png (image/png)]"),
        "{texts:?}"
    );
}

#[tokio::test]
async fn the_first_exchange_gets_a_title_from_one_more_model_call_and_later_ones_do_not() {
    let setup = setup(true).await;
    setup
        .model
        .push_turn(ScriptedTurn::text("Milk is in aisle 4."));
    setup
        .model
        .push_turn(ScriptedTurn::text("\"Finding milk in the store.\""));
    let events = send(&setup.engine, create("Where is the milk?")).await;
    let updated: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "thread.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{:?}", kinds(&events));
    assert_eq!(updated[0]["thread"]["title"], "Finding milk in the store");
    let thread_id = events[0]["thread"]["id"].as_str().expect("id").to_owned();

    let requests = setup.model.requests();
    assert_eq!(requests.len(), 2);
    let title_call = &requests[1];
    assert_eq!(title_call.system_prompt(), Some(TITLE_PROMPT));
    assert!(
        title_call
            .body
            .get("tools")
            .is_none_or(|t| t.as_array().is_some_and(Vec::is_empty)),
        "the title call offers no tools: {}",
        title_call.body
    );
    let asked = title_call.conversation()[1]["content"].to_string();
    assert!(
        asked.contains("Where is the milk?") && asked.contains("aisle 4"),
        "{asked}"
    );

    // The title was saved: it is there on reload, and a second exchange asks for none.
    let thread = send(
        &setup.engine,
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
    )
    .await;
    assert_eq!(thread[0]["title"], "Finding milk in the store");
    setup.model.push_turn(ScriptedTurn::text("You're welcome."));
    let events = send(&setup.engine, add_message(&thread_id, "Thanks")).await;
    assert!(!events.iter().any(|e| e["type"] == "thread.updated"));
    assert_eq!(setup.model.requests().len(), 3);
}

#[tokio::test]
async fn a_failed_title_call_leaves_the_answer_and_the_thread_untitled() {
    let setup = setup(true).await;
    setup.model.push_turn(ScriptedTurn::text("An answer."));
    setup
        .model
        .push_turn(ScriptedTurn::http_error(500, "no titles today"));
    let events = send(&setup.engine, create("Hello")).await;
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "thread.updated" || e["type"] == "error")
    );
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("thread.item.done:assistant_message")
    );
    assert_eq!(setup.model.requests().len(), 2);
}

#[tokio::test]
async fn the_observer_sees_first_outputs_tool_calls_and_run_outcomes() {
    let setup = setup(false).await;
    setup.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "echo",
        r#"{"text":"hi"}"#,
    ));
    setup.model.push_turn(ScriptedTurn::text("Echoed."));
    send(&setup.engine, create("echo hi")).await;
    assert_eq!(*setup.observer.tools.lock(), [("echo".to_owned(), false)]);
    assert_eq!(
        *setup.observer.first_outputs.lock(),
        ["fake-model", "fake-model"],
        "one first output per model call"
    );
    setup.model.push_turn(ScriptedTurn::http_error(400, "bad"));
    send(&setup.engine, create("fail")).await;
    assert_eq!(
        *setup.observer.runs.lock(),
        [RunOutcome::Completed, RunOutcome::Failed]
    );
}
