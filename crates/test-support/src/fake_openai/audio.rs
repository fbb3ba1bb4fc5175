//! `POST /v1/audio/transcriptions`: OpenAI's speech-to-text endpoint, a multipart form in and
//! `{"text": ...}` out, with its validation of the form and the file's format.

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

use super::{RecordedRequest, Shared, error_response, lock};

/// The file extensions OpenAI's endpoint accepts, in the order its error message lists them.
const SUPPORTED_EXTENSIONS: &[&str] = &[
    "flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm",
];

/// What the server answers to the next transcription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedTranscription {
    /// A transcript.
    Text(String),
    /// An HTTP error status with OpenAI's error body.
    Failure {
        /// The status, e.g. 500 or 429.
        status: u16,
        /// The error message.
        message: String,
    },
}

/// What a transcription request carried, as recorded in [`RecordedRequest::body`]: the form's
/// text fields, and for the file its name, content type and size (not the bytes).
fn recorded_body(fields: &serde_json::Map<String, Value>, file: Option<&UploadedFile>) -> Value {
    let mut body = fields.clone();
    if let Some(file) = file {
        body.insert(
            "file".to_owned(),
            json!({"name": file.name, "content_type": file.content_type, "bytes": file.data.len()}),
        );
    }
    Value::Object(body)
}

struct UploadedFile {
    name: String,
    content_type: String,
    data: Vec<u8>,
}

fn invalid(message: &str) -> Response {
    let body = json!({"error": {
        "message": message, "type": "invalid_request_error", "param": null, "code": null
    }});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

pub(super) async fn transcriptions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut fields = serde_json::Map::new();
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return invalid(&format!("could not parse multipart form: {error}")),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            match field.bytes().await {
                Ok(data) => {
                    file = Some(UploadedFile {
                        name: file_name,
                        content_type,
                        data: data.to_vec(),
                    })
                }
                Err(error) => return invalid(&format!("could not read the file: {error}")),
            }
        } else {
            match field.text().await {
                Ok(text) => {
                    fields.insert(name, Value::String(text));
                }
                Err(error) => return invalid(&format!("could not read field {name}: {error}")),
            }
        }
    }
    let recorded_headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.requests).push(RecordedRequest {
        path: "/v1/audio/transcriptions".to_owned(),
        headers: recorded_headers,
        body: recorded_body(&fields, file.as_ref()),
    });
    if !fields.contains_key("model") {
        return invalid("you must provide a model parameter");
    }
    let Some(file) = file else {
        return invalid("you must provide a file parameter");
    };
    let extension = file
        .name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if !extension.is_some_and(|ext| SUPPORTED_EXTENSIONS.contains(&ext.as_str())) {
        return invalid(&format!(
            "Invalid file format. Supported formats: {SUPPORTED_EXTENSIONS:?}"
        ));
    }
    match lock(&shared.transcriptions).pop_front() {
        Some(ScriptedTranscription::Failure { status, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(status, &message, None)
        }
        Some(ScriptedTranscription::Text(text)) => {
            axum::Json(json!({"text": text})).into_response()
        }
        // Unscripted: audio made of UTF-8 text "says" that text, so a test can speak by sending
        // the words as the file; other bytes get a deterministic description.
        None => {
            let text = match std::str::from_utf8(&file.data) {
                Ok(text) => text.trim().to_owned(),
                Err(_) => format!("({} bytes of audio)", file.data.len()),
            };
            axum::Json(json!({"text": text})).into_response()
        }
    }
}
