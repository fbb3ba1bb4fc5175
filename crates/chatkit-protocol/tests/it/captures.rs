//! Every request, response body and SSE frame recorded from the Python reference parses into our
//! types and serializes back to the same JSON (timestamps compared as instants, since the reference
//! writes naive local times and we write UTC with `Z`).

use chatkit_protocol::sse::SseDecoder;
use chatkit_protocol::{ChatKitRequest, Page, Thread, ThreadStreamEvent};
use serde_json::Value;

const CAPTURES: &[(&str, &str)] = &[
    (
        "01-threads.create",
        include_str!("../fixtures/captures/01-threads.create.txt"),
    ),
    (
        "02-threads.add_user_message",
        include_str!("../fixtures/captures/02-threads.add_user_message.txt"),
    ),
    (
        "03-threads.get_by_id",
        include_str!("../fixtures/captures/03-threads.get_by_id.txt"),
    ),
    (
        "04-items.list",
        include_str!("../fixtures/captures/04-items.list.txt"),
    ),
    (
        "05-threads.list",
        include_str!("../fixtures/captures/05-threads.list.txt"),
    ),
    (
        "06-threads.update",
        include_str!("../fixtures/captures/06-threads.update.txt"),
    ),
    (
        "07-items.feedback",
        include_str!("../fixtures/captures/07-items.feedback.txt"),
    ),
];

struct Capture {
    request: String,
    content_type: String,
    response: String,
}

fn split(text: &str) -> Capture {
    let (_, rest) = text.split_once("# request\n").expect("request section");
    let (request, rest) = rest.split_once("# response: ").expect("response section");
    let (status_line, response) = rest.split_once('\n').expect("status line");
    Capture {
        request: request.to_owned(),
        content_type: status_line.to_owned(),
        response: response.to_owned(),
    }
}

/// Replaces every timestamp string with its instant in our format, so that naive and `Z` forms
/// compare equal.
fn normalize(value: &mut Value) {
    match value {
        Value::String(text) if text.len() >= 19 && text.as_bytes().get(10) == Some(&b'T') => {
            if let Some(ts) = chatkit_protocol::time::parse(text) {
                *text = chatkit_protocol::time::format(&ts);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Object(map) => map.values_mut().for_each(normalize),
        _ => {}
    }
}

fn assert_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(what: &str, json: &str) {
    let mut original: Value =
        serde_json::from_str(json).unwrap_or_else(|err| panic!("{what}: not JSON: {err}"));
    let parsed: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|err| panic!("{what}: {err}\n{json}"));
    let mut again = serde_json::to_value(&parsed).expect("serializes");
    normalize(&mut original);
    normalize(&mut again);
    assert_eq!(again, original, "{what}");
}

#[test]
fn every_captured_exchange_round_trips() {
    let mut frames = 0;
    for (name, text) in CAPTURES {
        let capture = split(text);
        let request = ChatKitRequest::from_slice(capture.request.as_bytes())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(request.kind(), name.split_once('-').expect("numbered").1);
        if capture.content_type.contains("text/event-stream") {
            let mut decoder = SseDecoder::new();
            for message in decoder.push(capture.response.as_bytes()) {
                assert_round_trip::<ThreadStreamEvent>(name, &message.data);
                frames += 1;
            }
        } else {
            match request.kind() {
                "threads.get_by_id" | "threads.update" => {
                    assert_round_trip::<Thread>(name, &capture.response)
                }
                "threads.list" => assert_round_trip::<Page<Thread>>(name, &capture.response),
                "items.list" => {
                    assert_round_trip::<Page<chatkit_protocol::ThreadItem>>(name, &capture.response)
                }
                _ => assert_eq!(capture.response.trim(), "{}", "{name}"),
            }
        }
    }
    assert!(frames > 20, "only {frames} SSE frames checked");
}
