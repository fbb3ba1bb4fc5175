//! The Responses API's hosted tools and reasoning summaries through the agent bridge: a thought
//! workflow from the reasoning summary, hosted searches as search tasks with their sources,
//! provider citations as annotations, and generated images as `generated_image` items with their
//! partial images as progress, stored and sent back to the model on the next turn.

use std::sync::Arc;

use agent_runtime::{
    Agent, HostedTool, ModelSettings, OpenAiConfig, OpenAiResponsesProvider, ReasoningEffort,
    ReasoningSettings, ReasoningSummary, RetryConfig,
};
use chatkit_engine::{AgentServer, AgentServerConfig, Engine, EngineConfig};
use chatkit_store::{MemoryStore, Store};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedHostedCall, ScriptedTurn};

use crate::support::*;
use crate::tools::run;

struct Harness {
    engine: Engine,
    model: FakeOpenAi,
}

async fn harness() -> Harness {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiResponsesProvider::new(config).expect("provider");
    let agent = Agent::new("researcher", Arc::new(provider))
        .with_settings(ModelSettings {
            reasoning: Some(ReasoningSettings {
                effort: Some(ReasoningEffort::Medium),
                summary: Some(ReasoningSummary::Auto),
            }),
            ..ModelSettings::default()
        })
        .with_hosted_tool(HostedTool::web_search())
        .with_hosted_tool(HostedTool::file_search(["vs_docs"]))
        .with_hosted_tool(HostedTool::image_generation(2));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(agent, AgentServerConfig::default());
    Harness {
        engine: Engine::new(store, Arc::new(server), EngineConfig::default()),
        model,
    }
}

fn thread_of(events: &[Value]) -> String {
    events[0]["thread"]["id"]
        .as_str()
        .expect("thread.created first")
        .to_owned()
}

async fn stored_items(engine: &Engine, thread_id: &str) -> Vec<Value> {
    let page = send(
        engine,
        json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}),
    )
    .await;
    page[0]["data"].as_array().expect("items").clone()
}

fn done_items<'a>(events: &'a [Value], item_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["type"] == "thread.item.done" && event["item"]["type"] == item_type)
        .map(|event| &event["item"])
        .collect()
}

#[tokio::test]
async fn reasoning_and_hosted_searches_show_as_thought_and_search_tasks_with_sources() {
    let h = harness().await;
    h.model.push_turn(
        ScriptedTurn::text("Oslo is cold today.")
            .with_reasoning("Check the forecast first")
            .with_hosted_call(ScriptedHostedCall::WebSearch {
                id: "ws_1".to_owned(),
                query: "oslo weather".to_owned(),
                sources: vec!["https://weather.example/oslo".to_owned()],
            })
            .with_hosted_call(ScriptedHostedCall::FileSearch {
                id: "fs_1".to_owned(),
                queries: vec!["oslo climate".to_owned()],
                results: vec![(
                    "file_1".to_owned(),
                    "climate.pdf".to_owned(),
                    "cold winters".to_owned(),
                )],
            })
            .with_annotation(
                json!({"type": "url_citation", "start_index": 0, "end_index": 4,
                "url": "https://weather.example/oslo", "title": "Oslo weather"}),
            ),
    );
    let events = run(&h.engine, create("Weather in Oslo?")).await;
    assert!(
        !events.iter().any(|event| event["type"] == "error"),
        "{events:?}"
    );

    let request = &h.model.requests()[0].body;
    assert_eq!(
        request["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(request["tools"][0], json!({"type": "web_search"}));

    let workflows = done_items(&events, "workflow");
    assert_eq!(workflows.len(), 2, "{workflows:?}");
    let thought = &workflows[0]["workflow"];
    assert_eq!(thought["type"], "reasoning");
    assert_eq!(thought["tasks"][0]["type"], "thought");
    assert_eq!(thought["tasks"][0]["content"], "Check the forecast first");

    // The searches: running first, then with their queries and sources.
    let added: Vec<&Value> = events
        .iter()
        .filter(|event| event["update"]["type"] == "workflow.task.added")
        .map(|event| &event["update"]["task"])
        .filter(|task| task["type"] != "thought")
        .collect();
    assert_eq!(added[0]["type"], "web_search");
    assert_eq!(added[0]["status_indicator"], "loading");
    assert_eq!(added[1]["type"], "file");
    let searches = &workflows[1]["workflow"];
    assert_eq!(
        searches["tasks"][0],
        json!({"type": "web_search", "status_indicator": "complete", "title": "Searched the web",
            "title_query": "oslo weather", "queries": ["oslo weather"],
            "sources": [{"type": "url", "title": "https://weather.example/oslo",
                "url": "https://weather.example/oslo"}]})
    );
    assert_eq!(
        searches["tasks"][1],
        json!({"type": "file", "status_indicator": "complete", "title": "Searched files",
            "sources": [{"type": "file", "title": "climate.pdf", "filename": "climate.pdf"}]})
    );

    // The provider's citation becomes an annotation where it placed it.
    let message = done_items(&events, "assistant_message")[0];
    assert_eq!(message["content"][0]["text"], "Oslo is cold today.");
    let annotation = &message["content"][0]["annotations"][0];
    assert_eq!(annotation["source"]["url"], "https://weather.example/oslo");
    assert_eq!(annotation["index"], 4);

    let stored = stored_items(&h.engine, &thread_of(&events)).await;
    let types: Vec<&str> = stored
        .iter()
        .map(|item| item["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        ["user_message", "workflow", "workflow", "assistant_message"]
    );
}

#[tokio::test]
async fn a_generated_image_streams_its_partials_as_progress_and_is_stored_for_the_next_turn() {
    let h = harness().await;
    h.model
        .push_turn(ScriptedTurn::text("Here is your cat.").with_hosted_call(
            ScriptedHostedCall::ImageGeneration {
                id: "ig_1".to_owned(),
                partial_images: vec!["cGFydDA=".to_owned(), "cGFydDE=".to_owned()],
                result: Some("ZmluYWw=".to_owned()),
            },
        ));
    let events = run(&h.engine, create("Draw a cat")).await;
    let kinds = kinds(&events);
    let image_kinds: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|kind| kind.contains("generated_image"))
        .collect();
    assert_eq!(
        image_kinds,
        [
            "thread.item.added:generated_image",
            "thread.item.updated:generated_image.updated",
            "thread.item.updated:generated_image.updated",
            "thread.item.done:generated_image",
        ]
    );
    let added = events
        .iter()
        .find(|event| {
            event["type"] == "thread.item.added" && event["item"]["type"] == "generated_image"
        })
        .expect("added");
    assert!(added["item"].get("image").is_none(), "{added}");
    let updates: Vec<&Value> = events
        .iter()
        .filter(|event| event["update"]["type"] == "generated_image.updated")
        .map(|event| &event["update"])
        .collect();
    assert_eq!(
        updates[0],
        &json!({"type": "generated_image.updated", "progress": 0.0,
            "image": {"id": "ig_1", "url": "data:image/png;base64,cGFydDA="}})
    );
    assert_eq!(updates[1]["progress"], 0.5);
    let image = done_items(&events, "generated_image")[0];
    assert_eq!(
        image["image"],
        json!({"id": "ig_1", "url": "data:image/png;base64,ZmluYWw="})
    );
    // The image comes before the answer, as in the model's output.
    let image_done = kinds
        .iter()
        .position(|kind| kind == "thread.item.done:generated_image")
        .expect("image done");
    let message_added = kinds
        .iter()
        .position(|kind| kind == "thread.item.added:assistant_message")
        .expect("message added");
    assert!(image_done < message_added, "{kinds:?}");

    let thread_id = thread_of(&events);
    let stored = stored_items(&h.engine, &thread_id).await;
    assert!(
        stored.iter().any(|item| item["type"] == "generated_image"
            && item["image"]["url"] == "data:image/png;base64,ZmluYWw="),
        "{stored:?}"
    );

    // On the next turn the model sees the image it made, as the reference's converter sends it.
    h.model.push_turn(ScriptedTurn::text("It is orange."));
    run(&h.engine, add_message(&thread_id, "What colour is it?")).await;
    let input = h.model.requests()[1].conversation().to_vec();
    let image_input = input
        .iter()
        .flat_map(|message| message["content"].as_array().cloned().unwrap_or_default())
        .find(|part| part["type"] == "input_image")
        .expect("the generated image goes back to the model");
    assert_eq!(image_input["image_url"], "data:image/png;base64,ZmluYWw=");
}

#[tokio::test]
async fn a_failed_image_generation_withdraws_its_item() {
    let h = harness().await;
    h.model.push_turn(
        ScriptedTurn::text("I could not draw that.").with_hosted_call(
            ScriptedHostedCall::ImageGeneration {
                id: "ig_2".to_owned(),
                partial_images: vec!["cGFydDA=".to_owned()],
                result: None,
            },
        ),
    );
    let events = run(&h.engine, create("Draw something odd")).await;
    let added = events
        .iter()
        .find(|event| {
            event["type"] == "thread.item.added" && event["item"]["type"] == "generated_image"
        })
        .expect("added");
    let item_id = added["item"]["id"].as_str().expect("id");
    assert!(
        events
            .iter()
            .any(|event| event["type"] == "thread.item.removed" && event["item_id"] == item_id),
        "{events:?}"
    );
    let stored = stored_items(&h.engine, &thread_of(&events)).await;
    assert!(
        !stored.iter().any(|item| item["type"] == "generated_image"),
        "{stored:?}"
    );
}
