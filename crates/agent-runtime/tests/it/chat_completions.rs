//! The Chat Completions provider: wire shape of requests, and every quirk of compatible servers.

use agent_runtime::{
    FinishReason, Message, ModelEvent, ModelRequest, ModelSettings, ToolChoice, ToolDefinition,
    Usage, UserContent,
};
use serde_json::json;
use test_support::{ChatQuirks, FakeOpenAi, ReasoningField, ScriptedTurn};

use crate::{call, chat, collect, events, reasoning_of, text_of, tool_calls_of, user_request};

#[tokio::test]
async fn streams_text_and_usage_and_sends_a_correct_request() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Hello there, friend").with_usage(12, 3));
    let provider = chat(&server);

    let events = events(provider.as_ref(), user_request("hi")).await;

    assert_eq!(text_of(&events), "Hello there, friend");
    let deltas = events
        .iter()
        .filter(|event| matches!(event, ModelEvent::TextDelta(_)))
        .count();
    assert_eq!(deltas, 3, "one event per streamed chunk");
    let tail = &events[events.len() - 2..];
    assert_eq!(
        tail,
        [
            ModelEvent::Usage(Usage {
                input_tokens: 12,
                output_tokens: 3,
                total_tokens: 15
            }),
            ModelEvent::Finished(FinishReason::Stop),
        ]
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(request.header("x-gateway-route"), Some("blue"));
    assert_eq!(request.body["model"], "fake-model");
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["stream_options"]["include_usage"], true);
    assert_eq!(
        request.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert!(
        request.body.get("tools").is_none(),
        "no tools, no tool fields"
    );
}

#[tokio::test]
async fn converts_every_message_kind_settings_and_tools_to_the_wire_format() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("ok"));
    let provider = chat(&server);
    let request = ModelRequest {
        messages: vec![
            Message::system("Be brief."),
            Message::User {
                content: vec![
                    UserContent::Text {
                        text: "What is this?".into(),
                    },
                    UserContent::Image {
                        url: "https://example.com/a.png".into(),
                        detail: Some("low".into()),
                    },
                ],
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![call("c1", "look", r#"{"q":1}"#)],
            },
            Message::tool_result("c1", "a cat"),
        ],
        tools: vec![ToolDefinition {
            name: "look".into(),
            description: "Looks.".into(),
            parameters: json!({"type": "object"}),
        }],
        settings: ModelSettings {
            model: Some("picked-model".into()),
            temperature: Some(0.5),
            max_tokens: Some(100),
            tool_choice: Some(ToolChoice::Named("look".into())),
            parallel_tool_calls: Some(false),
            ..ModelSettings::default()
        },
    };

    events(provider.as_ref(), request).await;

    let body = &server.requests()[0].body;
    // A per-request model replaces the provider's configured one.
    assert_eq!(body["model"], "picked-model");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "look", "description": "Looks.", "parameters": {"type": "object"}}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "look"}})
    );
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_completion_tokens"], 100);
}

fn two_calls() -> ScriptedTurn {
    ScriptedTurn::default()
        .with_tool_call(
            "call_a",
            "add_task",
            r#"{"title":"buy milk","due":"today"}"#,
        )
        .with_tool_call("call_b", "list_tasks", r#"{"filter":{"done":false}}"#)
}

fn expected_two_calls() -> Vec<agent_runtime::ToolCall> {
    vec![
        call(
            "call_a",
            "add_task",
            r#"{"title":"buy milk","due":"today"}"#,
        ),
        call("call_b", "list_tasks", r#"{"filter":{"done":false}}"#),
    ]
}

/// Runs the two-call script under `quirks` and checks the calls come out whole and in order.
async fn assert_two_calls_under(quirks: ChatQuirks) -> Vec<ModelEvent> {
    let server = FakeOpenAi::start().await;
    server.push_turn(two_calls().with_quirks(quirks));
    let events = events(chat(&server).as_ref(), user_request("tasks")).await;
    assert_eq!(
        tool_calls_of(&events),
        expected_two_calls(),
        "quirks: {quirks:?}"
    );
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Finished(FinishReason::ToolCalls)),
        "quirks: {quirks:?}"
    );
    events
}

#[tokio::test]
async fn assembles_several_streamed_tool_calls_by_index() {
    let events = assert_two_calls_under(ChatQuirks::default()).await;
    let deltas = events
        .iter()
        .filter(|event| matches!(event, ModelEvent::ToolCallDelta { .. }))
        .count();
    assert!(
        deltas >= 4,
        "arguments arrive in pieces, got {deltas} deltas"
    );
}

#[tokio::test]
async fn quirk_whole_tool_calls_in_one_chunk() {
    assert_two_calls_under(ChatQuirks {
        whole_tool_calls: true,
        ..ChatQuirks::default()
    })
    .await;
}

#[tokio::test]
async fn quirk_tool_call_deltas_without_index() {
    assert_two_calls_under(ChatQuirks {
        omit_tool_call_index: true,
        ..ChatQuirks::default()
    })
    .await;
}

#[tokio::test]
async fn quirk_whole_tool_calls_without_index() {
    assert_two_calls_under(ChatQuirks {
        whole_tool_calls: true,
        omit_tool_call_index: true,
        ..ChatQuirks::default()
    })
    .await;
}

#[tokio::test]
async fn quirk_finish_reason_stop_with_tool_calls() {
    assert_two_calls_under(ChatQuirks {
        stop_with_tool_calls: true,
        ..ChatQuirks::default()
    })
    .await;
}

#[tokio::test]
async fn quirk_first_chunk_with_empty_choices_and_finish_chunk_without_delta() {
    let server = FakeOpenAi::start().await;
    let quirks = ChatQuirks {
        empty_choices_first: true,
        finish_without_delta: true,
        ..ChatQuirks::default()
    };
    server.push_turn(ScriptedTurn::text("still fine").with_quirks(quirks));
    let events = events(chat(&server).as_ref(), user_request("hi")).await;
    assert_eq!(text_of(&events), "still fine");
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Finished(FinishReason::Stop))
    );
}

#[tokio::test]
async fn quirk_reasoning_in_either_field() {
    for field in [ReasoningField::ReasoningContent, ReasoningField::Reasoning] {
        let server = FakeOpenAi::start().await;
        let quirks = ChatQuirks {
            reasoning_field: field,
            ..ChatQuirks::default()
        };
        server.push_turn(
            ScriptedTurn::text("42")
                .with_reasoning("let me think")
                .with_quirks(quirks),
        );
        let events = events(chat(&server).as_ref(), user_request("q")).await;
        assert_eq!(reasoning_of(&events), "let me think", "field {field:?}");
        let first_text = events
            .iter()
            .position(|event| matches!(event, ModelEvent::TextDelta(_)));
        let last_reasoning = events
            .iter()
            .rposition(|event| matches!(event, ModelEvent::ReasoningDelta(_)));
        assert!(
            last_reasoning < first_text,
            "reasoning streams before the answer"
        );
    }
}

#[tokio::test]
async fn quirk_missing_done_marker_after_finish_is_a_normal_end() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("no done").with_quirks(ChatQuirks {
        omit_done: true,
        ..ChatQuirks::default()
    }));
    let events = events(chat(&server).as_ref(), user_request("hi")).await;
    assert_eq!(text_of(&events), "no done");
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Finished(FinishReason::Stop))
    );
}

#[tokio::test]
async fn an_error_chunk_inside_the_stream_ends_it_with_a_model_error() {
    let server = FakeOpenAi::start().await;
    server.push_turn(
        ScriptedTurn::text("partial").with_stream_error("server_error", "the model crashed"),
    );
    let items = collect(chat(&server).as_ref(), user_request("hi"))
        .await
        .expect("stream started");
    assert_eq!(
        items.last(),
        Some(&Err(agent_runtime::AgentError::Model {
            code: "server_error".into(),
            message: "the model crashed".into()
        }))
    );
    assert_eq!(
        server.requests().len(),
        1,
        "errors after the first token are never retried"
    );
}
