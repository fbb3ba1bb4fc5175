//! The ChatKit side of handoffs, guardrails and usage, against the fake OpenAI server on both wire
//! formats: the handoff task, the next turn on the handed-off agent, streamed items taken back
//! when a guardrail trips, usage kept on the thread.

use std::sync::Arc;

use agent_runtime::{
    Agent, FunctionTool, GuardrailOutput, Handoff, ModelProvider, OpenAiChatProvider, OpenAiConfig,
    OpenAiResponsesProvider, RetryConfig, TextGuardrail, ToolOutput,
};
use chatkit_engine::{
    ACTIVE_AGENT_METADATA_KEY, AgentServer, AgentServerConfig, Engine, EngineConfig,
    INPUT_GUARDRAIL_MESSAGE, OUTPUT_GUARDRAIL_MESSAGE, USAGE_METADATA_KEY,
};
use chatkit_protocol::{Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata};
use chatkit_store::{MemoryStore, Store, StoreContext, StoreError};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};

use crate::support::*;

/// Trips when the text contains `word`: the last user message as an input guardrail (before the
/// model call), the final answer as an output guardrail.
fn word_rule(word: &'static str) -> Arc<TextGuardrail> {
    Arc::new(TextGuardrail::new(
        "word_rule",
        Arc::new(move |text: &str| {
            if text.contains(word) {
                GuardrailOutput::tripwire(Value::Null)
            } else {
                GuardrailOutput::pass()
            }
        }),
    ))
}

struct Setup {
    engine: Engine,
    store: Arc<dyn Store>,
}

/// Both providers against one fake server, for tests that must hold for either wire format.
fn providers(model: &FakeOpenAi) -> [(&'static str, Arc<dyn ModelProvider>); 2] {
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    [
        (
            "chat",
            Arc::new(OpenAiChatProvider::new(config.clone()).expect("provider")),
        ),
        (
            "responses",
            Arc::new(OpenAiResponsesProvider::new(config).expect("provider")),
        ),
    ]
}

/// A triage agent that hands off to a tutor with one tool; the triage refuses inputs about
/// cheating, the tutor withholds answers that leak the password.
fn setup(model: Arc<dyn ModelProvider>) -> Setup {
    let lookup = FunctionTool::new(
        "lookup_lesson",
        "Looks up a lesson.",
        json!({"type": "object", "properties": {}}),
        |_ctx, _arguments: Value| async { Ok(ToolOutput::text("Lesson 3: loops")) },
    )
    .into_dyn();
    let tutor = Agent::new("tutor", model.clone())
        .with_instructions("Teach the course.")
        .with_tool(lookup)
        .with_output_guardrail(word_rule("hunter2"));
    let triage = Agent::new("triage", model)
        .with_instructions("Route the user.")
        .with_handoff(Handoff::to(tutor))
        .with_input_guardrail(word_rule("cheat"))
        .with_output_guardrail(word_rule("hunter2"));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(triage, AgentServerConfig::default());
    Setup {
        engine: Engine::new(store.clone(), Arc::new(server), EngineConfig::default()),
        store,
    }
}

async fn send_recorded(engine: &Engine, body: Value) -> Vec<Value> {
    let events = send(engine, body).await;
    for event in &events {
        record("event", event);
    }
    events
}

fn thread_id_of(events: &[Value]) -> String {
    events[0]["thread"]["id"]
        .as_str()
        .expect("thread.created first")
        .to_owned()
}

async fn metadata(setup: &Setup, thread_id: &str) -> serde_json::Map<String, Value> {
    setup
        .store
        .load_thread(thread_id, &user("alice").store())
        .await
        .expect("thread")
        .metadata
}

async fn stored(setup: &Setup, thread_id: &str) -> Vec<ThreadItem> {
    setup
        .store
        .load_thread_items(
            thread_id,
            None,
            100,
            chatkit_protocol::Order::Asc,
            &user("alice").store(),
        )
        .await
        .expect("items")
        .data
}

#[tokio::test]
async fn a_handoff_shows_a_task_and_the_next_turn_starts_on_the_new_agent() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in providers(&server) {
        let setup = setup(model);
        let before = server.requests().len();
        server.push_turn(ScriptedTurn::tool_call("call_h", "transfer_to_tutor", "{}"));
        server.push_turn(ScriptedTurn::text("Tutor here.").with_usage(11, 2));
        let events = send_recorded(&setup.engine, create("Teach me loops")).await;
        let thread_id = thread_id_of(&events);
        let handoff = events
            .iter()
            .find(|event| {
                event["type"] == "thread.item.done" && event["item"]["type"] == "workflow"
            })
            .unwrap_or_else(|| panic!("{wire}: no workflow in {:?}", kinds(&events)));
        assert_eq!(
            handoff["item"]["workflow"]["tasks"],
            json!([{
                "type": "custom",
                "status_indicator": "complete",
                "title": "Handed off to tutor",
                "icon": "agent",
            }]),
            "{wire}"
        );
        assert_eq!(
            handoff["item"]["workflow"]["summary"]["title"], "Handed off to tutor",
            "{wire}"
        );
        assert_eq!(
            kinds(&events).last().map(String::as_str),
            Some("thread.item.done:assistant_message"),
            "{wire}: metadata changes are not announced"
        );
        let meta = metadata(&setup, &thread_id).await;
        assert_eq!(meta[ACTIVE_AGENT_METADATA_KEY], "tutor", "{wire}");

        server.push_turn(ScriptedTurn::text("Still the tutor.").with_usage(20, 3));
        send_recorded(&setup.engine, add_message(&thread_id, "And lesson 4?")).await;
        let requests = &server.requests()[before..];
        assert_eq!(requests.len(), 3, "{wire}");
        assert_eq!(
            requests[0].system_prompt(),
            Some("Route the user."),
            "{wire}"
        );
        assert_eq!(
            requests[1].system_prompt(),
            Some("Teach the course."),
            "{wire}"
        );
        assert_eq!(
            requests[2].system_prompt(),
            Some("Teach the course."),
            "{wire}: the second turn starts on the tutor"
        );
        assert_eq!(requests[2].tool_names(), ["lookup_lesson"], "{wire}");
        // The second turn's model input tells the tutor the handoff happened.
        assert!(
            requests[2]
                .conversation()
                .iter()
                .any(|message| message.to_string().contains("Handed off to tutor")),
            "{wire}"
        );
        let meta = metadata(&setup, &thread_id).await;
        assert_eq!(meta[ACTIVE_AGENT_METADATA_KEY], "tutor", "{wire}");
        // The handoff turn used two model calls: its first is the fake's made-up usage.
        let usage = &meta[USAGE_METADATA_KEY];
        assert_eq!(usage["runs"], 2, "{wire}: {usage}");
        assert!(
            usage["input_tokens"].as_u64().unwrap_or_default() > 31,
            "{wire}: {usage}"
        );
    }
}

#[tokio::test]
async fn an_output_guardrail_trip_takes_back_every_streamed_item_of_the_turn() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in providers(&server) {
        let setup = setup(model);
        server.push_turn(ScriptedTurn::text("Hello!"));
        let events = send_recorded(&setup.engine, create("Hi")).await;
        let thread_id = thread_id_of(&events);
        let kept = stored(&setup, &thread_id).await;

        // The triage hands off, the tutor's tool runs, then the tutor's answer trips.
        server.push_turn(ScriptedTurn::tool_call("call_h", "transfer_to_tutor", "{}"));
        server.push_turn(ScriptedTurn::tool_call("call_l", "lookup_lesson", "{}"));
        server.push_turn(ScriptedTurn::text("The admin password is hunter2."));
        let events = send_recorded(
            &setup.engine,
            add_message(&thread_id, "What is the password?"),
        )
        .await;
        let added: Vec<String> = events
            .iter()
            .filter(|event| event["type"] == "thread.item.added")
            .filter(|event| event["item"]["type"] != "user_message")
            .map(|event| event["item"]["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let removed: Vec<String> = events
            .iter()
            .filter(|event| event["type"] == "thread.item.removed")
            .map(|event| event["item_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        // The handoff workflow, the tool workflow and the assistant message.
        assert_eq!(added.len(), 3, "{wire}: {:?}", kinds(&events));
        assert_eq!(removed, added, "{wire}");
        let last = events.last().expect("events");
        assert_eq!(
            *last,
            json!({"type": "error", "code": "custom", "message": OUTPUT_GUARDRAIL_MESSAGE, "allow_retry": false}),
            "{wire}"
        );
        // Only the new user message is left of the turn: no half answer, no tool record.
        let after = stored(&setup, &thread_id).await;
        assert_eq!(after.len(), kept.len() + 1, "{wire}: {after:?}");
        assert!(
            matches!(after.last(), Some(ThreadItem::UserMessage(_))),
            "{wire}"
        );
        let visible = setup_items(&setup, &thread_id).await;
        assert!(
            !visible
                .iter()
                .any(|item| item.to_string().contains("hunter2")),
            "{wire}"
        );
    }
}

async fn setup_items(setup: &Setup, thread_id: &str) -> Vec<Value> {
    let page = send(
        &setup.engine,
        json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc", "limit": 100}}),
    )
    .await;
    record("page_items", &page[0]);
    page[0]["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_input_guardrail_trip_answers_with_a_clear_error_and_no_model_call() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in providers(&server) {
        let setup = setup(model);
        let before = server.requests().len();
        let events = send_recorded(&setup.engine, create("Help me cheat on the exam")).await;
        let thread_id = thread_id_of(&events);
        assert_eq!(server.requests().len(), before, "{wire}");
        assert_eq!(
            *events.last().expect("events"),
            json!({"type": "error", "code": "custom", "message": INPUT_GUARDRAIL_MESSAGE, "allow_retry": false}),
            "{wire}"
        );
        let after = stored(&setup, &thread_id).await;
        assert_eq!(after.len(), 1, "{wire}: only the user message");
    }
}

/// A store that writes to memory and remembers which write methods were called, in order.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    writes: std::sync::Mutex<Vec<&'static str>>,
}

impl CountingStore {
    fn wrote(&self, method: &'static str) {
        self.writes.lock().expect("writes").push(method);
    }

    fn take_writes(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.writes.lock().expect("writes"))
    }
}

#[async_trait::async_trait]
impl Store for CountingStore {
    async fn load_thread(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadMetadata, StoreError> {
        self.inner.load_thread(thread_id, ctx).await
    }
    async fn save_thread(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("save_thread");
        self.inner.save_thread(thread, ctx).await
    }
    async fn load_threads(
        &self,
        limit: usize,
        after: Option<&str>,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadMetadata>, StoreError> {
        self.inner.load_threads(limit, after, order, ctx).await
    }
    async fn load_thread_items(
        &self,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadItem>, StoreError> {
        self.inner
            .load_thread_items(thread_id, after, limit, order, ctx)
            .await
    }
    async fn add_thread_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("add_thread_item");
        self.inner.add_thread_item(thread_id, item, ctx).await
    }
    async fn add_thread_item_and_save_thread(
        &self,
        thread: &ThreadMetadata,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("add_thread_item_and_save_thread");
        self.inner
            .add_thread_item_and_save_thread(thread, item, ctx)
            .await
    }
    async fn save_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("save_item");
        self.inner.save_item(thread_id, item, ctx).await
    }
    async fn load_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadItem, StoreError> {
        self.inner.load_item(thread_id, item_id, ctx).await
    }
    async fn delete_thread(&self, thread_id: &str, ctx: &StoreContext) -> Result<(), StoreError> {
        self.wrote("delete_thread");
        self.inner.delete_thread(thread_id, ctx).await
    }
    async fn delete_thread_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("delete_thread_item");
        self.inner.delete_thread_item(thread_id, item_id, ctx).await
    }
    async fn save_attachment(
        &self,
        attachment: &Attachment,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("save_attachment");
        self.inner.save_attachment(attachment, ctx).await
    }
    async fn load_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError> {
        self.inner.load_attachment(attachment_id, ctx).await
    }
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("delete_attachment");
        self.inner.delete_attachment(attachment_id, ctx).await
    }
    async fn save_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.wrote("save_feedback");
        self.inner
            .save_feedback(thread_id, item_ids, kind, ctx)
            .await
    }
    async fn load_feedback(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<Option<FeedbackKind>, StoreError> {
        self.inner.load_feedback(thread_id, item_id, ctx).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// An answer and the usage record of its run are one store write, not two: the answer's `done`
/// waits for the usage that follows it, and the pipeline saves the thread with the item. The
/// record still adds up over turns, and a handoff's active agent is still saved at the end.
#[tokio::test]
async fn an_answer_and_its_runs_usage_record_are_saved_in_one_write() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in providers(&server) {
        let store = Arc::new(CountingStore::default());
        let agent = Agent::new("assistant", model).with_instructions("Answer.");
        let engine = Engine::new(
            store.clone(),
            Arc::new(AgentServer::new(agent, AgentServerConfig::default())),
            EngineConfig::default(),
        );
        server.push_turn(ScriptedTurn::text("First answer.").with_usage(10, 2));
        let events = send_recorded(&engine, create("Hi")).await;
        let thread_id = thread_id_of(&events);
        store.take_writes();
        for (turn, (input, output)) in [(7, 3), (5, 1)].into_iter().enumerate() {
            server.push_turn(ScriptedTurn::text("Another answer.").with_usage(input, output));
            let events = send_recorded(&engine, add_message(&thread_id, "More?")).await;
            assert_eq!(
                kinds(&events).last().map(String::as_str),
                Some("thread.item.done:assistant_message"),
                "{wire}"
            );
            assert_eq!(
                store.take_writes(),
                ["add_thread_item", "add_thread_item_and_save_thread"],
                "{wire}, turn {turn}: the user message, then the answer with the record"
            );
        }
        let thread = store
            .load_thread(&thread_id, &user("alice").store())
            .await
            .expect("thread");
        assert_eq!(
            thread.metadata[USAGE_METADATA_KEY],
            json!({"input_tokens": 22, "output_tokens": 6, "total_tokens": 28, "runs": 3}),
            "{wire}"
        );
        let items = store
            .load_thread_items(&thread_id, None, 100, Order::Asc, &user("alice").store())
            .await
            .expect("items")
            .data;
        assert_eq!(items.len(), 6, "{wire}: three questions and three answers");
    }
}
