//! Every request type over HTTP, against SQLite and PostgreSQL.

use serde_json::json;
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

async fn full_conversation(db: Db) {
    let app = spawn_app(db).await;

    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok");

    // threads.create streams the reference's event order as bare data frames.
    app.model
        .push_turn(ScriptedTurn::text("").with_text_chunks(&["Lorem", " ipsum", " dolor"]));
    let created = app.post(create("Hello")).await;
    assert_eq!(created.status, 200);
    assert!(
        created.content_type.starts_with("text/event-stream"),
        "{}",
        created.content_type
    );
    assert_eq!(
        created
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-cache")
    );
    assert_eq!(
        created
            .headers
            .get("x-accel-buffering")
            .and_then(|v| v.to_str().ok()),
        Some("no")
    );
    assert!(created.headers.contains_key("x-request-id"));
    assert!(created.raw.starts_with("data: {"), "{}", created.raw);
    assert_eq!(
        kinds(&created.events),
        [
            "thread.created",
            "thread.item.done:user_message",
            "stream_options",
            "thread.item.added:assistant_message",
            "thread.item.updated:assistant_message.content_part.added",
            "thread.item.updated:assistant_message.content_part.text_delta",
            "thread.item.updated:assistant_message.content_part.text_delta",
            "thread.item.updated:assistant_message.content_part.text_delta",
            "thread.item.updated:assistant_message.content_part.done",
            "thread.item.done:assistant_message",
        ]
    );
    let thread_id = created.events[0]["thread"]["id"]
        .as_str()
        .expect("thread id")
        .to_owned();

    app.model.push_turn(ScriptedTurn::text("Second answer"));
    let second = app.post(add_message(&thread_id, "And again")).await;
    assert_eq!(second.status, 200);
    assert_eq!(kinds(&second.events)[0], "thread.item.done:user_message");
    let conversation = app.model.requests()[1].conversation().to_vec();
    let roles: Vec<_> = conversation
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);

    let thread = app
        .post(json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(thread.status, 200);
    let texts: Vec<_> = thread.json["items"]["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        ["Hello", "Lorem ipsum dolor", "And again", "Second answer"]
    );

    let page = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "limit": 3}}))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        page.json["data"][0]["content"][0]["text"], "Second answer",
        "newest first by default"
    );
    assert_eq!(page.json["has_more"], true);
    let rest = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "limit": 3, "after": page.json["after"]}}))
        .await;
    assert_eq!(rest.json["data"][0]["content"][0]["text"], "Hello");
    assert_eq!(rest.json["has_more"], false);

    let renamed = app.post(json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Greetings"}})).await;
    assert_eq!(renamed.json["title"], "Greetings");
    let listed = app
        .post(json!({"type": "threads.list", "params": {"limit": 10}}))
        .await;
    assert_eq!(listed.json["data"][0]["title"], "Greetings");

    let answer_id = texts
        .len()
        .checked_sub(1)
        .map(|_| thread.json["items"]["data"][1]["id"].clone())
        .expect("answer");
    let feedback = app.post(json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [answer_id], "kind": "positive"}})).await;
    assert_eq!((feedback.status, feedback.json.clone()), (200, json!({})));

    // Retry after the first message: everything after it goes, a new answer comes.
    let first_id = thread.json["items"]["data"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.model
        .push_turn(ScriptedTurn::text("A better first answer"));
    let retried = app.post(json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": first_id}})).await;
    assert_eq!(retried.status, 200);
    let after_retry = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}))
        .await;
    let texts: Vec<_> = after_retry.json["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["Hello", "A better first answer"]);

    // Attachments: two-phase upload descriptor pointing at this server.
    let attachment = app.post(json!({"type": "attachments.create", "params": {"name": "notes.txt", "size": 12, "mime_type": "text/plain"}})).await;
    assert_eq!(attachment.status, 200, "{}", attachment.raw);
    assert_eq!(attachment.json["type"], "file");
    assert!(
        attachment.json["upload_descriptor"]["url"]
            .as_str()
            .unwrap_or_default()
            .contains("/attachments/")
    );
    let attachment_id = attachment.json["id"].as_str().expect("id").to_owned();
    let deleted = app
        .post(json!({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}))
        .await;
    assert_eq!((deleted.status, deleted.json.clone()), (200, json!({})));
    let again = app
        .post(json!({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}))
        .await;
    assert_eq!(again.status, 404);

    let deleted = app
        .post(json!({"type": "threads.delete", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!((deleted.status, deleted.json.clone()), (200, json!({})));
    let gone = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_conversation_over_http_on_sqlite() {
    full_conversation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_conversation_over_http_on_postgres() {
    full_conversation(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_fails_ends_the_stream_with_a_retryable_error_event() {
    let app = spawn_app(Db::Sqlite).await;
    app.model.push_turn(ScriptedTurn::http_error(500, "boom"));
    app.model.push_turn(ScriptedTurn::http_error(500, "boom"));
    app.model.push_turn(ScriptedTurn::http_error(500, "boom"));
    let reply = app.post(create("Hello")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.events.last(),
        Some(&json!({"type": "error", "code": "stream.error", "allow_retry": true}))
    );
    assert!(
        !reply.raw.contains("boom"),
        "the provider's body never reaches the client"
    );
}
