//! Behaviour shared by both providers: retries only before the first token, HTTP errors,
//! timeouts, and cancellation that reaches the network.

use std::time::Duration;

use agent_runtime::{AgentError, ModelEvent, ModelProvider, OpenAiChatProvider, OpenAiConfig};
use futures::StreamExt;
use test_support::{FakeOpenAi, ScriptedTurn};

use crate::{both, collect, config, events, text_of, user_request, with_patience};

#[tokio::test]
async fn retries_429_and_5xx_before_the_first_token() {
    let server = FakeOpenAi::start().await;
    for (name, provider) in both(&server) {
        let before = server.requests().len();
        server.push_turn(ScriptedTurn::http_error(503, "overloaded"));
        // Retry-After is honoured but capped by the configured maximum backoff.
        server.push_turn(ScriptedTurn::http_error(429, "too many").with_retry_after(30));
        server.push_turn(ScriptedTurn::text("third time lucky"));
        let events = events(provider.as_ref(), user_request("hi")).await;
        assert_eq!(text_of(&events), "third time lucky", "{name}");
        assert_eq!(server.requests().len() - before, 3, "{name}");
    }
}

#[tokio::test]
async fn retries_a_connection_dropped_before_the_first_token() {
    let server = FakeOpenAi::start().await;
    for (name, provider) in both(&server) {
        let before = server.requests().len();
        // One event goes out (the role chunk or `response.created`): no token yet.
        server.push_turn(ScriptedTurn::text("lost").drop_connection_after(1));
        server.push_turn(ScriptedTurn::text("recovered"));
        let events = events(provider.as_ref(), user_request("hi")).await;
        assert_eq!(text_of(&events), "recovered", "{name}");
        assert_eq!(server.requests().len() - before, 2, "{name}");
    }
}

#[tokio::test]
async fn never_retries_after_the_first_token() {
    let server = FakeOpenAi::start().await;
    for (name, provider) in both(&server) {
        let before = server.requests().len();
        // Chat: role chunk + "Hello " ; Responses: created, in_progress, item added, part added,
        // "Hello ".
        let events_before_drop = if name == "chat" { 2 } else { 5 };
        server.push_turn(
            ScriptedTurn::text("Hello wonderful world").drop_connection_after(events_before_drop),
        );
        server.push_turn(ScriptedTurn::text("must not be requested"));
        let items = collect(provider.as_ref(), user_request("hi"))
            .await
            .expect("stream started");
        assert_eq!(
            items.first(),
            Some(&Ok(ModelEvent::TextDelta("Hello ".into()))),
            "{name}"
        );
        assert!(
            matches!(items.last(), Some(Err(AgentError::StreamInterrupted(_)))),
            "{name}: {:?}",
            items.last()
        );
        assert_eq!(
            server.requests().len() - before,
            1,
            "{name}: the request was re-sent"
        );
        assert_eq!(server.remaining_turns(), 1, "{name}");
        // Clears the unused turn for the next provider.
        let _ = events(provider.as_ref(), user_request("drain")).await;
    }
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_the_vendor_message() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::http_error(400, "unknown model 'gpt-x'"));
    let provider = crate::chat(&server);
    let error = with_patience(provider.stream(user_request("hi")))
        .await
        .err();
    match error {
        Some(AgentError::Provider { status, body }) => {
            assert_eq!(status, 400);
            assert!(body.contains("unknown model 'gpt-x'"), "{body}");
        }
        other => panic!("expected a provider error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn gives_up_after_the_configured_retries() {
    let server = FakeOpenAi::start().await;
    for _ in 0..3 {
        server.push_turn(ScriptedTurn::http_error(500, "down"));
    }
    let provider = crate::chat(&server);
    let error = with_patience(provider.stream(user_request("hi")))
        .await
        .err();
    assert!(
        matches!(error, Some(AgentError::Provider { status: 500, .. })),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let provider = OpenAiChatProvider::new(OpenAiConfig {
        retry: agent_runtime::RetryConfig {
            max_retries: 1,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        },
        ..OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m")
    })
    .expect("valid config");
    let error = with_patience(provider.stream(user_request("hi")))
        .await
        .err();
    assert!(
        matches!(error, Some(AgentError::Connection(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_silent_stream_hits_the_idle_timeout() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Hello silent world").hang_after(2));
    let provider = OpenAiChatProvider::new(OpenAiConfig {
        idle_timeout: Duration::from_millis(300),
        ..config(&server)
    })
    .expect("valid config");
    let items = collect(&provider, user_request("hi"))
        .await
        .expect("stream started");
    assert_eq!(
        items.first(),
        Some(&Ok(ModelEvent::TextDelta("Hello ".into())))
    );
    assert_eq!(
        items.last(),
        Some(&Err(AgentError::Timeout(Duration::from_millis(300))))
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let server = FakeOpenAi::start().await;
    for (name, provider) in both(&server) {
        let before = server.disconnects();
        server.push_turn(
            ScriptedTurn::text("Hello endless world").hang_after(if name == "chat" {
                2
            } else {
                5
            }),
        );
        let mut stream = with_patience(provider.stream(user_request("hi")))
            .await
            .expect("stream started");
        let first = with_patience(stream.next()).await;
        assert_eq!(
            first,
            Some(Ok(ModelEvent::TextDelta("Hello ".into()))),
            "{name}"
        );
        assert_eq!(
            server.disconnects(),
            before,
            "{name}: still connected while streaming"
        );
        drop(stream);
        with_patience(server.wait_for_disconnects(before + 1)).await;
    }
}

#[tokio::test]
async fn the_api_key_never_shows_in_debug_output() {
    let server = FakeOpenAi::start().await;
    let config = config(&server);
    assert!(!format!("{config:?}").contains("sk-test-key"));
    let provider = OpenAiChatProvider::new(config).expect("valid config");
    assert!(!format!("{provider:?}").contains("sk-test-key"));
    assert_eq!(provider.model_name(), "fake-model");
}
