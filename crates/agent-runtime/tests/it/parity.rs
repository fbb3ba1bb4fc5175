//! Agents SDK parity: model settings on both wire formats, structured output, reasoning items sent
//! back within a run, and the Responses API's hosted tools.

use std::collections::BTreeMap;

use agent_runtime::{
    Agent, AgentError, HostedTool, HostedToolEvent, Message, ModelEvent, ModelRequest,
    ModelSettings, OutputSchema, ReasoningEffort, ReasoningItem, ReasoningSettings,
    ReasoningSummary, RunContext, RunEvent, RunResult, SearchKind, SearchSource, run_streamed,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use test_support::{FakeOpenAi, ScriptedHostedCall, ScriptedTurn};

use crate::{both, chat, collect, events, responses, user_request, with_patience};

fn forecast_schema() -> OutputSchema {
    OutputSchema::new(json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "celsius": {"type": "integer"},
        },
        "required": ["city", "celsius"],
        "additionalProperties": false,
    }))
    .expect("a valid schema")
}

#[derive(Debug, Deserialize, PartialEq)]
struct Forecast {
    city: String,
    celsius: i64,
}

/// Every setting this crate knows, set to something other than its default.
fn full_settings() -> ModelSettings {
    ModelSettings {
        reasoning: Some(ReasoningSettings {
            effort: Some(ReasoningEffort::High),
            summary: Some(ReasoningSummary::Detailed),
        }),
        top_p: Some(0.5),
        stop: vec!["END".to_owned()],
        seed: Some(7),
        metadata: BTreeMap::from([("team".to_owned(), "support".to_owned())]),
        store: Some(true),
        include: vec!["reasoning.encrypted_content".to_owned()],
        extra_body: Map::from_iter([
            ("service_tier".to_owned(), json!("flex")),
            // An extra field wins over the one built from the settings.
            ("top_p".to_owned(), json!(0.25)),
        ]),
        output_schema: Some(forecast_schema()),
        ..ModelSettings::default()
    }
}

fn request_with(settings: ModelSettings) -> ModelRequest {
    ModelRequest {
        settings,
        ..user_request("Weather in Oslo?")
    }
}

async fn run_to_end(agent: &Agent, input: Vec<Message>) -> (Vec<RunEvent>, Option<AgentError>) {
    let mut stream = run_streamed(agent, RunContext::default(), input);
    let mut events = Vec::new();
    while let Some(item) = with_patience(stream.next()).await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

fn result_of(events: &[RunEvent]) -> &RunResult {
    match events.last() {
        Some(RunEvent::RunFinished(result)) => result,
        other => panic!("the run did not finish: {other:?}"),
    }
}

#[tokio::test]
async fn responses_requests_carry_reasoning_sampling_schema_hosted_tools_and_extra_fields() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text(r#"{"city": "Oslo", "celsius": 4}"#));
    let mut settings = full_settings();
    settings.hosted_tools = vec![
        HostedTool::web_search().with_option("search_context_size", json!("low")),
        HostedTool::file_search(["vs_1"]),
        HostedTool::image_generation(2),
    ];
    events(responses(&server).as_ref(), request_with(settings)).await;

    let body = &server.requests()[0].body;
    assert_eq!(
        body["reasoning"],
        json!({"effort": "high", "summary": "detailed"})
    );
    assert_eq!(body["top_p"], json!(0.25));
    assert_eq!(body["service_tier"], "flex");
    assert_eq!(body["metadata"], json!({"team": "support"}));
    assert_eq!(body["store"], true);
    assert_eq!(
        body["include"],
        json!([
            "reasoning.encrypted_content",
            "web_search_call.action.sources",
            "file_search_call.results"
        ])
    );
    assert_eq!(
        body["text"],
        json!({"format": {
            "type": "json_schema",
            "name": "final_output",
            "schema": forecast_schema().schema(),
            "strict": true,
        }})
    );
    assert_eq!(
        body["tools"],
        json!([
            {"type": "web_search", "search_context_size": "low"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "image_generation", "partial_images": 2},
        ])
    );
    // The Responses API has no stop sequences, seed or Chat Completions field names.
    for absent in ["stop", "seed", "reasoning_effort", "response_format"] {
        assert!(body.get(absent).is_none(), "{absent} was sent: {body}");
    }
}

#[tokio::test]
async fn chat_requests_carry_reasoning_effort_sampling_schema_and_extra_fields() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text(r#"{"city": "Oslo", "celsius": 4}"#));
    events(chat(&server).as_ref(), request_with(full_settings())).await;

    let body = &server.requests()[0].body;
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["top_p"], json!(0.25));
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["seed"], 7);
    assert_eq!(body["metadata"], json!({"team": "support"}));
    assert_eq!(body["store"], true);
    assert_eq!(body["service_tier"], "flex");
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {
            "name": "final_output",
            "schema": forecast_schema().schema(),
            "strict": true,
        }})
    );
    for absent in ["reasoning", "include", "text", "tools"] {
        assert!(body.get(absent).is_none(), "{absent} was sent: {body}");
    }
}

#[tokio::test]
async fn responses_requests_stay_unstored_by_default() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Hi"));
    events(responses(&server).as_ref(), user_request("hello")).await;
    let body = &server.requests()[0].body;
    assert_eq!(body["store"], false);
    for absent in ["reasoning", "include", "text", "tools", "metadata", "top_p"] {
        assert!(body.get(absent).is_none(), "{absent} was sent: {body}");
    }
}

#[tokio::test]
async fn chat_completions_refuse_hosted_tools_without_sending_anything() {
    let server = FakeOpenAi::start().await;
    let request = request_with(ModelSettings {
        hosted_tools: vec![HostedTool::web_search()],
        ..ModelSettings::default()
    });
    let error = collect(chat(&server).as_ref(), request)
        .await
        .expect_err("refused");
    assert!(matches!(error, AgentError::Configuration(_)), "{error:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn structured_output_is_validated_and_read_as_the_embedders_type() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        server.push_turn(ScriptedTurn::default().with_text_chunks(&[
            r#"{"city": "#,
            r#""Oslo", "cel"#,
            r#"sius": 4}"#,
        ]));
        let agent = Agent::new("forecaster", model).with_output_schema(forecast_schema());
        let (events, error) = run_to_end(&agent, vec![Message::user("Weather in Oslo?")]).await;
        assert_eq!(error, None, "{name}");
        let result = result_of(&events);
        assert_eq!(
            result.final_output_as::<Forecast>(),
            Ok(Forecast {
                city: "Oslo".to_owned(),
                celsius: 4
            }),
            "{name}"
        );
        assert_eq!(
            result.final_output_json(),
            Ok(json!({"city": "Oslo", "celsius": 4}))
        );
    }
    let requests = server.requests();
    assert_eq!(requests[0].body["response_format"]["type"], "json_schema");
    assert_eq!(requests[1].body["text"]["format"]["type"], "json_schema");
}

#[tokio::test]
async fn an_answer_that_does_not_match_the_schema_ends_the_run_with_invalid_output() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        let agent = Agent::new("forecaster", model).with_output_schema(forecast_schema());
        server.push_turn(ScriptedTurn::text(r#"{"city": "Oslo", "celsius": "cold"}"#));
        let (events, error) = run_to_end(&agent, vec![Message::user("Weather?")]).await;
        match error {
            Some(AgentError::InvalidOutput(message)) => {
                assert!(message.contains("/celsius"), "{name}: {message}");
            }
            other => panic!("{name}: expected InvalidOutput, got {other:?}"),
        }
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, RunEvent::RunFinished(_))),
            "{name}"
        );

        server.push_turn(ScriptedTurn::text("It is cold in Oslo."));
        let (_, error) = run_to_end(&agent, vec![Message::user("Weather?")]).await;
        assert!(
            matches!(error, Some(AgentError::InvalidOutput(_))),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_typed_read_of_an_answer_of_another_shape_is_an_invalid_output_error() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text(r#"{"town": "Oslo"}"#));
    let agent = Agent::new("plain", responses(&server));
    let (events, error) = run_to_end(&agent, vec![Message::user("Weather?")]).await;
    assert_eq!(error, None);
    assert!(matches!(
        result_of(&events).final_output_as::<Forecast>(),
        Err(AgentError::InvalidOutput(_))
    ));
}

fn hosted_turn() -> ScriptedTurn {
    ScriptedTurn::text("Oslo is cold today.")
        .with_reasoning("Look it up")
        .with_hosted_call(ScriptedHostedCall::WebSearch {
            id: "ws_1".to_owned(),
            query: "oslo weather".to_owned(),
            sources: vec!["https://weather.example/oslo".to_owned()],
        })
        .with_hosted_call(ScriptedHostedCall::FileSearch {
            id: "fs_1".to_owned(),
            queries: vec!["oslo climate".to_owned()],
            results: vec![
                (
                    "file_1".to_owned(),
                    "climate.pdf".to_owned(),
                    "cold".to_owned(),
                ),
                (
                    "file_1".to_owned(),
                    "climate.pdf".to_owned(),
                    "windy".to_owned(),
                ),
            ],
        })
        .with_hosted_call(ScriptedHostedCall::ImageGeneration {
            id: "ig_1".to_owned(),
            partial_images: vec!["cGFydDA=".to_owned(), "cGFydDE=".to_owned()],
            result: Some("ZmluYWw=".to_owned()),
        })
        .with_annotation(
            json!({"type": "url_citation", "start_index": 0, "end_index": 4,
            "url": "https://weather.example/oslo", "title": "Oslo weather"}),
        )
}

fn expected_hosted_events() -> Vec<HostedToolEvent> {
    vec![
        HostedToolEvent::SearchStarted {
            call_id: "ws_1".to_owned(),
            kind: SearchKind::Web,
        },
        HostedToolEvent::SearchFinished {
            call_id: "ws_1".to_owned(),
            kind: SearchKind::Web,
            queries: vec!["oslo weather".to_owned()],
            sources: vec![SearchSource::Url {
                url: "https://weather.example/oslo".to_owned(),
            }],
            failed: false,
        },
        HostedToolEvent::SearchStarted {
            call_id: "fs_1".to_owned(),
            kind: SearchKind::File,
        },
        HostedToolEvent::SearchFinished {
            call_id: "fs_1".to_owned(),
            kind: SearchKind::File,
            queries: vec!["oslo climate".to_owned()],
            sources: vec![SearchSource::File {
                file_id: "file_1".to_owned(),
                filename: "climate.pdf".to_owned(),
            }],
            failed: false,
        },
        HostedToolEvent::ImageStarted {
            call_id: "ig_1".to_owned(),
        },
        HostedToolEvent::ImagePartial {
            call_id: "ig_1".to_owned(),
            index: 0,
            image_base64: "cGFydDA=".to_owned(),
            output_format: Some("png".to_owned()),
        },
        HostedToolEvent::ImagePartial {
            call_id: "ig_1".to_owned(),
            index: 1,
            image_base64: "cGFydDE=".to_owned(),
            output_format: Some("png".to_owned()),
        },
        HostedToolEvent::ImageFinished {
            call_id: "ig_1".to_owned(),
            image_base64: Some("ZmluYWw=".to_owned()),
            output_format: Some("png".to_owned()),
        },
    ]
}

#[tokio::test]
async fn hosted_tool_calls_stream_as_normalized_events() {
    let server = FakeOpenAi::start().await;
    server.push_turn(hosted_turn());
    let events = events(responses(&server).as_ref(), user_request("Weather?")).await;
    let hosted: Vec<HostedToolEvent> = events
        .iter()
        .filter_map(|event| match event {
            ModelEvent::HostedTool(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(hosted, expected_hosted_events());
    // The reasoning item comes before the hosted calls, as in the stream.
    let first_hosted = events
        .iter()
        .position(|event| matches!(event, ModelEvent::HostedTool(_)))
        .expect("hosted events");
    assert!(matches!(
        &events[first_hosted - 1],
        ModelEvent::ReasoningItem(ReasoningItem { id, .. }) if id == "rs_resp_1"
    ));
}

#[tokio::test]
async fn a_run_reports_hosted_tool_events_after_closing_the_reasoning() {
    let server = FakeOpenAi::start().await;
    server.push_turn(hosted_turn());
    let agent = Agent::new("researcher", responses(&server))
        .with_hosted_tool(HostedTool::web_search())
        .with_hosted_tool(HostedTool::file_search(["vs_1"]))
        .with_hosted_tool(HostedTool::image_generation(2));
    let (events, error) = run_to_end(&agent, vec![Message::user("Weather?")]).await;
    assert_eq!(error, None);
    let hosted: Vec<HostedToolEvent> = events
        .iter()
        .filter_map(|event| match event {
            RunEvent::HostedTool(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(hosted, expected_hosted_events());
    let reasoning_done = events
        .iter()
        .position(|event| matches!(event, RunEvent::ReasoningDone { .. }))
        .expect("reasoning done");
    let first_hosted = events
        .iter()
        .position(|event| matches!(event, RunEvent::HostedTool(_)))
        .expect("hosted events");
    assert!(reasoning_done < first_hosted, "{events:?}");
    assert_eq!(
        server.requests()[0].body["tools"][2],
        json!({"type": "image_generation", "partial_images": 2})
    );
}

#[tokio::test]
async fn a_failed_image_generation_finishes_without_an_image() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Sorry.").with_hosted_call(
        ScriptedHostedCall::ImageGeneration {
            id: "ig_9".to_owned(),
            partial_images: Vec::new(),
            result: None,
        },
    ));
    let events = events(responses(&server).as_ref(), user_request("Draw")).await;
    let hosted: Vec<&ModelEvent> = events
        .iter()
        .filter(|event| matches!(event, ModelEvent::HostedTool(_)))
        .collect();
    assert_eq!(
        hosted,
        [
            &ModelEvent::HostedTool(HostedToolEvent::ImageStarted {
                call_id: "ig_9".to_owned()
            }),
            &ModelEvent::HostedTool(HostedToolEvent::ImageFinished {
                call_id: "ig_9".to_owned(),
                image_base64: None,
                output_format: None,
            }),
        ]
    );
}

/// A reasoning turn that calls a tool, then an answer.
fn push_reasoning_then_answer(server: &FakeOpenAi) {
    server.push_turn(
        ScriptedTurn::tool_call("call_1", "lookup", r#"{"q":"oslo"}"#)
            .with_reasoning("I should look it up")
            .with_encrypted_reasoning("gAAAA-opaque"),
    );
    server.push_turn(ScriptedTurn::text("Cold."));
}

fn lookup_agent(model: std::sync::Arc<dyn agent_runtime::ModelProvider>) -> Agent {
    let tool = agent_runtime::FunctionTool::new(
        "lookup",
        "Looks things up.",
        json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        |_ctx, _arguments: Value| async { Ok(agent_runtime::ToolOutput::text("4 degrees")) },
    )
    .into_dyn();
    Agent::new("researcher", model)
        .with_tool(tool)
        .with_settings(ModelSettings {
            reasoning: Some(ReasoningSettings {
                effort: Some(ReasoningEffort::Low),
                summary: Some(ReasoningSummary::Auto),
            }),
            include: vec!["reasoning.encrypted_content".to_owned()],
            ..ModelSettings::default()
        })
}

#[tokio::test]
async fn reasoning_items_go_back_to_the_responses_api_within_a_run() {
    let server = FakeOpenAi::start().await;
    push_reasoning_then_answer(&server);
    let agent = lookup_agent(responses(&server));
    let (events, error) = run_to_end(&agent, vec![Message::user("Weather?")]).await;
    assert_eq!(error, None);

    let requests = server.requests();
    assert_eq!(
        requests[0].body["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    let input = requests[1].conversation();
    assert_eq!(
        input[1],
        json!({"type": "reasoning", "id": "rs_resp_1",
            "summary": [{"type": "summary_text", "text": "I should look it up"}],
            "encrypted_content": "gAAAA-opaque"})
    );
    assert_eq!(input[2]["type"], "function_call");
    assert_eq!(input[3]["type"], "function_call_output");

    // The embedder gets the item too, to replay it on the thread's next turn if it keeps it.
    let result = result_of(&events);
    assert_eq!(
        result.new_messages[0],
        Message::Reasoning(ReasoningItem {
            id: "rs_resp_1".to_owned(),
            summary: vec!["I should look it up".to_owned()],
            encrypted_content: Some("gAAAA-opaque".to_owned()),
        })
    );
    // Sent as input on a later turn, it goes back unchanged.
    server.push_turn(ScriptedTurn::text("Still cold."));
    let mut history = vec![Message::user("Weather?")];
    history.extend(result.new_messages.iter().cloned());
    history.push(Message::user("And now?"));
    let (_, error) = run_to_end(&agent, history).await;
    assert_eq!(error, None);
    assert_eq!(server.requests()[2].conversation()[1], input[1]);
}

#[tokio::test]
async fn chat_completions_leave_reasoning_items_out_and_send_reasoning_effort() {
    let server = FakeOpenAi::start().await;
    push_reasoning_then_answer(&server);
    let agent = lookup_agent(chat(&server));
    let history = vec![
        Message::user("Earlier?"),
        Message::Reasoning(ReasoningItem {
            id: "rs_old".to_owned(),
            summary: Vec::new(),
            encrypted_content: None,
        }),
        Message::assistant("Earlier answer."),
        Message::user("Weather?"),
    ];
    let (_, error) = run_to_end(&agent, history).await;
    assert_eq!(error, None);
    let requests = server.requests();
    assert_eq!(requests[0].body["reasoning_effort"], "low");
    for request in &requests {
        assert!(
            request
                .conversation()
                .iter()
                .all(|message| message.get("type") != Some(&json!("reasoning"))),
            "{:?}",
            request.body
        );
    }
    assert_eq!(requests[0].conversation().len(), 3);
}
