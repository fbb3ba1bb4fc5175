//! The retrieval search tool through the agent bridge: a search task with the query and its
//! sources, citation numbers that run on across two searches, and `[n]` markers that become
//! annotations where they stand, stored and replayed by `items.list`.

use std::sync::Arc;

use agent_runtime::{Agent, OpenAiChatProvider, OpenAiConfig, RetryConfig};
use chatkit_engine::{AgentServer, AgentServerConfig, ChatKitSearchTool, Engine, EngineConfig};
use chatkit_protocol::citations::MarkerMode;
use chatkit_store::{MemoryStore, Store};
use retrieval::{
    MemoryRetriever, Passage, PassageSource, SearchTool, SearchToolConfig, SourceLocation,
    Visibility,
};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};

use crate::support::*;
use crate::tools::run;

fn passage(id: &str, title: &str, text: &str, location: SourceLocation) -> Passage {
    Passage {
        id: id.to_owned(),
        text: text.to_owned(),
        score: 0.0,
        source: PassageSource {
            title: title.to_owned(),
            location,
            section: None,
            anchor: None,
            metadata: Default::default(),
        },
        visibility: Visibility::Public,
    }
}

fn corpus() -> MemoryRetriever {
    MemoryRetriever::new(vec![
        passage(
            "jwks",
            "Authentication",
            "Set jwks_url to the JWKS endpoint of your identity provider.",
            SourceLocation::Url("https://docs.example.test/auth#jwks".into()),
        ),
        passage(
            "limits",
            "Rate limits",
            "Each user may send sixty requests a minute.",
            SourceLocation::File("docs/limits.md".into()),
        ),
    ])
}

struct Harness {
    engine: Engine,
    model: FakeOpenAi,
}

async fn harness(markers: MarkerMode) -> Harness {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiChatProvider::new(config).expect("provider");
    let search = ChatKitSearchTool::new(SearchTool::new(
        Arc::new(corpus()),
        SearchToolConfig::default(),
    ));
    let agent = Agent::new("assistant", Arc::new(provider)).with_tool(Arc::new(search));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(
        agent,
        AgentServerConfig {
            citation_markers: markers,
            ..AgentServerConfig::default()
        },
    );
    Harness {
        engine: Engine::new(store, Arc::new(server), EngineConfig::default()),
        model,
    }
}

fn script_two_searches(model: &FakeOpenAi, answer: &str) {
    script_searches(model);
    model.push_turn(ScriptedTurn::text(answer));
}

/// A search for `jwks`, then one for `rate limits` (numbered on: [2]).
fn script_searches(model: &FakeOpenAi) {
    model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "search_documentation",
        r#"{"query": "jwks"}"#,
    ));
    model.push_turn(ScriptedTurn::tool_call(
        "call_2",
        "search_documentation",
        r#"{"query": "rate limits"}"#,
    ));
}

fn updates<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["update"]["type"] == kind)
        .collect()
}

#[tokio::test]
async fn two_searches_number_on_and_markers_become_annotations_where_they_stand() {
    let h = harness(MarkerMode::Strip).await;
    script_two_searches(&h.model, "Set `jwks_url` [1]. Sixty requests a minute [2].");
    let events = run(
        &h.engine,
        create("How do I configure JWKS, and what are the limits?"),
    )
    .await;

    // The model read the second search's passage as [2], not as a second [1].
    let requests = h.model.requests();
    let last = requests.last().expect("three model calls");
    let tool_outputs: Vec<String> = last
        .conversation()
        .iter()
        .filter(|message| message["role"] == "tool")
        .map(|message| message["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(tool_outputs.len(), 2, "{tool_outputs:?}");
    assert!(
        tool_outputs[0].contains("[1] Authentication"),
        "{}",
        tool_outputs[0]
    );
    assert!(
        tool_outputs[1].contains("[2] Rate limits"),
        "{}",
        tool_outputs[1]
    );
    assert!(!tool_outputs[1].contains("\n[1] "), "{}", tool_outputs[1]);

    // Each search shows a task with its query while it runs, and its sources when done: a web
    // search task for URL sources, a file task for files.
    let added: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["type"] == "thread.item.added"
                && event["item"]["type"] == "workflow"
                // The automatic trace opened when the first call started gives way to the
                // search's own workflow (see the tools tests).
                && !events.iter().any(|removed| {
                    removed["type"] == "thread.item.removed"
                        && removed["item_id"] == event["item"]["id"]
                })
        })
        .collect();
    assert_eq!(added.len(), 1, "one workflow holds both searches");
    assert_eq!(
        added[0]["item"]["workflow"]["tasks"],
        json!([{"type": "web_search", "status_indicator": "loading", "title_query": "jwks",
            "queries": ["jwks"], "sources": []}])
    );
    let task_updates = updates(&events, "workflow.task.updated");
    assert_eq!(
        task_updates[0]["update"],
        json!({"type": "workflow.task.updated", "task_index": 0, "task": {
            "type": "web_search", "status_indicator": "complete", "title_query": "jwks",
            "queries": ["jwks"], "sources": [{"type": "url", "title": "Authentication",
                "url": "https://docs.example.test/auth#jwks"}]}})
    );
    // (The first task added is the automatic trace's, withdrawn.)
    let task_added = updates(&events, "workflow.task.added");
    let second = task_added.last().expect("the second search's task");
    assert_eq!(second["item_id"], added[0]["item"]["id"]);
    assert_eq!(second["update"]["task_index"], 1);
    assert_eq!(second["update"]["task"]["title_query"], "rate limits");
    assert_eq!(
        task_updates[1]["update"],
        json!({"type": "workflow.task.updated", "task_index": 1, "task": {
            "type": "file", "status_indicator": "complete",
            "title": "Searched for “rate limits”",
            "sources": [{"type": "file", "title": "Rate limits", "filename": "docs/limits.md"}]}})
    );

    // The markers are stripped and each cited source is annotated right after its statement.
    let expected_annotations = json!([
        {"type": "annotation", "index": 14, "source": {"type": "url", "title": "Authentication",
            "url": "https://docs.example.test/auth#jwks"}},
        {"type": "annotation", "index": 39, "source": {"type": "file", "title": "Rate limits",
            "filename": "docs/limits.md"}},
    ]);
    let annotation_events = updates(&events, "assistant_message.content_part.annotation_added");
    let streamed: Vec<Value> = annotation_events
        .iter()
        .map(|event| event["update"]["annotation"].clone())
        .collect();
    assert_eq!(Value::Array(streamed), expected_annotations);
    let answer = events.last().expect("an answer");
    assert_eq!(answer["type"], "thread.item.done");
    let content = &answer["item"]["content"][0];
    assert_eq!(content["text"], "Set `jwks_url`. Sixty requests a minute.");
    assert_eq!(content["annotations"], expected_annotations);

    // Stored as sent: items.list gives the same content back.
    let thread = events[0]["thread"]["id"].as_str().expect("thread id");
    let page = match h
        .engine
        .process(
            json!({"type": "items.list", "params": {"thread_id": thread}})
                .to_string()
                .as_bytes(),
            user("alice"),
        )
        .await
        .expect("lists")
    {
        chatkit_engine::Response::Json(bytes) => {
            serde_json::from_slice::<Value>(&bytes).expect("json")
        }
        chatkit_engine::Response::Stream(_) => panic!("expected JSON"),
    };
    let stored = page["data"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["type"] == "assistant_message")
        .expect("the answer is stored")
        .clone();
    assert_eq!(stored["content"][0], *content);
}

#[tokio::test]
async fn kept_markers_stay_in_the_text_and_the_annotation_follows_them() {
    let h = harness(MarkerMode::Keep).await;
    script_two_searches(&h.model, "Set `jwks_url` [1]. Limits [2][9].");
    let events = run(&h.engine, create("Configure JWKS?")).await;
    let content = &events.last().expect("an answer")["item"]["content"][0];
    assert_eq!(content["text"], "Set `jwks_url` [1]. Limits [2][9].");
    let indices: Vec<&Value> = content["annotations"]
        .as_array()
        .expect("annotations")
        .iter()
        .map(|annotation| &annotation["index"])
        .collect();
    // [9] names no passage: it stays as text and cites nothing.
    assert_eq!(indices, [&json!(18), &json!(30)]);
}

#[tokio::test]
async fn responses_api_citations_become_annotations_and_are_stored_as_sent() {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = agent_runtime::OpenAiResponsesProvider::new(config).expect("provider");
    let agent = Agent::new("assistant", Arc::new(provider));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(agent, AgentServerConfig::default());
    let engine = Engine::new(store, Arc::new(server), EngineConfig::default());
    let text = "Rust 1.85 is out. See the notes file.";
    model.push_turn(
        ScriptedTurn::text(text)
            .with_annotation(
                json!({"type": "url_citation", "start_index": 0, "end_index": 16,
                "url": "https://blog.rust-lang.test/1.85", "title": "Rust 1.85"}),
            )
            .with_annotation(json!({"type": "file_citation", "index": 36,
                "file_id": "file-abc", "filename": "notes.md"}))
            // Nothing a user can open: skipped.
            .with_annotation(json!({"type": "file_path", "index": 3, "file_id": "file-x"})),
    );
    let events = run(&engine, create("What is new in Rust?")).await;
    let expected = json!([
        {"type": "annotation", "index": 16, "source": {"type": "url", "title": "Rust 1.85",
            "url": "https://blog.rust-lang.test/1.85"}},
        {"type": "annotation", "index": 36, "source": {"type": "file", "title": "notes.md",
            "filename": "notes.md"}},
    ]);
    let streamed: Vec<Value> = updates(&events, "assistant_message.content_part.annotation_added")
        .iter()
        .map(|event| event["update"]["annotation"].clone())
        .collect();
    assert_eq!(Value::Array(streamed), expected);
    let content = &events.last().expect("an answer")["item"]["content"][0];
    assert_eq!(content["text"], text);
    assert_eq!(content["annotations"], expected);

    let thread = events[0]["thread"]["id"].as_str().expect("thread id");
    let request = json!({"type": "threads.get_by_id", "params": {"thread_id": thread}});
    let got = match engine
        .process(request.to_string().as_bytes(), user("alice"))
        .await
        .expect("reads")
    {
        chatkit_engine::Response::Json(bytes) => {
            serde_json::from_slice::<Value>(&bytes).expect("json")
        }
        chatkit_engine::Response::Stream(_) => panic!("expected JSON"),
    };
    let stored = got["items"]["data"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["type"] == "assistant_message")
        .expect("the answer is stored")
        .clone();
    assert_eq!(stored["content"][0], *content);
}

/// The text deltas of a stream and, for each annotation sent, how much text had been sent
/// before it.
fn streamed_text_and_annotation_positions(events: &[Value]) -> (String, Vec<(i64, usize)>) {
    let mut text = String::new();
    let mut positions = Vec::new();
    for event in events {
        match event["update"]["type"].as_str() {
            Some("assistant_message.content_part.text_delta") => {
                text.push_str(event["update"]["delta"].as_str().expect("a delta"));
            }
            Some("assistant_message.content_part.annotation_added") => positions.push((
                event["update"]["annotation"]["index"]
                    .as_i64()
                    .expect("an index"),
                text.chars().count(),
            )),
            _ => {}
        }
    }
    (text, positions)
}

#[tokio::test]
async fn stripped_markers_never_reach_a_delta_and_each_annotation_streams_once_its_text_is_sent() {
    let h = harness(MarkerMode::Strip).await;
    script_searches(&h.model);
    // The model splits its markers across chunks as tokenizers do; a link and an unknown number
    // look like markers until their next character arrives.
    h.model
        .push_turn(ScriptedTurn::default().with_text_chunks(&[
            "Set `jwks_url` ",
            "[",
            "1",
            "]. See [the",
            " guide](https://x.test) and [2",
            "](https://y.test). Sixty ",
            "requests a minute [",
            "2, ",
            "1",
            "]",
            " or more [9]",
            ".",
        ]));
    let events = run(&h.engine, create("How do I configure JWKS?")).await;

    let final_text = "Set `jwks_url`. See [the guide](https://x.test) and [2](https://y.test). \
                      Sixty requests a minute or more [9].";
    let content = &events.last().expect("an answer")["item"]["content"][0];
    assert_eq!(content["text"], final_text);
    let (streamed, positions) = streamed_text_and_annotation_positions(&events);
    assert_eq!(streamed, final_text, "the deltas add up to the final text");
    let deltas = updates(&events, "assistant_message.content_part.text_delta");
    assert!(deltas.len() > 4, "the text still streams: {deltas:?}");

    // [1] after "Set `jwks_url`", then [2, 1] after "a minute": sent as soon as the character
    // after each marker showed it was one, before the rest of the text.
    let first = "Set `jwks_url`".chars().count() as i64;
    let second = "Set `jwks_url`. See [the guide](https://x.test) and [2](https://y.test). Sixty \
                  requests a minute"
        .chars()
        .count() as i64;
    let indices: Vec<i64> = positions.iter().map(|(index, _)| *index).collect();
    assert_eq!(indices, [first, second, second]);
    for (index, sent) in &positions {
        assert!(
            *index as usize <= *sent,
            "annotation at {index} after {sent} chars"
        );
        assert!(
            *sent < final_text.chars().count(),
            "streamed, not only at the end"
        );
    }
    let sources: Vec<&Value> = updates(&events, "assistant_message.content_part.annotation_added")
        .iter()
        .map(|event| &event["update"]["annotation"]["source"]["title"])
        .collect();
    assert_eq!(
        sources,
        [
            &json!("Authentication"),
            &json!("Rate limits"),
            &json!("Authentication")
        ]
    );
    // The finished part carries exactly what was streamed, in order.
    let streamed_annotations: Vec<Value> =
        updates(&events, "assistant_message.content_part.annotation_added")
            .iter()
            .map(|event| event["update"]["annotation"].clone())
            .collect();
    assert_eq!(content["annotations"], Value::Array(streamed_annotations));
}
