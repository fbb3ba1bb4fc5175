//! The Responses API provider: request shape, output items, function calls, reasoning, failures.

use agent_runtime::{
    AgentError, FinishReason, Message, ModelEvent, ModelRequest, ModelSettings, ToolChoice,
    ToolDefinition, Usage,
};
use serde_json::json;
use test_support::{FakeOpenAi, ScriptedTurn};

use crate::{call, collect, events, reasoning_of, responses, text_of, tool_calls_of, user_request};

#[tokio::test]
async fn streams_reasoning_text_function_calls_and_usage() {
    let server = FakeOpenAi::start().await;
    server.push_turn(
        ScriptedTurn::text("Adding both.")
            .with_reasoning("The user wants two tasks")
            .with_tool_call("call_1", "add_task", r#"{"title":"milk"}"#)
            .with_tool_call("call_2", "add_task", r#"{"title":"bread"}"#)
            .with_usage(20, 7),
    );

    let events = events(
        responses(&server).as_ref(),
        user_request("add milk and bread"),
    )
    .await;

    assert_eq!(reasoning_of(&events), "The user wants two tasks");
    assert_eq!(text_of(&events), "Adding both.");
    assert_eq!(
        tool_calls_of(&events),
        vec![
            call("call_1", "add_task", r#"{"title":"milk"}"#),
            call("call_2", "add_task", r#"{"title":"bread"}"#)
        ]
    );
    let tail = &events[events.len() - 2..];
    assert_eq!(
        tail,
        [
            ModelEvent::Usage(Usage {
                input_tokens: 20,
                output_tokens: 7,
                total_tokens: 27
            }),
            ModelEvent::Finished(FinishReason::ToolCalls),
        ]
    );
    let argument_deltas: String = events
        .iter()
        .filter_map(|event| match event {
            ModelEvent::ToolCallDelta {
                arguments_delta, ..
            } => Some(arguments_delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(argument_deltas, r#"{"title":"milk"}{"title":"bread"}"#);
}

#[tokio::test]
async fn sends_stateless_input_items_and_flat_function_tools() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("ok"));
    let request = ModelRequest {
        messages: vec![
            Message::system("Be brief."),
            Message::user("add milk"),
            Message::Assistant {
                content: Some("Sure.".into()),
                tool_calls: vec![call("c1", "add_task", "{}")],
            },
            Message::tool_result("c1", "added"),
        ],
        tools: vec![ToolDefinition {
            name: "add_task".into(),
            description: "Adds a task.".into(),
            parameters: json!({"type": "object"}),
        }],
        settings: ModelSettings {
            max_tokens: Some(50),
            tool_choice: Some(ToolChoice::Required),
            ..ModelSettings::default()
        },
    };

    events(responses(&server).as_ref(), request).await;

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/responses");
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test-key"));
    let body = &recorded.body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["store"], false);
    assert_eq!(body["max_output_tokens"], 50);
    assert_eq!(body["tool_choice"], "required");
    assert_eq!(
        body["input"],
        json!([
            {"type": "message", "role": "system", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "add milk"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure."}]},
            {"type": "function_call", "call_id": "c1", "name": "add_task", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "added"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "name": "add_task", "description": "Adds a task.", "parameters": {"type": "object"}, "strict": false}])
    );
}

#[tokio::test]
async fn error_event_and_response_failed_end_the_stream_with_model_errors() {
    let server = FakeOpenAi::start().await;
    server.push_turn(
        ScriptedTurn::text("partial").with_stream_error("rate_limit_exceeded", "slow down"),
    );
    server
        .push_turn(ScriptedTurn::text("partial").with_response_failed("server_error", "it broke"));
    let provider = responses(&server);

    let first = collect(provider.as_ref(), user_request("a"))
        .await
        .expect("stream started");
    assert_eq!(
        first.last(),
        Some(&Err(AgentError::Model {
            code: "rate_limit_exceeded".into(),
            message: "slow down".into()
        }))
    );
    let second = collect(provider.as_ref(), user_request("b"))
        .await
        .expect("stream started");
    assert_eq!(
        second.last(),
        Some(&Err(AgentError::Model {
            code: "server_error".into(),
            message: "it broke".into()
        }))
    );
    assert_eq!(server.requests().len(), 2);
}
