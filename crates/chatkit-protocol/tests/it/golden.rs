//! Golden fixtures written by the Python reference itself (`scripts/reference/generate_fixtures.py`):
//! every value parses into our types and serializes back to the reference's exact JSON, sparse
//! inputs get the reference's defaults, and request bodies the reference rejects are rejected with
//! a message that names the field.
//!
//! The folders are walked, so fixtures added to the script are checked without touching this file;
//! a fixture kind this file does not map is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatkit_protocol::attachments::AttachmentUploadDescriptor;
use chatkit_protocol::widgets::{ChartSeries, WidgetComponent, WidgetRoot};
use chatkit_protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixtures_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every `<kind>/<name>.json` under `dir`, grouped by kind.
fn walk(dir: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut kinds = BTreeMap::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    for entry in entries {
        let kind_dir = entry.expect("directory entry").path();
        if !kind_dir.is_dir() {
            continue;
        }
        let kind = kind_dir
            .file_name()
            .and_then(|name| name.to_str())
            .expect("UTF-8 folder name")
            .to_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&kind_dir)
            .expect("kind folder")
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        kinds.insert(kind, files);
    }
    kinds
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Parses `input` as `T` and returns what `T` writes back.
fn reserialize<T: DeserializeOwned + Serialize>(input: &Value) -> Result<Value, String> {
    let parsed: T = serde_path_to_error::deserialize(input)
        .map_err(|err| format!("does not parse: {} at `{}`", err.inner(), err.path()))?;
    serde_json::to_value(&parsed).map_err(|err| format!("does not serialize: {err}"))
}

/// Reserializes `input` as the type that fixture kind `kind` names.
fn reserialize_kind(kind: &str, input: &Value) -> Option<Result<Value, String>> {
    Some(match kind {
        "request" => reserialize::<ChatKitRequest>(input),
        "event" => reserialize::<ThreadStreamEvent>(input),
        "item_update" => reserialize::<ThreadItemUpdate>(input),
        "item" => reserialize::<ThreadItem>(input),
        "thread" => reserialize::<Thread>(input),
        "thread_metadata" => reserialize::<ThreadMetadata>(input),
        "thread_status" => reserialize::<ThreadStatus>(input),
        "page_threads" => reserialize::<Page<Thread>>(input),
        "page_items" => reserialize::<Page<ThreadItem>>(input),
        "attachment" => reserialize::<Attachment>(input),
        "upload_descriptor" => reserialize::<AttachmentUploadDescriptor>(input),
        "user_message_content" => reserialize::<UserMessageContent>(input),
        "user_message_input" => reserialize::<UserMessageInput>(input),
        "inference_options" => reserialize::<InferenceOptions>(input),
        "annotation" => reserialize::<Annotation>(input),
        "source" => reserialize::<Source>(input),
        "task" => reserialize::<Task>(input),
        "workflow" => reserialize::<Workflow>(input),
        "workflow_summary" => reserialize::<WorkflowSummary>(input),
        "structured_input" => reserialize::<StructuredInput>(input),
        "generated_image" => reserialize::<GeneratedImage>(input),
        "action" => reserialize::<Action>(input),
        "action_config" => reserialize::<ActionConfig>(input),
        "widget_root" => reserialize::<WidgetRoot>(input),
        "widget_component" => reserialize::<WidgetComponent>(input),
        "chart_series" => reserialize::<ChartSeries>(input),
        "sync_custom_action_response" => reserialize::<SyncCustomActionResponse>(input),
        "transcription_result" => reserialize::<TranscriptionResult>(input),
        "feedback_kind" => reserialize::<FeedbackKind>(input),
        _ => return None,
    })
}

fn describe_mismatch(path: &Path, expected: &Value, actual: &Value) -> String {
    format!(
        "{}: differs from the reference\n  reference: {}\n  ours:      {}",
        path.display(),
        expected,
        actual
    )
}

#[test]
fn every_reference_fixture_round_trips_to_the_same_json() {
    let kinds = walk(&fixtures_dir("reference"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (kind, files) in &kinds {
        for path in files {
            let expected = read_json(path);
            match reserialize_kind(kind, &expected) {
                None => failures.push(format!(
                    "{}: no Rust type for kind `{kind}`",
                    path.display()
                )),
                Some(Err(err)) => failures.push(format!("{}: {err}", path.display())),
                Some(Ok(actual)) if actual != expected => {
                    failures.push(describe_mismatch(path, &expected, &actual))
                }
                Some(Ok(_)) => checked += 1,
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let total: usize = kinds.values().map(Vec::len).sum();
    println!(
        "{checked} reference fixtures of {} kinds checked",
        kinds.len()
    );
    for (kind, files) in &kinds {
        println!("  {kind}: {}", files.len());
    }
    // A generator that silently wrote nothing must not pass.
    assert_eq!(checked, total);
    assert!(
        kinds.len() >= 29 && checked >= 200,
        "{checked} fixtures of {} kinds",
        kinds.len()
    );
}

#[test]
fn sparse_inputs_get_the_reference_defaults() {
    let kinds = walk(&fixtures_dir("reference-inputs"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (kind, files) in &kinds {
        for path in files {
            let fixture = read_json(path);
            let (input, expected) = (&fixture["input"], &fixture["expected"]);
            match reserialize_kind(kind, input) {
                None => failures.push(format!(
                    "{}: no Rust type for kind `{kind}`",
                    path.display()
                )),
                Some(Err(err)) => failures.push(format!("{}: {err}", path.display())),
                Some(Ok(actual)) if &actual != expected => {
                    failures.push(describe_mismatch(path, expected, &actual))
                }
                Some(Ok(_)) => checked += 1,
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{checked} reference input fixtures of {} kinds checked",
        kinds.len()
    );
    assert!(checked >= 15, "only {checked} input fixtures");
}

/// serde_path_to_error's rendering of a pydantic error location without its leading request tag.
fn expected_path(location: &[Value]) -> String {
    let mut path = String::new();
    for segment in location.iter().skip(1) {
        match segment {
            Value::Number(index) => path.push_str(&format!("[{index}]")),
            Value::String(field) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(field);
            }
            other => panic!("unexpected location segment {other}"),
        }
    }
    path
}

#[test]
fn bodies_the_reference_rejects_are_rejected_naming_the_field() {
    let kinds = walk(&fixtures_dir("reference-rejects"));
    let files = kinds.get("request").expect("request rejects");
    let mut failures = Vec::new();
    for path in files {
        let fixture = read_json(path);
        let body = serde_json::to_vec(&fixture["input"]).expect("serializes");
        let error = match ChatKitRequest::from_slice(&body) {
            Ok(request) => {
                failures.push(format!("{}: accepted as {request:?}", path.display()));
                continue;
            }
            Err(error) => error.to_string(),
        };
        let locations = fixture["locations"].as_array().expect("locations");
        for location in locations {
            let location = location.as_array().expect("location");
            let wanted = if location.is_empty() {
                // The whole body is wrong: its `type` is missing or unknown.
                match fixture["input"]["type"].as_str() {
                    Some(kind) => kind.to_owned(),
                    None => "`type`".to_owned(),
                }
            } else {
                expected_path(location)
            };
            if !error.contains(&wanted) {
                failures.push(format!(
                    "{}: error `{error}` does not name `{wanted}`",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} reference reject fixtures checked", files.len());
    assert!(files.len() >= 10);
}
