//! OpenAI and OpenAI-compatible providers: Chat Completions and the Responses API.
//!
//! Both providers share one transport: a `reqwest` client whose response body is read as
//! server-sent events by this module's own parser (`sse`, ADR 0016), never reconnecting (a
//! completion request must never be re-sent behind the caller's back), an idle timeout per read,
//! and retries with backoff for connection errors, 429 and 5xx that happen before the first event
//! reached the caller.

mod chat;
mod responses;
mod sse;

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use chat::{ChatCompletionsParser, OpenAiChatProvider};
pub use responses::{OpenAiResponsesProvider, ResponsesParser};

use crate::error::AgentError;
use crate::model::{ModelEvent, ModelEventStream};
use crate::secret::ApiKey;
use sse::SseParser;

/// How often and how patiently a provider retries a request that failed before its first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt; 0 switches retrying off.
    pub max_retries: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub initial_backoff: Duration,
    /// Upper bound for one delay, also for a server's `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Settings of an OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// API root including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer ...`; `None` for local servers that need no key.
    pub api_key: Option<ApiKey>,
    /// Model name sent with every request.
    pub model: String,
    /// Extra headers (organization, project, gateway routing...), sent with every request.
    pub extra_headers: Vec<(String, String)>,
    /// How long establishing a TCP/TLS connection may take.
    pub connect_timeout: Duration,
    /// How long the stream may stay silent (including waiting for the response headers) before
    /// the request is abandoned. A timeout is never retried: the vendor may still be working on
    /// the request, and a second one could produce a second answer.
    pub idle_timeout: Duration,
    /// Retries before the first event.
    pub retry: RetryConfig,
    /// Chat Completions only: send the token limit as the legacy `max_tokens` field instead of
    /// `max_completion_tokens`, for compatible servers that only know the old name.
    pub legacy_max_tokens_field: bool,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            model: "gpt-4.1-mini".to_owned(),
            extra_headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            retry: RetryConfig::default(),
            legacy_max_tokens_field: false,
        }
    }
}

impl OpenAiConfig {
    /// A config for `model` at `base_url`, with defaults for everything else.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            ..Self::default()
        }
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }
}

/// Largest error body kept in [`AgentError::Provider`]; vendors' explanations fit comfortably.
const MAX_ERROR_BODY_CHARS: usize = 2000;

/// A stream parser for one wire format.
pub(crate) trait WireParser: Send + 'static {
    /// Handles one server-sent event; returns true when the provider said the answer is complete.
    fn on_event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<bool, AgentError>;

    /// Handles the end of the body without a completion marker.
    fn on_end(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), AgentError>;
}

/// The HTTP side shared by both providers.
#[derive(Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    idle_timeout: Duration,
    retry: RetryConfig,
}

impl Transport {
    pub(crate) fn new(config: &OpenAiConfig, path: &str) -> Result<Self, AgentError> {
        let base = config.base_url.trim_end_matches('/');
        let url = format!("{base}/{path}");
        reqwest::Url::parse(&url)
            .map_err(|error| AgentError::Configuration(format!("base URL {base:?}: {error}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.extra_headers {
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                AgentError::Configuration(format!("{name:?} is not a valid header name"))
            })?;
            let header_value = HeaderValue::from_str(value).map_err(|_| {
                AgentError::Configuration(format!("the value of header {name:?} is not valid"))
            })?;
            headers.insert(header_name, header_value);
        }
        if let Some(key) = &config.api_key {
            // The formatted header text is a copy of the key: zeroize it too once the header
            // value (which the HTTP client owns from here on) is built.
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", key.expose()));
            let mut value = HeaderValue::from_str(&bearer)
                .map_err(|_| AgentError::Configuration("the API key is not valid".to_owned()))?;
            // Keeps the key out of reqwest's and hyper's debug output.
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|error| AgentError::Configuration(error.to_string()))?;
        Ok(Self {
            client,
            url,
            headers,
            idle_timeout: config.idle_timeout,
            retry: config.retry.clone(),
        })
    }

    fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .headers(self.headers.clone())
            .json(body)
    }

    /// Posts a multipart form (no streaming, no retries: an upload is not re-sent behind the
    /// caller's back) and returns the body of a successful answer. The whole exchange may take
    /// the idle timeout.
    pub(crate) async fn post_multipart(
        &self,
        form: reqwest::multipart::Form,
    ) -> Result<Vec<u8>, AgentError> {
        let request = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .multipart(form)
            .send();
        let exchange = async {
            let response = request
                .await
                .map_err(|error| AgentError::Connection(error_chain(&error)))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|error| AgentError::StreamInterrupted(error_chain(&error)))?;
            if !status.is_success() {
                return Err(AgentError::Provider {
                    status: status.as_u16(),
                    body: truncate_chars(&String::from_utf8_lossy(&body), MAX_ERROR_BODY_CHARS),
                });
            }
            Ok(body.to_vec())
        };
        tokio::time::timeout(self.idle_timeout, exchange)
            .await
            .map_err(|_| AgentError::Timeout(self.idle_timeout))?
    }

    fn backoff(&self, retry_number: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .retry
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry_number.saturating_sub(1)));
        retry_after
            .unwrap_or(exponential)
            .min(self.retry.max_backoff)
    }

    /// Sends `body` and streams the parsed events, retrying failures before the first event.
    pub(crate) fn stream<P: WireParser>(
        self,
        body: Value,
        new_parser: impl Fn() -> P + Send + 'static,
    ) -> ModelEventStream {
        Box::pin(async_stream::stream! {
            let mut retries_done: u32 = 0;
            'attempt: loop {
                let mut parser = new_parser();
                let mut yielded_any = false;
                let mut out = Vec::new();
                let (error, retryable, retry_after) = 'failed: {
                    let sent = tokio::time::timeout(self.idle_timeout, self.request(&body).send()).await;
                    let response = match sent {
                        Err(_) => break 'failed (AgentError::Timeout(self.idle_timeout), false, None),
                        Ok(Err(error)) => {
                            break 'failed (AgentError::Connection(error_chain(&error)), true, None);
                        }
                        Ok(Ok(response)) => response,
                    };
                    let status = response.status();
                    if !status.is_success() {
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        let body = tokio::time::timeout(self.idle_timeout, response.text())
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .unwrap_or_default();
                        let retryable = status.as_u16() == 429 || status.is_server_error();
                        let error = AgentError::Provider {
                            status: status.as_u16(),
                            body: truncate_chars(&body, MAX_ERROR_BODY_CHARS),
                        };
                        break 'failed (error, retryable, retry_after);
                    }
                    if let Some(problem) = not_an_event_stream(response.headers()) {
                        break 'failed (AgentError::Protocol(problem), false, None);
                    }
                    let mut chunks = response.bytes_stream();
                    let mut sse = SseParser::default();
                    let mut messages: VecDeque<sse::SseEvent> = VecDeque::new();
                    loop {
                        while let Some(message) = messages.pop_front() {
                            let outcome = parser.on_event(&message.event, &message.data, &mut out);
                            for event in out.drain(..) {
                                yielded_any = true;
                                yield Ok(event);
                            }
                            match outcome {
                                Ok(true) => return,
                                Ok(false) => {}
                                Err(error) => break 'failed (error, false, None),
                            }
                        }
                        // The idle timeout runs per read from the network, not per event: one
                        // read usually carries many deltas.
                        match tokio::time::timeout(self.idle_timeout, chunks.next()).await {
                            Err(_) => break 'failed (AgentError::Timeout(self.idle_timeout), false, None),
                            Ok(Some(Ok(chunk))) => sse.feed(&chunk, &mut messages),
                            Ok(Some(Err(error))) => {
                                let error = AgentError::StreamInterrupted(error_chain(&error));
                                break 'failed (error, true, None);
                            }
                            Ok(None) => match parser.on_end(&mut out) {
                                Ok(()) => {
                                    for event in out.drain(..) {
                                        yield Ok(event);
                                    }
                                    return;
                                }
                                Err(error) => break 'failed (error, true, None),
                            },
                        }
                    }
                };
                if retryable && !yielded_any && retries_done < self.retry.max_retries {
                    retries_done += 1;
                    let delay = self.backoff(retries_done, retry_after);
                    tracing::warn!(
                        retry.number = retries_done,
                        retry.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "model request failed before its first event, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue 'attempt;
                }
                yield Err(error);
                return;
            }
        })
    }
}

/// Why a successful answer is not an event stream, if it is not one.
fn not_an_event_stream(headers: &HeaderMap) -> Option<String> {
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let essence = content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if essence.is_some_and(|essence| essence.eq_ignore_ascii_case("text/event-stream")) {
        return None;
    }
    Some(match content_type {
        Some(content_type) => {
            format!("expected an event stream, got content type {content_type:?}")
        }
        None => "expected an event stream, got no content type".to_owned(),
    })
}

/// Merges the caller's extra body fields into a request, over the fields built from settings: a
/// compatible server's own parameter wins, as in the Agents SDK's `extra_body`.
pub(crate) fn merge_extra_body(
    body: &mut serde_json::Map<String, Value>,
    extra: &serde_json::Map<String, Value>,
) {
    for (key, value) in extra {
        body.insert(key.clone(), value.clone());
    }
}

/// The error and its sources on one line: reqwest's top-level message alone rarely says why.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = OpenAiConfig {
            retry: RetryConfig {
                max_retries: 5,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(350),
            },
            ..OpenAiConfig::default()
        };
        let transport = Transport::new(&config, "chat/completions").expect("valid config");
        assert_eq!(transport.backoff(1, None), Duration::from_millis(100));
        assert_eq!(transport.backoff(2, None), Duration::from_millis(200));
        assert_eq!(transport.backoff(3, None), Duration::from_millis(350));
        assert_eq!(
            transport.backoff(1, Some(Duration::from_secs(30))),
            Duration::from_millis(350)
        );
    }

    #[test]
    fn invalid_headers_are_configuration_errors() {
        let config = OpenAiConfig {
            extra_headers: vec![("bad header".to_owned(), "x".to_owned())],
            ..OpenAiConfig::default()
        };
        assert!(matches!(
            Transport::new(&config, "responses"),
            Err(AgentError::Configuration(_))
        ));
        let config = OpenAiConfig::new("not a url", "m");
        assert!(matches!(
            Transport::new(&config, "responses"),
            Err(AgentError::Configuration(_))
        ));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé...");
        assert_eq!(truncate_chars("hi", 5), "hi");
    }
}
