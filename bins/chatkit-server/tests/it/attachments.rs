//! Attachment bytes over HTTP: the two-phase upload target, the direct upload, downloads for the
//! owner only, the limits, and the contents reaching the model.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use test_support::fake_openai::ScriptedTurn;

use crate::legacy_chat::{SECRET, user_token};
use crate::support::*;

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];

async fn secured(db: Db) -> TestApp {
    spawn_app_with(db, |settings| {
        settings.auth.shared_secret = Some(SECRET.to_owned());
        settings.attachments.max_bytes = 1024;
    })
    .await
}

async fn create_attachment(
    app: &TestApp,
    token: &str,
    name: &str,
    mime: &str,
    size: usize,
) -> Value {
    let reply = app
        .post_as(
            json!({"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime}}),
            Some(token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    reply.json
}

fn file_form(name: &str, mime: &str, bytes: &[u8]) -> Form {
    Form::new().text("purpose", "chat").part(
        "file",
        Part::bytes(bytes.to_vec())
            .file_name(name.to_owned())
            .mime_str(mime)
            .expect("mime"),
    )
}

async fn attachments_round_trip(db: Db) {
    let app = secured(db).await;
    let alice = user_token("alice");
    let mallory = user_token("mallory");

    // Two-phase: create, then PUT the raw bytes to the descriptor's path.
    let image = create_attachment(&app, &alice, "cat.png", "image/png", PNG.len()).await;
    let image_id = image["id"].as_str().expect("id").to_owned();
    assert_eq!(image["upload_descriptor"]["method"], "PUT");
    let upload_url = format!("{}/attachments/{image_id}", app.base);
    let stolen = app
        .client
        .put(&upload_url)
        .bearer_auth(&mallory)
        .body(b"not yours".to_vec())
        .send()
        .await
        .expect("sends");
    assert_eq!(stolen.status().as_u16(), 404, "another user cannot upload");
    let uploaded = app
        .client
        .put(&upload_url)
        .bearer_auth(&alice)
        .body(PNG.to_vec())
        .send()
        .await
        .expect("sends");
    assert_eq!(uploaded.status().as_u16(), 200);
    let uploaded: Value = uploaded.json().await.expect("json");
    assert_eq!(uploaded["id"], image_id.as_str());
    assert!(
        uploaded.get("upload_descriptor").is_none_or(Value::is_null),
        "{uploaded}"
    );

    // The same target also takes a multipart `file` field, by POST as ChatKit's client sends it.
    let notes = create_attachment(&app, &alice, "notes.md", "text/markdown", 24).await;
    let notes_id = notes["id"].as_str().expect("id").to_owned();
    let posted = app
        .client
        .post(format!("{}/attachments/{notes_id}", app.base))
        .bearer_auth(&alice)
        .multipart(file_form(
            "notes.md",
            "text/markdown",
            b"# Notes\nbuy oat milk\n",
        ))
        .send()
        .await
        .expect("sends");
    assert_eq!(posted.status().as_u16(), 200);

    // Direct upload: one multipart request creates and stores the attachment.
    let direct = app
        .client
        .post(format!("{}/attachments", app.base))
        .bearer_auth(&alice)
        .multipart(file_form(
            "data \"v1\".json",
            "application/json",
            br#"{"answer": 42}"#,
        ))
        .send()
        .await
        .expect("sends");
    assert_eq!(direct.status().as_u16(), 200);
    let direct: Value = direct.json().await.expect("json");
    assert_eq!(direct["type"], "file");
    assert_eq!(direct["name"], "data \"v1\".json");
    assert_eq!(direct["mime_type"], "application/json");
    assert!(
        direct.get("upload_descriptor").is_none_or(Value::is_null),
        "{direct}"
    );
    let direct_id = direct["id"].as_str().expect("id").to_owned();

    // Downloads: the owner gets the bytes with safe headers; anyone else a 404.
    let get = |id: &str, token: &str| {
        app.client
            .get(format!("{}/attachments/{id}", app.base))
            .bearer_auth(token)
            .send()
    };
    let response = get(&image_id, &alice).await.expect("sends");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers.get("content-disposition").is_none(),
        "images show inline"
    );
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
    let response = get(&direct_id, &alice).await.expect("sends");
    assert_eq!(response.headers()["content-type"], "application/json");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"data _v1_.json\""),
        "{disposition}"
    );
    assert_eq!(response.text().await.expect("text"), r#"{"answer": 42}"#);
    for id in [&image_id, &direct_id] {
        let response = get(id, &mallory).await.expect("sends");
        assert_eq!(response.status().as_u16(), 404);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let response = app
        .client
        .get(format!("{}/attachments/{image_id}", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 401, "no token, no bytes");

    // The contents reach the model: the image as a data URL, the text files as their text.
    app.model
        .push_turn(ScriptedTurn::text("A cat and some notes."));
    let mut body = create("What did I attach?");
    body["params"]["input"]["attachments"] = json!([image_id, notes_id, direct_id]);
    let reply = app.post_as(body, Some(&alice)).await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    let request = app.model.requests().last().expect("a model call").clone();
    let user = request
        .conversation()
        .iter()
        .find(|m| m["role"] == "user")
        .expect("user message")
        .to_string();
    assert!(
        user.contains("data:image/png;base64,iVBORw0KGgoBAgM="),
        "{user}"
    );
    assert!(user.contains("buy oat milk"), "{user}");
    assert!(user.contains(r#"{\"answer\": 42}"#), "{user}");

    // Deleting removes the bytes too.
    let deleted = app
        .post_as(
            json!({"type": "attachments.delete", "params": {"attachment_id": direct_id}}),
            Some(&alice),
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        get(&direct_id, &alice)
            .await
            .expect("sends")
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_upload_download_and_reach_the_model_on_sqlite() {
    attachments_round_trip(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_upload_download_and_reach_the_model_on_postgres() {
    attachments_round_trip(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_or_of_refused_types_are_refused_in_json() {
    let app = secured(Db::Sqlite).await;
    let alice = user_token("alice");
    let small = create_attachment(&app, &alice, "a.txt", "text/plain", 10).await;
    let id = small["id"].as_str().expect("id").to_owned();
    let response = app
        .client
        .put(format!("{}/attachments/{id}", app.base))
        .bearer_auth(&alice)
        .body(vec![b'x'; 2048])
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_large");
    // Nothing was stored: the bytes are still missing.
    let response = app
        .client
        .get(format!("{}/attachments/{id}", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 404);

    let direct = |form: Form| {
        app.client
            .post(format!("{}/attachments", app.base))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
    };
    let response = direct(file_form("big.txt", "text/plain", &[b'x'; 2048]))
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 413);
    let response = direct(file_form("run.exe", "application/x-msdownload", b"MZ"))
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("application/x-msdownload"),
        "{body}"
    );
    let response = direct(Form::new().text("other", "no file here"))
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 400);
    let response = app
        .client
        .post(format!("{}/attachments", app.base))
        .bearer_auth(&alice)
        .body("raw bytes")
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 400);
}
