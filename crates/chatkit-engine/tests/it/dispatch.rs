//! Non-streaming requests, validation and isolation between users.

use chatkit_engine::EngineError;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn get_by_id_returns_the_thread_with_its_first_page_ascending_and_no_hidden_items() {
    let h = Harness::new();
    h.server.push(Script {
        hidden_note: Some("secret context"),
        ..Script::answer(&["Hi"])
    });
    let thread_id = h.create_thread("alice", "Hello").await;
    let thread = h
        .json(
            "alice",
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await
        .expect("found");
    assert_eq!(thread["id"], thread_id.as_str());
    assert_eq!(thread["status"], json!({"type": "active"}));
    assert_eq!(thread["metadata"], json!({}));
    let items = thread["items"]["data"].as_array().expect("items");
    let kinds: Vec<_> = items
        .iter()
        .map(|item| item["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["user_message", "assistant_message"]);
    // The hidden note is stored all the same.
    assert!(
        h.stored("alice", &thread_id)
            .await
            .iter()
            .any(|item| item.is_hidden())
    );
}

#[tokio::test]
async fn unknown_and_foreign_threads_are_not_found_for_every_request() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Hello").await;
    let item_id = h.items("alice", &thread_id).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for thread in [thread_id.as_str(), "thr_doesnotexist"] {
        let requests = [
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
            json!({"type": "items.list", "params": {"thread_id": thread}}),
            json!({"type": "threads.update", "params": {"thread_id": thread, "title": "mine now"}}),
            json!({"type": "threads.delete", "params": {"thread_id": thread}}),
            json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [item_id], "kind": "positive"}}),
            json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "action": {"type": "x"}}}),
        ];
        for request in requests {
            let err = h
                .json("mallory", request.clone())
                .await
                .expect_err("must not be visible");
            assert!(
                matches!(err, EngineError::NotFound { .. }),
                "{request}: {err:?}"
            );
            assert_eq!(err.status(), 404);
        }
        for request in [
            add_message(thread, "hi"),
            json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": item_id}}),
            json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread, "result": 1}}),
            json!({"type": "threads.custom_action", "params": {"thread_id": thread, "action": {"type": "x"}}}),
            json!({"type": "threads.add_structured_input", "params": {"thread_id": thread, "item_id": item_id, "input": {}}}),
        ] {
            let err = h
                .stream("mallory", request.clone())
                .await
                .expect_err("must not be visible");
            assert_eq!(err.status(), 404, "{request}: {err:?}");
        }
    }
    // Nothing of Alice's changed.
    let thread = h
        .json(
            "alice",
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await
        .expect("still there");
    assert!(thread.get("title").is_none());
    assert_eq!(h.items("alice", &thread_id).await.len(), 2);
    let mallory = h
        .json("mallory", json!({"type": "threads.list", "params": {}}))
        .await
        .expect("lists");
    assert_eq!(mallory["data"], json!([]));
}

#[tokio::test]
async fn listing_threads_pages_newest_first_by_default() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(h.create_thread("alice", &format!("thread {n}")).await);
    }
    let first = h
        .json(
            "alice",
            json!({"type": "threads.list", "params": {"limit": 2}}),
        )
        .await
        .expect("lists");
    let page: Vec<_> = first["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(page, [ids[4].clone(), ids[3].clone()]);
    assert_eq!(first["has_more"], true);
    assert_eq!(
        first["data"][0]["items"],
        json!({"data": [], "has_more": false})
    );
    let after = first["after"].as_str().expect("cursor");
    let second = h
        .json(
            "alice",
            json!({"type": "threads.list", "params": {"limit": 2, "after": after}}),
        )
        .await
        .expect("lists");
    let page: Vec<_> = second["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(page, [ids[2].clone(), ids[1].clone()]);
    let asc = h
        .json(
            "alice",
            json!({"type": "threads.list", "params": {"order": "asc", "limit": 1}}),
        )
        .await
        .expect("lists");
    assert_eq!(asc["data"][0]["id"], ids[0].as_str());
}

#[tokio::test]
async fn bad_input_is_a_clear_400_that_names_the_problem() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Hello").await;
    let cases = [
        (
            json!({"type": "threads.list", "params": {"limit": "5"}}),
            "limit",
        ),
        (
            json!({"type": "threads.list", "params": {"limit": -1}}),
            "limit",
        ),
        (
            json!({"type": "threads.list", "params": {"limit": 0}}),
            "limit",
        ),
        (
            json!({"type": "threads.list", "params": {"limit": 9223372036854775808u64}}),
            "limit",
        ),
        (
            json!({"type": "items.list", "params": {"thread_id": thread_id, "after": "msg_nope"}}),
            "cursor",
        ),
        (
            json!({"type": "threads.get_by_id", "params": {}}),
            "thread_id",
        ),
        (
            json!({"type": "threads.explode", "params": {}}),
            "threads.explode",
        ),
        (
            json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [], "kind": "positive"}}),
            "item_ids",
        ),
        (
            json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": ["x"], "kind": "meh"}}),
            "kind",
        ),
    ];
    for (request, named) in cases {
        let err = h
            .json("alice", request.clone())
            .await
            .expect_err("rejected");
        assert_eq!(err.status(), 400, "{request}: {err:?}");
        assert!(
            err.to_string().contains(named),
            "{request}: `{err}` should name `{named}`"
        );
    }
    for body in [&b"{not json"[..], b"", b"[]", b"{\"type\": 5}"] {
        let err = h
            .engine
            .process(body, user("alice"))
            .await
            .expect_err("rejected");
        assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(body));
    }
    let err = h.stream("alice", json!({"type": "threads.create", "params": {"input": {"content": [], "attachments": [], "inference_options": {}}}})).await.expect_err("empty message");
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn update_renames_and_delete_removes_everything() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Hello").await;
    let updated = h.json("alice", json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Groceries"}})).await.expect("updates");
    assert_eq!(updated["title"], "Groceries");
    let listed = h
        .json("alice", json!({"type": "threads.list", "params": {}}))
        .await
        .expect("lists");
    assert_eq!(listed["data"][0]["title"], "Groceries");
    assert_eq!(
        h.json(
            "alice",
            json!({"type": "threads.delete", "params": {"thread_id": thread_id}})
        )
        .await
        .expect("deletes"),
        json!({})
    );
    let err = h
        .json(
            "alice",
            json!({"type": "items.list", "params": {"thread_id": thread_id}}),
        )
        .await
        .expect_err("gone");
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn feedback_is_recorded_for_items_of_the_thread_only() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Hello").await;
    let items = h.items("alice", &thread_id).await;
    let answer = items[1]["id"].as_str().expect("id");
    let ok = h.json("alice", json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [answer], "kind": "negative"}})).await;
    assert_eq!(ok.expect("recorded"), json!({}));
    let err = h.json("alice", json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": ["msg_other"], "kind": "negative"}})).await.expect_err("unknown item");
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn unsupported_hooks_answer_501_and_transcription_checks_base64() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Hello").await;
    let err = h.json("alice", json!({"type": "input.transcribe", "params": {"audio_base64": "%%%", "mime_type": "audio/webm"}})).await.expect_err("bad base64");
    assert_eq!(err.status(), 400);
    let err = h.json("alice", json!({"type": "input.transcribe", "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"}})).await.expect_err("unsupported");
    assert_eq!(err.status(), 501);
    let err = h.stream("alice", json!({"type": "threads.custom_action", "params": {"thread_id": thread_id, "action": {"type": "x"}}})).await.expect_err("unsupported");
    assert_eq!(err.status(), 501);
    let err = h.json("alice", json!({"type": "attachments.create", "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"}})).await.expect_err("no attachment store");
    assert_eq!(err.status(), 501);
}

#[tokio::test]
async fn attachments_are_created_with_an_upload_descriptor_and_deleted_even_if_never_uploaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: std::sync::Arc<dyn chatkit_store::Store> =
        std::sync::Arc::new(chatkit_store::MemoryStore::new());
    let attachments = std::sync::Arc::new(chatkit_store::LocalDiskAttachmentStore::new(
        chatkit_store::LocalDiskConfig {
            root: dir.path().to_owned(),
            upload_base_url: "http://127.0.0.1:8000/attachments".into(),
            preview_base_url: "http://127.0.0.1:8000/attachments".into(),
            max_bytes: 1024,
        },
    ));
    let engine = chatkit_engine::Engine::with_attachments(
        store,
        attachments,
        std::sync::Arc::new(ScriptedServer::default()),
        chatkit_engine::EngineConfig::default(),
    );
    let call = |body: serde_json::Value, who: &'static str| {
        let engine = engine.clone();
        async move {
            match engine.process(body.to_string().as_bytes(), user(who)).await {
                Ok(chatkit_engine::Response::Json(bytes)) => {
                    Ok(serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"))
                }
                Ok(chatkit_engine::Response::Stream(_)) => panic!("json expected"),
                Err(err) => Err(err),
            }
        }
    };
    let image = call(json!({"type": "attachments.create", "params": {"name": "cat.png", "size": 100, "mime_type": "image/png"}}), "alice").await.expect("creates");
    assert_eq!(image["type"], "image");
    assert_eq!(image["upload_descriptor"]["method"], "PUT");
    assert!(
        image["preview_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with(image["id"].as_str().unwrap_or("?"))
    );
    let id = image["id"].as_str().expect("id").to_owned();
    let err = call(
        json!({"type": "attachments.delete", "params": {"attachment_id": id}}),
        "mallory",
    )
    .await
    .expect_err("not Mallory's");
    assert_eq!(err.status(), 404);
    call(
        json!({"type": "attachments.delete", "params": {"attachment_id": id}}),
        "alice",
    )
    .await
    .expect("deletes");
    let err = call(
        json!({"type": "attachments.delete", "params": {"attachment_id": id}}),
        "alice",
    )
    .await
    .expect_err("gone");
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn deleting_a_thread_deletes_the_attachments_sent_in_it_records_and_bytes() {
    use chatkit_store::AttachmentStore;
    let dir = tempfile::tempdir().expect("tempdir");
    let store: std::sync::Arc<dyn chatkit_store::Store> =
        std::sync::Arc::new(chatkit_store::MemoryStore::new());
    let attachments = std::sync::Arc::new(chatkit_store::LocalDiskAttachmentStore::new(
        chatkit_store::LocalDiskConfig {
            root: dir.path().to_owned(),
            max_bytes: 1024,
            ..chatkit_store::LocalDiskConfig::default()
        },
    ));
    let engine = chatkit_engine::Engine::with_attachments(
        std::sync::Arc::clone(&store),
        attachments.clone(),
        std::sync::Arc::new(ScriptedServer::default()),
        chatkit_engine::EngineConfig::default(),
    );
    let json_of = |response| match response {
        chatkit_engine::Response::Json(bytes) => {
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")
        }
        chatkit_engine::Response::Stream(_) => panic!("json expected"),
    };
    let body = json!({"type": "attachments.create", "params": {"name": "notes.txt", "size": 5, "mime_type": "text/plain"}});
    let created = json_of(
        engine
            .process(body.to_string().as_bytes(), user("alice"))
            .await
            .expect("creates"),
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let ctx = user("alice").store();
    attachments
        .write_bytes(&id, b"hello", &ctx)
        .await
        .expect("uploads");
    let mut message = create("see attached");
    message["params"]["input"]["attachments"] = json!([id]);
    let events = match engine
        .process(message.to_string().as_bytes(), user("alice"))
        .await
        .expect("streams")
    {
        chatkit_engine::Response::Stream(events) => events.collect_all().await,
        chatkit_engine::Response::Json(_) => panic!("stream expected"),
    };
    let thread_id = match &events[0] {
        chatkit_protocol::ThreadStreamEvent::ThreadCreated { thread } => thread.id.clone(),
        other => panic!("thread.created first, got {other:?}"),
    };
    let stored = store
        .load_attachment(&id, &ctx)
        .await
        .expect("kept while the thread lives");
    assert_eq!(stored.base().thread_id.as_deref(), Some(thread_id.as_str()));
    let delete = json!({"type": "threads.delete", "params": {"thread_id": thread_id}});
    json_of(
        engine
            .process(delete.to_string().as_bytes(), user("alice"))
            .await
            .expect("deletes"),
    );
    assert!(
        store
            .load_attachment(&id, &ctx)
            .await
            .expect_err("record gone")
            .is_not_found()
    );
    assert!(
        attachments
            .read_bytes(&id, &ctx)
            .await
            .expect_err("bytes gone")
            .is_not_found()
    );
}
