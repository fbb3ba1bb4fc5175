//! What the user sent reaches the model as the reference's `ThreadItemConverter` renders it, the
//! composer's model and tool picks are honoured or refused before the stream, and an embedder's
//! converter replaces the defaults. Checked on the requests a real HTTP fake of the OpenAI API
//! recorded.

use std::sync::Arc;

use agent_runtime::{
    Agent, FunctionTool, OpenAiChatProvider, OpenAiConfig, RetryConfig, ToolOutput, UserContent,
};
use async_trait::async_trait;
use chatkit_engine::{AgentServer, AgentServerConfig, Engine, EngineConfig, ThreadItemConverter};
use chatkit_protocol::ThreadItem;
use chatkit_protocol::items::UserMessageTag;
use chatkit_store::{MemoryStore, Store};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};

use crate::support::*;

struct Setup {
    engine: Engine,
    store: Arc<dyn Store>,
    model: FakeOpenAi,
}

async fn setup_with(
    allowed_models: &[&str],
    converter: Option<Arc<dyn ThreadItemConverter>>,
) -> Setup {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "default-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiChatProvider::new(config).expect("provider");
    let lookup = FunctionTool::new(
        "lookup",
        "Looks a word up.",
        json!({"type": "object", "properties": {"word": {"type": "string"}}}),
        |_ctx, args: Value| async move { Ok(ToolOutput::text(format!("found {}", args["word"]))) },
    )
    .into_dyn();
    let agent = Agent::new("assistant", Arc::new(provider)).with_tool(lookup);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut server = AgentServer::new(
        agent,
        AgentServerConfig {
            allowed_models: allowed_models.iter().map(|m| (*m).to_owned()).collect(),
            ..AgentServerConfig::default()
        },
    );
    if let Some(converter) = converter {
        server = server.with_converter(converter);
    }
    Setup {
        engine: Engine::new(
            Arc::clone(&store),
            Arc::new(server),
            EngineConfig::default(),
        ),
        store,
        model,
    }
}

async fn setup() -> Setup {
    setup_with(&[], None).await
}

/// Sends a streaming request that must be refused before any stream starts.
async fn refused(engine: &Engine, body: Value) -> chatkit_engine::EngineError {
    engine
        .process(body.to_string().as_bytes(), user("alice"))
        .await
        .expect_err("refused before the stream")
}

fn thread_id_of(events: &[Value]) -> String {
    events[0]["thread"]["id"]
        .as_str()
        .expect("thread id")
        .to_owned()
}

/// Every text the model was sent in request `index`, message by message (parts joined).
fn texts(model: &FakeOpenAi, index: usize) -> Vec<String> {
    model.requests()[index]
        .conversation()
        .iter()
        .map(|message| match &message["content"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect::<Vec<_>>()
                .join("|"),
            _ => String::new(),
        })
        .collect()
}

async fn seed(setup: &Setup, thread_id: &str, item: Value) {
    let item: ThreadItem = serde_json::from_value(item).expect("a valid item");
    setup
        .store
        .add_thread_item(thread_id, &item, &user("alice").store())
        .await
        .expect("stored");
}

#[tokio::test]
async fn structured_answers_widgets_workflows_tags_and_quotes_reach_the_model_in_the_references_words()
 {
    let setup = setup().await;
    setup.model.push_turn(ScriptedTurn::text("Hello."));
    let created = send(&setup.engine, test_support::chatkit::create("Hi")).await;
    let thread_id = thread_id_of(&created);
    let now = "2026-01-01T00:00:00Z";
    seed(
        &setup,
        &thread_id,
        json!({"type": "structured_input", "id": "si_1", "thread_id": thread_id, "created_at": now,
        "status": "answered", "inputs": [
            {"type": "multiple_choice", "id": "q1", "question": "Which course?",
             "options": [{"value": "Rust"}, {"value": "Go"}], "answer": {"values": ["Rust"]}},
            {"type": "freeform", "id": "q2", "question": "Why?", "answer": {"skipped": true}},
            {"type": "freeform", "id": "q3", "question": "When?"}
        ]}),
    )
    .await;
    seed(
        &setup,
        &thread_id,
        json!({"type": "widget", "id": "w_1", "thread_id": thread_id, "created_at": now,
            "widget": {"type": "Card", "children": [{"type": "Text", "value": "3 tasks"}]}}),
    )
    .await;
    seed(
        &setup,
        &thread_id,
        json!({"type": "workflow", "id": "wf_1", "thread_id": thread_id, "created_at": now,
        "workflow": {"type": "custom", "tasks": [
            {"type": "custom", "title": "Booked", "content": "Room 4"},
            {"type": "thought", "content": "private musing"}
        ]}}),
    )
    .await;
    seed(
        &setup,
        &thread_id,
        json!({"type": "hidden_context_item", "id": "h_1", "thread_id": thread_id, "created_at": now,
            "content": "The user is on the pricing page."}),
    )
    .await;

    setup.model.push_turn(ScriptedTurn::text("Sure."));
    send(
        &setup.engine,
        json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": {
            "content": [
                {"type": "input_text", "text": "Explain "},
                {"type": "input_tag", "id": "lesson-7", "text": "Lesson 7", "data": {"course": "rust", "page": 12}, "interactive": false},
                {"type": "input_text", "text": " and "},
                {"type": "input_tag", "id": "lesson-7", "text": "Lesson 7", "data": {"course": "rust", "page": 12}, "interactive": false}
            ],
            "attachments": [],
            "quoted_text": "ownership moves",
            "inference_options": {}
        }}}),
    )
    .await;

    let sent = texts(&setup.model, 1);
    let expected_structured = "A structured input request was displayed to the user with the following status: answered\n<StructuredInput>\n- Which course?: Rust\n- Why?: skipped\n- When?: unanswered\n</StructuredInput>";
    let expected_widget = r#"The following graphical UI widget (id: w_1) was displayed to the user:{"type":"Card","children":[{"type":"Text","value":"3 tasks"}]}"#;
    let expected_task = "A message was displayed to the user that the following task was performed:\n<Task>\nBooked: Room 4\n</Task>";
    let expected_hidden = "Hidden context for the agent (not shown to the user):\n<HiddenContext>\nThe user is on the pricing page.\n</HiddenContext>";
    let expected_quote = "The user is referring to this in particular: \nownership moves";
    let tag_context = format!(
        "{}|<Tag label=\"Lesson 7\" id=\"lesson-7\">\n{{\"course\":\"rust\",\"page\":12}}\n</Tag>",
        chatkit_engine::convert::TAG_CONTEXT_HEADER
    );
    assert_eq!(
        sent[2..],
        [
            expected_structured.to_owned(),
            expected_widget.to_owned(),
            expected_task.to_owned(),
            expected_hidden.to_owned(),
            "Explain @Lesson 7 and @Lesson 7".to_owned(),
            expected_quote.to_owned(),
            tag_context,
        ],
        "the whole conversation: {sent:#?}"
    );
    assert!(
        !sent.iter().any(|text| text.contains("private musing")),
        "thought tasks stay out of the model input"
    );
}

#[tokio::test]
async fn quoted_text_is_only_given_for_the_newest_message() {
    let setup = setup().await;
    setup.model.push_turn(ScriptedTurn::text("One."));
    let created = send(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "First"}], "attachments": [],
            "quoted_text": "old quote", "inference_options": {}
        }}}),
    )
    .await;
    assert!(
        texts(&setup.model, 0)
            .iter()
            .any(|t| t.contains("old quote"))
    );
    setup.model.push_turn(ScriptedTurn::text("Two."));
    send(
        &setup.engine,
        add_message(&thread_id_of(&created), "Second"),
    )
    .await;
    assert!(
        !texts(&setup.model, 1)
            .iter()
            .any(|t| t.contains("old quote")),
        "an earlier message's quote is not repeated"
    );
}

#[tokio::test]
async fn an_allowed_model_pick_is_used_and_another_is_refused_before_any_stream() {
    let setup = setup_with(&["gpt-fast", "gpt-smart"], None).await;
    setup.model.push_turn(ScriptedTurn::text("Fast answer."));
    send(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Hi"}], "attachments": [],
            "inference_options": {"model": "gpt-smart"}
        }}}),
    )
    .await;
    assert_eq!(setup.model.requests()[0].body["model"], "gpt-smart");

    let refused = refused(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Hi"}], "attachments": [],
            "inference_options": {"model": "gpt-expensive"}
        }}}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(refused.to_string().contains("gpt-expensive"), "{refused}");
    assert_eq!(setup.model.requests().len(), 1, "no model call for it");
    let threads = setup
        .store
        .load_threads(
            10,
            None,
            chatkit_protocol::Order::Desc,
            &user("alice").store(),
        )
        .await
        .expect("threads");
    assert_eq!(threads.data.len(), 1, "no thread was created for it");
}

#[tokio::test]
async fn a_server_without_an_allow_list_refuses_every_model_pick() {
    let setup = setup().await;
    let refused = refused(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Hi"}], "attachments": [],
            "inference_options": {"model": "gpt-smart"}
        }}}),
    )
    .await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn a_picked_tool_is_forced_once_and_an_unknown_tool_is_refused() {
    let setup = setup().await;
    setup.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "lookup",
        r#"{"word":"borrow"}"#,
    ));
    setup
        .model
        .push_turn(ScriptedTurn::text("It means to lend."));
    send(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Define borrow"}], "attachments": [],
            "inference_options": {"tool_choice": {"id": "lookup"}}
        }}}),
    )
    .await;
    let requests = setup.model.requests();
    assert_eq!(
        requests[0].body["tool_choice"],
        json!({"type": "function", "function": {"name": "lookup"}})
    );
    assert!(
        requests[1].body.get("tool_choice").is_none(),
        "once the tool ran the model may answer: {}",
        requests[1].body
    );

    let refused = refused(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Hi"}], "attachments": [],
            "inference_options": {"tool_choice": {"id": "rm_rf"}}
        }}}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(refused.to_string().contains("rm_rf"), "{refused}");
}

/// An embedder's converter that resolves tags itself.
struct CourseTags;

#[async_trait]
impl ThreadItemConverter for CourseTags {
    async fn tag(&self, tag: &UserMessageTag) -> UserContent {
        UserContent::Text {
            text: format!("Course page {} (resolved by the integration)", tag.id),
        }
    }
}

#[tokio::test]
async fn an_embedders_converter_replaces_the_default_for_the_kinds_it_overrides() {
    let setup = setup_with(&[], Some(Arc::new(CourseTags))).await;
    setup.model.push_turn(ScriptedTurn::text("Ok."));
    send(
        &setup.engine,
        json!({"type": "threads.create", "params": {"input": {
            "content": [
                {"type": "input_text", "text": "Summarize "},
                {"type": "input_tag", "id": "p-9", "text": "Page 9", "data": {}, "interactive": false}
            ],
            "attachments": [], "inference_options": {}
        }}}),
    )
    .await;
    let sent = texts(&setup.model, 0);
    assert!(sent.contains(&"Summarize @Page 9".to_owned()), "{sent:#?}");
    assert!(
        sent.iter()
            .any(|t| t.ends_with("|Course page p-9 (resolved by the integration)")),
        "{sent:#?}"
    );
}
