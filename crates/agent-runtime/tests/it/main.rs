//! Integration tests: the providers and the agent loop against a real fake OpenAI server.

mod agents_sdk;
mod chat_completions;
mod parity;
mod responses;
mod runner;
mod tool_events;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use agent_runtime::{
    AgentError, ModelEvent, ModelEventStream, ModelProvider, ModelRequest, OpenAiChatProvider,
    OpenAiConfig, OpenAiResponsesProvider, RetryConfig, ToolCall,
};
use futures::StreamExt;
use test_support::FakeOpenAi;

/// Upper bound for anything a test awaits, so a bug shows up as a failure, not a hung suite.
const PATIENCE: Duration = Duration::from_secs(10);

fn config(server: &FakeOpenAi) -> OpenAiConfig {
    OpenAiConfig {
        base_url: server.base_url(),
        model: "fake-model".to_owned(),
        extra_headers: vec![("x-gateway-route".to_owned(), "blue".to_owned())],
        retry: RetryConfig {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        ..OpenAiConfig::default()
    }
    .with_api_key("sk-test-key")
}

fn chat(server: &FakeOpenAi) -> Arc<dyn ModelProvider> {
    Arc::new(OpenAiChatProvider::new(config(server)).expect("valid config"))
}

fn responses(server: &FakeOpenAi) -> Arc<dyn ModelProvider> {
    Arc::new(OpenAiResponsesProvider::new(config(server)).expect("valid config"))
}

/// Both providers, for tests that must hold for either wire format.
fn both(server: &FakeOpenAi) -> [(&'static str, Arc<dyn ModelProvider>); 2] {
    [("chat", chat(server)), ("responses", responses(server))]
}

async fn with_patience<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("the test took too long")
}

/// Streams `request` and collects every item, errors included.
async fn collect(
    provider: &dyn ModelProvider,
    request: ModelRequest,
) -> Result<Vec<Result<ModelEvent, AgentError>>, AgentError> {
    let stream: ModelEventStream = with_patience(provider.stream(request)).await?;
    Ok(with_patience(stream.collect::<Vec<_>>()).await)
}

/// Collects a stream that must succeed.
async fn events(provider: &dyn ModelProvider, request: ModelRequest) -> Vec<ModelEvent> {
    collect(provider, request)
        .await
        .expect("the stream started")
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("the stream succeeded")
}

fn text_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ModelEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn reasoning_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ModelEvent::ReasoningDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn tool_calls_of(events: &[ModelEvent]) -> Vec<ToolCall> {
    events
        .iter()
        .filter_map(|event| match event {
            ModelEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: arguments.to_owned(),
    }
}

fn user_request(text: &str) -> ModelRequest {
    ModelRequest {
        messages: vec![agent_runtime::Message::user(text)],
        ..ModelRequest::default()
    }
}
