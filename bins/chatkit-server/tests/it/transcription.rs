//! Dictation end to end: `input.transcribe` through the bundled server to the fake OpenAI
//! server's `/audio/transcriptions`, and every way it can go wrong answered with a clear status
//! and JSON body.

use base64::Engine as _;
use serde_json::{Value, json};
use test_support::fake_openai::ScriptedTranscription;

use crate::support::*;

fn transcribe(audio: &[u8], mime_type: &str) -> Value {
    json!({"type": "input.transcribe", "params": {
        "audio_base64": base64::engine::general_purpose::STANDARD.encode(audio),
        "mime_type": mime_type,
    }})
}

#[tokio::test]
async fn dictated_audio_comes_back_as_text_from_the_transcription_endpoint() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.transcription.model = "whisper-test".to_owned();
    })
    .await;
    app.model.push_transcription(ScriptedTranscription::Text(
        "Add milk to my list".to_owned(),
    ));
    let audio = b"\x1aE\xdf\xa3 webm bytes";
    let reply = app.post(transcribe(audio, "audio/webm;codecs=opus")).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(reply.json, json!({"text": "Add milk to my list"}));

    let request = app
        .model
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/audio/transcriptions")
        .expect("the endpoint was called");
    assert_eq!(request.body["model"], "whisper-test");
    assert_eq!(request.body["response_format"], "json");
    assert_eq!(request.body["file"]["name"], "audio.webm");
    assert_eq!(request.body["file"]["content_type"], "audio/webm");
    assert_eq!(request.body["file"]["bytes"], audio.len());
}

#[tokio::test]
async fn oversized_audio_is_refused_before_the_provider_sees_it() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.transcription.max_bytes = 1024;
    })
    .await;
    let reply = app.post(transcribe(&[7u8; 2048], "audio/webm")).await;
    assert_eq!(reply.status, 413, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "too_large");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2048")),
        "{}",
        reply.json
    );
    assert!(app.model.requests().is_empty(), "nothing was sent upstream");
}

#[tokio::test]
async fn audio_of_a_type_that_is_not_accepted_is_refused_with_415() {
    let app = spawn_app(Db::Sqlite).await;
    let reply = app.post(transcribe(b"not audio", "video/x-msvideo")).await;
    assert_eq!(reply.status, 415, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "unsupported_media_type");
    assert!(app.model.requests().is_empty(), "nothing was sent upstream");

    let reply = app.post(transcribe(b"", "audio/webm")).await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "bad_request");

    let reply = app
        .post(json!({"type": "input.transcribe", "params": {"audio_base64": "%%%", "mime_type": "audio/webm"}}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
}

#[tokio::test]
async fn a_provider_failure_is_a_clean_502_and_a_refusal_a_400_without_the_providers_text() {
    let app = spawn_app(Db::Sqlite).await;
    app.model
        .push_transcription(ScriptedTranscription::Failure {
            status: 500,
            message: "internal secret detail".to_owned(),
        });
    let reply = app.post(transcribe(b"some audio", "audio/ogg")).await;
    assert_eq!(reply.status, 502, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "upstream_error");
    assert!(!reply.raw.contains("secret detail"), "{}", reply.raw);

    app.model
        .push_transcription(ScriptedTranscription::Failure {
            status: 400,
            message: "Audio file might be corrupted".to_owned(),
        });
    let reply = app.post(transcribe(b"some audio", "audio/ogg")).await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "bad_request");
}

#[tokio::test]
async fn switched_off_dictation_answers_501() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.transcription.enabled = Some(false);
    })
    .await;
    let reply = app.post(transcribe(b"audio", "audio/webm")).await;
    assert_eq!(reply.status, 501, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "not_supported");
}

#[tokio::test]
async fn a_composer_model_pick_is_checked_against_the_configured_list_over_http() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.model.allowed_models = vec!["fake-model-large".to_owned()];
    })
    .await;
    app.model
        .push_turn(test_support::fake_openai::ScriptedTurn::text("Big answer."));
    let mut input = test_support::chatkit::input("Hi");
    input["inference_options"] = json!({"model": "fake-model-large"});
    let reply = app
        .post(json!({"type": "threads.create", "params": {"input": input}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(app.model.requests()[0].body["model"], "fake-model-large");

    let mut input = test_support::chatkit::input("Hi");
    input["inference_options"] = json!({"model": "someone-elses-model"});
    let reply = app
        .post(json!({"type": "threads.create", "params": {"input": input}}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "bad_request");
    assert_eq!(app.model.requests().len(), 1);
}
