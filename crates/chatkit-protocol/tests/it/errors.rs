//! What `ChatKitRequest::from_slice` says about bad bodies: the field's path for missing or
//! mistyped fields, the bad value for an unknown `type`, and malformed JSON told apart.

use chatkit_protocol::{ChatKitRequest, ProtocolError};

fn error_of(body: &str) -> ProtocolError {
    ChatKitRequest::from_slice(body.as_bytes()).expect_err("must be rejected")
}

#[test]
fn a_missing_field_is_named_by_its_path() {
    let error = error_of(
        r#"{"type":"threads.add_user_message","params":{"thread_id":"t","input":{"content":[],"attachments":[]}}}"#,
    );
    assert!(
        matches!(error, ProtocolError::InvalidRequest(_)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "invalid request: params.input.inference_options: missing required field"
    );
    let error = error_of(r#"{"type":"threads.delete"}"#);
    assert_eq!(error.to_string(), "invalid request: missing field `params`");
}

#[test]
fn a_mistyped_field_is_named_by_its_path_with_what_was_expected() {
    let error = error_of(r#"{"type":"items.list","params":{"thread_id":"t","limit":"5"}}"#);
    assert_eq!(
        error.to_string(),
        r#"invalid request: params.limit: invalid type: string "5", expected i64"#
    );
    let error = error_of(
        r#"{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":1}],"attachments":[],"inference_options":{}}}}"#,
    );
    // Inside a `type`-tagged value (here a content part) the path stops at that value: serde
    // buffers it to read the tag first. The element is still named.
    assert_eq!(
        error.to_string(),
        "invalid request: params.input.content[0]: invalid type: integer `1`, expected a string"
    );
    let error =
        error_of(r#"{"type":"threads.get_by_id","params":{"thread_id":"t"},"metadata":[]}"#);
    assert!(
        error
            .to_string()
            .starts_with("invalid request: metadata: invalid type"),
        "{error}"
    );
}

#[test]
fn an_unknown_type_is_named_with_the_known_ones() {
    let error = error_of(r#"{"type":"threads.explode","params":{}}"#);
    let message = error.to_string();
    assert!(
        message.contains("unknown request type `threads.explode`"),
        "{message}"
    );
    assert!(message.contains("threads.sync_custom_action"), "{message}");
    let error = error_of(r#"{"params":{"thread_id":"t"}}"#);
    assert_eq!(error.to_string(), "invalid request: missing field `type`");
    let error = error_of(r#"{"type":7,"params":{}}"#);
    assert!(
        error.to_string().contains("type: expected a string"),
        "{error}"
    );
}

#[test]
fn malformed_json_is_told_apart_from_an_invalid_request() {
    for body in [
        r#"{"type":"threads.list","params":{}"#,
        "not json",
        r#"{"type":"threads.list","params":{}} trailing"#,
    ] {
        let error = error_of(body);
        assert!(
            matches!(error, ProtocolError::MalformedJson(_)),
            "{body}: {error:?}"
        );
    }
    let error = error_of("[]");
    assert!(
        matches!(error, ProtocolError::InvalidRequest(_)),
        "{error:?}"
    );
}

#[test]
fn unknown_fields_are_ignored_and_defaults_filled() {
    let request = ChatKitRequest::from_slice(
        br#"{"type":"threads.list","params":{"surprise":true},"extra":1}"#,
    )
    .expect("parses");
    assert!(!request.is_streaming());
    assert_eq!(
        serde_json::to_value(&request).expect("serializes"),
        serde_json::json!({"type":"threads.list","params":{"order":"desc"},"metadata":{}})
    );
    assert_eq!(
        ChatKitRequest::kind_is_streaming("threads.create"),
        Some(true)
    );
    assert_eq!(
        ChatKitRequest::kind_is_streaming("threads.list"),
        Some(false)
    );
    assert_eq!(ChatKitRequest::kind_is_streaming("nope"), None);
    let streaming = ChatKitRequest::KINDS
        .iter()
        .filter(|kind| ChatKitRequest::kind_is_streaming(kind) == Some(true))
        .count();
    assert_eq!((streaming, ChatKitRequest::KINDS.len()), (6, 16));
}
