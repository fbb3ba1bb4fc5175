#![doc = include_str!("../README.md")]

use std::sync::OnceLock;

use agent_runtime::ModelEvent;
use agent_runtime::model::openai::{ChatCompletionsParser, ResponsesParser};
use auth::{Authenticator, JwtAuthenticator, JwtConfig, KeySource};
use chatkit_protocol::ChatKitRequest;
use chatkit_protocol::sse::{SseDecoder, SseMessage};
use chatkit_protocol::widgets::{WidgetRoot, apply_widget_update, diff_widget};
use serde_json::Value;

/// The check one fuzz target runs on one input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by the name of their directory under `fuzz/corpus/` and `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Check); 7] = [
    ("chatkit_request", chatkit_request),
    ("sse_decoder", sse_decoder),
    ("widget_diff", widget_diff),
    ("jwt", jwt),
    ("chat_completions_stream", chat_completions_stream),
    ("responses_stream", responses_stream),
    ("mcp_schema", mcp_schema),
];

/// A ChatKit request body: parsing never panics, and a parsed request serializes to a body that
/// parses back to the same request.
pub fn chatkit_request(data: &[u8]) {
    let Ok(request) = ChatKitRequest::from_slice(data) else {
        return;
    };
    let _ = (request.kind(), request.is_streaming(), request.thread_id());
    let body = serde_json::to_vec(&request).expect("a parsed request serializes");
    let again = ChatKitRequest::from_slice(&body).expect("a serialized request parses");
    assert_eq!(again, request, "the request survives a round trip");
}

/// An SSE byte stream: the first byte picks a chunk size, and decoding the rest in chunks of that
/// size gives exactly the messages of decoding it at once.
pub fn sse_decoder(data: &[u8]) {
    let Some((&chunk, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk.max(1));
    let whole = SseDecoder::new().push(body);
    let mut decoder = SseDecoder::new();
    let mut pieces: Vec<SseMessage> = Vec::new();
    for part in body.chunks(chunk) {
        pieces.extend(decoder.push(part));
    }
    assert_eq!(whole, pieces, "chunking changes what is decoded");
}

/// Two widgets as `{"before": ..., "after": ...}`: a diff that succeeds, applied update by update
/// to `before`, gives `after`.
pub fn widget_diff(data: &[u8]) {
    let Ok(Value::Object(pair)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let widget = |key: &str| {
        pair.get(key)
            .and_then(|value| serde_json::from_value::<WidgetRoot>(value.clone()).ok())
    };
    let (Some(before), Some(after)) = (widget("before"), widget("after")) else {
        return;
    };
    let Ok(updates) = diff_widget(&before, &after) else {
        return;
    };
    let mut current = before;
    for update in &updates {
        current = apply_widget_update(&current, update).expect("a computed update applies");
    }
    assert_eq!(
        current.to_json(),
        after.to_json(),
        "diff then apply is lossless"
    );
}

/// The secret the JWT target's tokens are checked with; the harness signs claims with it so the
/// claims path after the signature check is reached too.
const JWT_SECRET: &str = "fuzzing-secret-of-at-least-32-bytes-long";

fn jwt_authenticator() -> &'static JwtAuthenticator {
    static AUTHENTICATOR: OnceLock<JwtAuthenticator> = OnceLock::new();
    AUTHENTICATOR.get_or_init(|| {
        JwtAuthenticator::new(
            KeySource::shared_secret(JWT_SECRET),
            JwtConfig::default()
                .with_issuer("fuzz")
                .with_audience("fuzz"),
        )
        .expect("the fuzzing authenticator builds")
    })
}

/// A bearer token: the input as a token (header parsing, algorithm checks, signature), and, when
/// the input is a JSON value, that value as the claims of a correctly signed token (claim
/// validation and the mapping to a principal). Neither panics; an accepted token has a subject.
pub fn jwt(data: &[u8]) {
    let authenticator = jwt_authenticator();
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = futures::executor::block_on(authenticator.authenticate(Some(token)));
    }
    if let Ok(claims) = serde_json::from_slice::<Value>(data) {
        let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes())
            .expect("the secret is a key");
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        if let Ok(token) = jsonwebtoken::encode(&header, &claims, &key)
            && let Ok(principal) =
                futures::executor::block_on(authenticator.authenticate(Some(&token)))
        {
            assert!(
                !principal.user_id.trim().is_empty(),
                "a principal has a subject"
            );
        }
    }
}

/// Checks what every normalized stream must look like, whatever the wire said: nothing after
/// `Finished`.
fn check_events(events: &[ModelEvent]) {
    if let Some(position) = events
        .iter()
        .position(|event| matches!(event, ModelEvent::Finished(_)))
    {
        assert_eq!(
            position + 1,
            events.len(),
            "events after Finished: {events:?}"
        );
    }
}

/// A Chat Completions stream, one SSE `data` per line.
pub fn chat_completions_stream(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parser = ChatCompletionsParser::new();
    let mut events = Vec::new();
    for line in text.lines() {
        match parser.push_data(line, &mut events) {
            Ok(true) | Err(_) => {
                check_events(&events);
                return;
            }
            Ok(false) => {}
        }
    }
    let _ = parser.finish(&mut events);
    check_events(&events);
}

/// A Responses stream, one event per line as `event-name<TAB>data` (or only the data).
pub fn responses_stream(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parser = ResponsesParser::new();
    let mut events = Vec::new();
    for line in text.lines() {
        let (event, data) = line.split_once('\t').unwrap_or(("", line));
        match parser.push_event(event, data, &mut events) {
            Ok(true) | Err(_) => {
                check_events(&events);
                return;
            }
            Ok(false) => {}
        }
    }
    let _ = parser.end(&mut events);
    check_events(&events);
}

/// An MCP tool's input schema: the rewritten schema is an object schema with a `properties`
/// object, and never shows the user-id argument, in `properties` or in `required`.
pub fn mcp_schema(data: &[u8]) {
    let Ok(Value::Object(schema)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let hidden = ["user_id".to_owned()];
    let rewritten = mcp_client::schema::model_schema(&schema, &hidden).parameters;
    assert_eq!(rewritten["type"], "object", "{rewritten}");
    let properties = rewritten["properties"]
        .as_object()
        .expect("a properties object");
    assert!(!properties.contains_key("user_id"), "{rewritten}");
    if let Some(required) = rewritten.get("required").and_then(Value::as_array) {
        assert!(
            !required.iter().any(|name| name == "user_id"),
            "{rewritten}"
        );
    }
}
