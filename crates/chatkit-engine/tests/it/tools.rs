//! Tools that speak ChatKit, through the agent bridge and the real fake OpenAI server: widgets
//! (whole and streamed over versions), a workflow across two tool calls, progress, client
//! effects, sources, a client tool call ended by a tool, and a client leaving mid-widget.

use std::collections::HashMap;
use std::sync::Arc;

use agent_runtime::{
    Agent, DynTool, FunctionTool, OpenAiChatProvider, OpenAiConfig, RetryConfig, RunContext,
    ToolError, ToolOutput,
};
use chatkit_engine::{
    ActionOutcome, ActionRequest, AgentServer, AgentServerConfig, CANCELLED_NOTE,
    ChatKitToolContext, Engine, EngineConfig, Response, ToolDisplay, action_fn,
};
use chatkit_protocol::items::{StatusIndicator, WorkflowSummary};
use chatkit_protocol::{Source, Task, ThreadItem, UrlSource, WidgetRoot};
use chatkit_store::{MemoryStore, Store};
use serde_json::{Map, Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};
use tokio::sync::Notify;

use crate::support::*;

fn schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn weather_card(text: &str, streaming: bool) -> WidgetRoot {
    WidgetRoot::from_json(json!({"type": "Card", "children": [
        {"type": "Title", "value": "Paris"},
        {"type": "Text", "id": "forecast", "value": text, "streaming": streaming},
    ]}))
    .expect("a valid widget")
}

fn chatkit(ctx: &RunContext) -> Result<ChatKitToolContext, ToolError> {
    ChatKitToolContext::of(ctx).ok_or_else(|| ToolError::Backend("called outside a run".into()))
}

fn backend(error: agent_runtime::AgentError) -> ToolError {
    ToolError::Backend(error.to_string())
}

fn tool<F, Fut>(name: &'static str, handler: F) -> DynTool
where
    F: Fn(RunContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolError>> + Send + 'static,
{
    FunctionTool::new(name, "A test tool.", schema(), handler).into_dyn()
}

/// Gates for the tool that pauses in the middle of its widget.
#[derive(Clone, Default)]
struct Gates {
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

fn tools(gates: Gates) -> Vec<DynTool> {
    vec![
        tool("weather", |ctx, _| async move {
            let chatkit = chatkit(&ctx)?;
            let versions = futures::stream::iter([
                weather_card("", true),
                weather_card("Sunny", true),
                weather_card("Sunny, 24°C", true),
                weather_card("Sunny, 24°C", false),
            ]);
            chatkit
                .stream_widget(versions, Some("Paris: sunny, 24°C".into()))
                .await
                .map_err(backend)?;
            Ok(ToolOutput::text("Paris: sunny, 24°C (shown to the user)"))
        }),
        tool("search_start", |ctx, _| async move {
            let chatkit = chatkit(&ctx)?;
            chatkit
                .add_workflow_task(Task::Custom {
                    status_indicator: StatusIndicator::Loading,
                    title: Some("Searching the catalog".into()),
                    icon: Some("search".into()),
                    content: None,
                })
                .await
                .map_err(backend)?;
            chatkit
                .progress("Searching…", Some("search".into()))
                .await
                .map_err(backend)?;
            Ok(ToolOutput::text("3 candidates"))
        }),
        tool("search_finish", |ctx, _| async move {
            let chatkit = chatkit(&ctx)?;
            chatkit
                .update_workflow_task(
                    Task::Custom {
                        status_indicator: StatusIndicator::Complete,
                        title: Some("Searched the catalog".into()),
                        icon: Some("search".into()),
                        content: None,
                    },
                    0,
                )
                .await
                .map_err(backend)?;
            chatkit
                .add_workflow_task(Task::Custom {
                    status_indicator: StatusIndicator::Complete,
                    title: Some("Ranked 3 candidates".into()),
                    icon: None,
                    content: None,
                })
                .await
                .map_err(backend)?;
            chatkit
                .add_sources(vec![Source::Url(UrlSource {
                    url: "https://example.com/rust-book".into(),
                    title: "The Rust book".into(),
                    description: None,
                    timestamp: None,
                    group: None,
                    attribution: None,
                })])
                .await
                .map_err(backend)?;
            chatkit
                .end_workflow(
                    Some(WorkflowSummary::Custom {
                        title: "Searched the catalog".into(),
                        icon: None,
                    }),
                    false,
                )
                .await
                .map_err(backend)?;
            let mut data = Map::new();
            data.insert("highlight".into(), json!("rust-book"));
            chatkit
                .client_effect("highlight_result", data)
                .await
                .map_err(backend)?;
            Ok(ToolOutput::text("best: The Rust book"))
        }),
        tool("pick_color", |ctx, _| async move {
            let mut arguments = Map::new();
            arguments.insert("palette".into(), json!("warm"));
            chatkit(&ctx)?.end_turn_with_client_tool_call("open_color_picker", arguments);
            Ok(ToolOutput::text("asked the browser"))
        }),
        tool("slow_widget", move |ctx, _| {
            let gates = gates.clone();
            async move {
                let chatkit = chatkit(&ctx)?;
                let versions = async_stream::stream! {
                    yield weather_card("Loading", true);
                    yield weather_card("Loading the forecast", true);
                    gates.reached.notify_one();
                    gates.release.notified().await;
                    yield weather_card("never shown", false);
                };
                chatkit
                    .stream_widget(versions, None)
                    .await
                    .map_err(backend)?;
                Ok(ToolOutput::text("done"))
            }
        }),
    ]
}

struct ToolHarness {
    engine: Engine,
    model: FakeOpenAi,
    store: Arc<dyn Store>,
    gates: Gates,
}

async fn harness(display: ToolDisplay) -> ToolHarness {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiChatProvider::new(config).expect("provider");
    let gates = Gates::default();
    let mut agent = Agent::new("assistant", Arc::new(provider));
    for tool in tools(gates.clone()) {
        agent = agent.with_tool(tool);
    }
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(
        agent,
        AgentServerConfig {
            tool_display: display,
            ..AgentServerConfig::default()
        },
    )
    .with_action(
        "weather.refresh",
        action_fn(|request: ActionRequest| async move {
            let city = request.action.payload["city"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            Ok(ActionOutcome {
                widget: Some(
                    WidgetRoot::from_json(json!({"type": "Card", "children": [
                        {"type": "Title", "value": city},
                        {"type": "Text", "value": format!("Refreshed for {}", request.ctx.user.id)},
                    ]}))
                    .expect("a valid widget"),
                ),
                copy_text: Some("refreshed".into()),
                hand_to_model: None,
            })
        }),
    )
    .with_action(
        "weather.explain",
        action_fn(|request: ActionRequest| async move {
            Ok(ActionOutcome {
                hand_to_model: Some(format!(
                    "The user clicked \"Explain\" on the forecast for {}.",
                    request.action.payload["city"].as_str().unwrap_or("?")
                )),
                ..ActionOutcome::default()
            })
        }),
    );
    ToolHarness {
        engine: Engine::new(store.clone(), Arc::new(server), EngineConfig::default()),
        model,
        store,
        gates,
    }
}

pub(crate) async fn run(engine: &Engine, body: Value) -> Vec<Value> {
    let events: Vec<Value> = match engine
        .process(body.to_string().as_bytes(), user("alice"))
        .await
        .expect("accepted")
    {
        Response::Stream(events) => events
            .collect_all()
            .await
            .iter()
            .map(|event| serde_json::to_value(event).expect("json"))
            .collect(),
        Response::Json(_) => panic!("expected a stream"),
    };
    for event in &events {
        record("event", event);
    }
    events
}

/// The events as a snapshot: ids become `<id1>`, `<id2>`... in order of first appearance (thread
/// ids `<thread>`), timestamps `<time>`; the thread's own events and `stream_options` are left out.
fn redacted(events: &[Value]) -> Value {
    let mut names: HashMap<String, String> = HashMap::new();
    fn walk(value: &mut Value, names: &mut HashMap<String, String>) {
        match value {
            Value::Object(map) => {
                let is_item = map.contains_key("thread_id");
                for (key, field) in map.iter_mut() {
                    match (key.as_str(), field.as_str()) {
                        ("created_at", Some(_)) => *field = json!("<time>"),
                        ("thread_id", Some(_)) => *field = json!("<thread>"),
                        ("item_id", Some(id)) => {
                            let next = format!("<id{}>", names.len() + 1);
                            let name = names.entry(id.to_owned()).or_insert(next).clone();
                            *field = json!(name);
                        }
                        // Item ids only: a widget component's `id` is content.
                        ("id", Some(id)) if is_item => {
                            let next = format!("<id{}>", names.len() + 1);
                            let name = names.entry(id.to_owned()).or_insert(next).clone();
                            *field = json!(name);
                        }
                        _ => walk(field, names),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, names)),
            _ => {}
        }
    }
    let mut kept: Vec<Value> = events
        .iter()
        .filter(|event| {
            !matches!(
                event["type"].as_str(),
                Some("thread.created" | "thread.updated" | "stream_options")
            )
        })
        .cloned()
        .collect();
    for event in &mut kept {
        walk(event, &mut names);
    }
    Value::Array(kept)
}

fn thread_of(events: &[Value]) -> String {
    events[0]["thread"]["id"]
        .as_str()
        .expect("thread.created first")
        .to_owned()
}

#[tokio::test]
async fn a_widget_streamed_over_versions_reaches_the_client_as_diffs_and_is_stored_final() {
    let h = harness(ToolDisplay::Hidden).await;
    h.model
        .push_turn(ScriptedTurn::tool_call("call_1", "weather", "{}"));
    h.model.push_turn(ScriptedTurn::text("It is sunny."));
    let events = run(&h.engine, create("Weather in Paris?")).await;
    let thread_id = thread_of(&events);
    let snapshot = redacted(&events);
    let card = |text: &str, streaming: bool| {
        json!({"type": "Card", "children": [
            {"type": "Title", "value": "Paris"},
            {"type": "Text", "id": "forecast", "value": text, "streaming": streaming},
        ]})
    };
    assert_eq!(
        snapshot.as_array().expect("events")[1..6],
        [
            json!({"type": "thread.item.added", "item": {"type": "widget", "id": "<id2>",
                "thread_id": "<thread>", "created_at": "<time>", "widget": card("", true),
                "copy_text": "Paris: sunny, 24°C"}}),
            json!({"type": "thread.item.updated", "item_id": "<id2>", "update": {
                "type": "widget.streaming_text.value_delta", "component_id": "forecast",
                "delta": "Sunny", "done": false}}),
            json!({"type": "thread.item.updated", "item_id": "<id2>", "update": {
                "type": "widget.streaming_text.value_delta", "component_id": "forecast",
                "delta": ", 24°C", "done": false}}),
            json!({"type": "thread.item.updated", "item_id": "<id2>", "update": {
                "type": "widget.root.updated", "widget": card("Sunny, 24°C", false)}}),
            json!({"type": "thread.item.done", "item": {"type": "widget", "id": "<id2>",
                "thread_id": "<thread>", "created_at": "<time>",
                "widget": card("Sunny, 24°C", false), "copy_text": "Paris: sunny, 24°C"}}),
        ],
        "{snapshot:#}"
    );
    assert_eq!(
        kinds(&events)[events.len() - 1],
        "thread.item.done:assistant_message"
    );

    // Part of history: stored in its final state, and described to the model on the next turn.
    let stored = h
        .store
        .load_thread_items(
            &thread_id,
            None,
            100,
            chatkit_protocol::Order::Asc,
            &user("alice").store(),
        )
        .await
        .expect("loads")
        .data;
    let widget = stored
        .iter()
        .find_map(|item| match item {
            ThreadItem::Widget(widget) => Some(widget.clone()),
            _ => None,
        })
        .expect("the widget is stored");
    assert_eq!(*widget.widget, weather_card("Sunny, 24°C", false));
    h.model.push_turn(ScriptedTurn::text("Still sunny."));
    run(&h.engine, add_message(&thread_id, "And tomorrow?")).await;
    let conversation = h
        .model
        .requests()
        .last()
        .expect("asked")
        .conversation()
        .to_vec();
    let described = format!(
        "The following graphical UI widget (id: {}) was displayed to the user:",
        widget.id
    );
    assert!(
        conversation
            .iter()
            .any(|message| message["content"].to_string().contains(&described)),
        "{conversation:#?}"
    );
}

#[tokio::test]
async fn a_workflow_spans_two_tool_calls_with_progress_an_effect_and_sources_for_the_answer() {
    let h = harness(ToolDisplay::Workflow).await;
    h.model
        .push_turn(ScriptedTurn::tool_call("call_1", "search_start", "{}"));
    h.model
        .push_turn(ScriptedTurn::tool_call("call_2", "search_finish", "{}"));
    h.model.push_turn(ScriptedTurn::text("Read the Rust book."));
    let events = run(&h.engine, create("What should I read?")).await;
    let snapshot = redacted(&events);
    let task = |title: &str, indicator: &str, icon: Option<&str>| {
        let mut task = json!({"type": "custom", "status_indicator": indicator, "title": title});
        if let Some(icon) = icon {
            task["icon"] = json!(icon);
        }
        task
    };
    let expected = json!([
        {"type": "thread.item.done", "item": {"type": "user_message", "id": "<id1>"}},
        // The automatic trace opens when the call starts...
        {"type": "thread.item.added", "item": {"type": "workflow", "id": "<id2>", "thread_id": "<thread>",
            "created_at": "<time>", "workflow": {"type": "custom", "tasks": [], "expanded": false}}},
        {"type": "thread.item.updated", "item_id": "<id2>", "update": {"type": "workflow.task.added",
            "task_index": 0, "task": task("Running search_start", "loading", Some("bolt"))}},
        // ...and gives way to the tool's own workflow, which appears with its first task and
        // keeps the later calls' trace (so the second call adds to it, and shows no trace).
        {"type": "thread.item.removed", "item_id": "<id2>"},
        {"type": "thread.item.added", "item": {"type": "workflow", "id": "<id3>", "thread_id": "<thread>",
            "created_at": "<time>", "workflow": {"type": "custom",
            "tasks": [task("Searching the catalog", "loading", Some("search"))], "expanded": false}}},
        {"type": "progress_update", "icon": "search", "text": "Searching…"},
        {"type": "thread.item.updated", "item_id": "<id3>", "update": {"type": "workflow.task.updated",
            "task_index": 0, "task": task("Searched the catalog", "complete", Some("search"))}},
        {"type": "thread.item.updated", "item_id": "<id3>", "update": {"type": "workflow.task.added",
            "task_index": 1, "task": task("Ranked 3 candidates", "complete", None)}},
        {"type": "thread.item.done", "item": {"type": "workflow", "id": "<id3>", "thread_id": "<thread>",
            "created_at": "<time>", "workflow": {"type": "custom", "tasks": [
                task("Searched the catalog", "complete", Some("search")),
                task("Ranked 3 candidates", "complete", None)],
            "summary": {"title": "Searched the catalog"}, "expanded": false}}},
        {"type": "client_effect", "name": "highlight_result", "data": {"highlight": "rust-book"}},
    ]);
    let got = snapshot.as_array().expect("events");
    assert_eq!(got[0]["item"]["type"], "user_message");
    assert_eq!(
        got[1..10],
        expected.as_array().expect("expected")[1..10],
        "{snapshot:#}"
    );
    let removed = got
        .iter()
        .position(|event| event["type"] == "thread.item.removed")
        .expect("the trace was withdrawn");
    assert!(
        got[removed + 1..]
            .iter()
            .all(|event| event["item_id"] != "<id2>" && event["item"]["id"] != "<id2>"),
        "nothing reaches the withdrawn trace: {snapshot:#}"
    );
    let kinds = kinds(&events);
    let tail: Vec<&str> = kinds[kinds.len() - 3..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "thread.item.updated:assistant_message.content_part.annotation_added",
            "thread.item.updated:assistant_message.content_part.done",
            "thread.item.done:assistant_message",
        ],
        "the recorded sources become the answer's citations"
    );
    let answer = events.last().expect("an answer");
    assert_eq!(
        answer["item"]["content"][0]["annotations"],
        json!([{"type": "annotation", "index": 19, "source": {"type": "url",
            "url": "https://example.com/rust-book", "title": "The Rust book"}}])
    );
}

#[tokio::test]
async fn a_tool_can_end_the_turn_with_a_client_tool_call_that_answers_its_call() {
    let h = harness(ToolDisplay::Hidden).await;
    h.model
        .push_turn(ScriptedTurn::tool_call("call_1", "pick_color", "{}"));
    let events = run(&h.engine, create("Pick a color for me")).await;
    let thread_id = thread_of(&events);
    let snapshot = redacted(&events);
    assert_eq!(
        snapshot.as_array().expect("events")[1..],
        [
            json!({"type": "thread.item.done", "item": {"type": "client_tool_call", "id": "<id2>",
            "thread_id": "<thread>", "created_at": "<time>", "status": "pending",
            "call_id": "call_1", "name": "open_color_picker", "arguments": {"palette": "warm"}}})
        ],
        "{snapshot:#}"
    );
    assert_eq!(
        h.model.requests().len(),
        1,
        "the model waits for the client"
    );

    // The client's output answers call_1, once: the tool's own output is not in the history.
    h.model.push_turn(ScriptedTurn::text("Orange it is."));
    let events = run(
        &h.engine,
        json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"color": "orange"}}}),
    )
    .await;
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("thread.item.done:assistant_message")
    );
    let conversation = h
        .model
        .requests()
        .last()
        .expect("asked")
        .conversation()
        .to_vec();
    let answers: Vec<&Value> = conversation
        .iter()
        .filter(|message| message["role"] == "tool")
        .collect();
    assert_eq!(answers.len(), 1, "{conversation:#?}");
    assert_eq!(answers[0]["tool_call_id"], "call_1");
    assert!(answers[0]["content"].to_string().contains("orange"));
}

#[tokio::test]
async fn a_client_leaving_mid_widget_keeps_the_widget_as_it_was_seen() {
    let h = harness(ToolDisplay::Hidden).await;
    h.model.push_turn(ScriptedTurn::text("First."));
    let events = run(&h.engine, create("Hello")).await;
    let thread_id = thread_of(&events);
    h.model
        .push_turn(ScriptedTurn::tool_call("call_1", "slow_widget", "{}"));
    let receiver = match h
        .engine
        .process(
            add_message(&thread_id, "Forecast?").to_string().as_bytes(),
            user("alice"),
        )
        .await
        .expect("accepted")
    {
        Response::Stream(events) => events,
        Response::Json(_) => panic!("expected a stream"),
    };
    h.gates.reached.notified().await;
    drop(receiver);
    // The next message waits for the cancelled stream's cleanup, so what it saved is in place.
    h.model.push_turn(ScriptedTurn::text("Never mind."));
    run(&h.engine, add_message(&thread_id, "Never mind")).await;
    h.gates.release.notify_one();

    let stored = h
        .store
        .load_thread_items(
            &thread_id,
            None,
            100,
            chatkit_protocol::Order::Asc,
            &user("alice").store(),
        )
        .await
        .expect("loads")
        .data;
    let summary: Vec<String> = stored
        .iter()
        .map(|item| match item {
            ThreadItem::Widget(widget) => {
                format!("widget:{}", widget.widget.to_json()["children"][1]["value"])
            }
            ThreadItem::SdkHiddenContext(note) => format!("hidden:{}", note.content),
            other => other.kind().to_owned(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "user_message".to_owned(),
            "assistant_message".to_owned(),
            "user_message".to_owned(),
            "widget:\"Loading the forecast\"".to_owned(),
            format!("hidden:{CANCELLED_NOTE}"),
            "user_message".to_owned(),
            "assistant_message".to_owned(),
        ]
    );
}

#[tokio::test]
async fn widget_actions_replace_the_sender_in_place_or_hand_the_turn_to_the_model() {
    let h = harness(ToolDisplay::Hidden).await;
    h.model
        .push_turn(ScriptedTurn::tool_call("call_1", "weather", "{}"));
    h.model.push_turn(ScriptedTurn::text("It is sunny."));
    let events = run(&h.engine, create("Weather in Paris?")).await;
    let thread_id = thread_of(&events);
    let widget_id = events
        .iter()
        .find(|event| event["type"] == "thread.item.done" && event["item"]["type"] == "widget")
        .and_then(|event| event["item"]["id"].as_str())
        .expect("a widget")
        .to_owned();

    // Synchronous: the answer is the sender with its new widget, and the store has it too.
    let answer = match h
        .engine
        .process(
            json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id,
                "item_id": widget_id, "action": {"type": "weather.refresh", "payload": {"city": "Lyon"}}}})
            .to_string()
            .as_bytes(),
            user("alice"),
        )
        .await
        .expect("handled")
    {
        Response::Json(bytes) => serde_json::from_slice::<Value>(&bytes).expect("json"),
        Response::Stream(_) => panic!("a sync action answers with JSON"),
    };
    record("sync_action", &answer);
    let updated = &answer["updated_item"];
    assert_eq!(updated["id"], widget_id.as_str());
    assert_eq!(
        updated["widget"]["children"][1]["value"],
        "Refreshed for alice"
    );
    assert_eq!(updated["copy_text"], "refreshed");
    let stored = h
        .store
        .load_item(&thread_id, &widget_id, &user("alice").store())
        .await
        .expect("still there");
    assert_eq!(serde_json::to_value(&stored).expect("json"), *updated);

    // Streaming, replacing: a `thread.item.replaced` for the sender.
    let events = run(
        &h.engine,
        json!({"type": "threads.custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": "weather.refresh", "payload": {"city": "Nice"}}}}),
    )
    .await;
    assert_eq!(
        kinds(&events),
        ["stream_options", "thread.item.replaced:widget"]
    );
    assert_eq!(events[1]["item"]["widget"]["children"][0]["value"], "Nice");

    // Streaming, handing the turn to the model: it reads the note and answers.
    h.model
        .push_turn(ScriptedTurn::text("It means clear skies."));
    let events = run(
        &h.engine,
        json!({"type": "threads.custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": "weather.explain", "payload": {"city": "Nice"}}}}),
    )
    .await;
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("thread.item.done:assistant_message")
    );
    assert!(
        !events
            .iter()
            .any(|event| event["item"]["type"] == "hidden_context_item")
    );
    let conversation = h
        .model
        .requests()
        .last()
        .expect("asked")
        .conversation()
        .to_vec();
    assert!(
        conversation.last().expect("a message")["content"]
            .to_string()
            .contains("The user clicked \\\"Explain\\\" on the forecast for Nice."),
        "{conversation:#?}"
    );

    // An action type nobody handles keeps the clean 501.
    for request in ["threads.custom_action", "threads.sync_custom_action"] {
        let error = h
            .engine
            .process(
                json!({"type": request, "params": {"thread_id": thread_id, "item_id": widget_id,
                    "action": {"type": "weather.unknown"}}})
                .to_string()
                .as_bytes(),
                user("alice"),
            )
            .await
            .expect_err("not handled");
        assert_eq!(error.status(), 501, "{request}");
    }
}
