//! Authentication in the server: bearer tokens required, and two users isolated through every
//! request type.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

const SECRET: &str = "a-shared-better-auth-secret-of-at-least-32-bytes";

fn token(user: &str, expires_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let claims = json!({"sub": user, "email": format!("{user}@example.com"), "name": user, "exp": now + expires_in, "iat": now});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("signs")
}

async fn secured_app() -> TestApp {
    spawn_app_with(Db::Sqlite, |settings| {
        settings.auth.shared_secret = Some(SECRET.to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_401_in_json() {
    let app = secured_app().await;
    let body = json!({"type": "threads.list", "params": {}}).to_string();
    for bad in [None, Some("garbage"), Some(token("alice", -3600).as_str())] {
        let reply = app.post_raw(body.clone(), bad, &[]).await;
        assert_eq!(reply.status, 401, "{bad:?}");
        assert_eq!(reply.json["error"]["code"], "unauthorized");
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    let ok = app.post_raw(body, Some(&token("alice", 900)), &[]).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_cannot_reach_each_others_threads_through_any_request() {
    let app = secured_app().await;
    let alice = token("alice", 900);
    let mallory = token("mallory", 900);
    app.model.push_turn(ScriptedTurn::text("Hi Alice"));
    let created = app
        .post_as(create("Alice's secret plan"), Some(&alice))
        .await;
    assert_eq!(created.status, 200);
    let thread_id = created.events[0]["thread"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let item_id = created.events[1]["item"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let attachment = app
        .post_as(json!({"type": "attachments.create", "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"}}), Some(&alice))
        .await;
    let attachment_id = attachment.json["id"].as_str().expect("id").to_owned();

    let attempts = [
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        json!({"type": "items.list", "params": {"thread_id": thread_id}}),
        json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "pwned"}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [item_id], "kind": "negative"}}),
        add_message(&thread_id, "continue Alice's thread"),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": item_id}}),
        json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {}}}),
        json!({"type": "threads.custom_action", "params": {"thread_id": thread_id, "action": {"type": "x"}}}),
        json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id, "action": {"type": "x"}}}),
        json!({"type": "threads.add_structured_input", "params": {"thread_id": thread_id, "item_id": item_id, "input": {}}}),
        json!({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}),
        json!({"type": "threads.delete", "params": {"thread_id": thread_id}}),
    ];
    for attempt in attempts {
        let reply = app.post_as(attempt.clone(), Some(&mallory)).await;
        assert_eq!(reply.status, 404, "{attempt}: {}", reply.raw);
        assert!(!reply.raw.contains("secret plan"));
    }
    let listed = app
        .post_as(
            json!({"type": "threads.list", "params": {}}),
            Some(&mallory),
        )
        .await;
    assert_eq!(listed.json["data"], json!([]));

    // Alice's thread is untouched.
    let thread = app
        .post_as(
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
            Some(&alice),
        )
        .await;
    assert_eq!(thread.status, 200);
    assert!(thread.json.get("title").is_none());
    assert_eq!(
        thread.json["items"]["data"].as_array().map(Vec::len),
        Some(2)
    );
    let kept = app
        .post_as(
            json!({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}),
            Some(&alice),
        )
        .await;
    assert_eq!(
        kept.status, 200,
        "Mallory could not delete Alice's attachment"
    );
    // The user's identity reached the prompt from the token, not from anything the client sent.
    let system = app.model.requests()[0]
        .system_prompt()
        .unwrap_or_default()
        .to_owned();
    assert!(system.contains("alice@example.com"), "{system}");
}
