//! The streaming pipeline: event order, persistence, errors, retries, tool outputs, structured
//! input, thread updates and one stream per thread.

use std::time::Duration;

use chatkit_engine::{EngineConfig, EngineError};
use chatkit_protocol::{
    StructuredInput, StructuredInputItem, StructuredInputOption, StructuredInputStatus, ThreadItem,
    ThreadStreamEvent,
};
use chatkit_store::ItemIdKind;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn create_streams_in_the_reference_order_and_persists_both_messages() {
    let h = Harness::new();
    let events = h.events("alice", create("Hello")).await.expect("streams");
    assert_eq!(
        kinds(&events),
        [
            "thread.created",
            "thread.item.done:user_message",
            "stream_options",
            "thread.item.added:assistant_message",
            "thread.item.updated:assistant_message.content_part.added",
            "thread.item.updated:assistant_message.content_part.text_delta",
            "thread.item.updated:assistant_message.content_part.text_delta",
            "thread.item.updated:assistant_message.content_part.done",
            "thread.item.done:assistant_message",
        ]
    );
    assert_eq!(events[2]["stream_options"], json!({"allow_cancel": true}));
    let thread_id = events[0]["thread"]["id"].as_str().expect("id");
    assert!(thread_id.starts_with("thr_"));
    let items = h.items("alice", thread_id).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["content"][0]["text"], "Hello");
    assert_eq!(items[1]["content"][0]["text"], "Hello world");
    // Every item has its own id.
    assert_ne!(items[0]["id"], items[1]["id"]);

    let second = h
        .events("alice", add_message(thread_id, "Again"))
        .await
        .expect("streams");
    assert_eq!(kinds(&second)[0], "thread.item.done:user_message");
    assert_eq!(h.items("alice", thread_id).await.len(), 4);
    let calls = h.server.calls.lock().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].history.len(),
        3,
        "the responder sees the thread including the new message"
    );
    assert_eq!(
        calls[1].input.as_ref().map(|m| m.text()),
        Some("Again".to_owned())
    );
}

#[tokio::test]
async fn request_metadata_reaches_the_responder() {
    let h = Harness::new();
    let mut request = create("Hello");
    request["metadata"] = json!({"page": {"url": "/courses/rust", "title": "Rust 101"}});
    h.events("alice", request).await.expect("streams");
    let calls = h.server.calls.lock().clone();
    assert_eq!(calls[0].metadata["page"]["title"], "Rust 101");
}

#[tokio::test]
async fn responder_errors_become_error_events_and_end_the_stream() {
    let h = Harness::new();
    h.server.push(Script {
        fail: Some(|| EngineError::Custom {
            message: "Quota reached".into(),
            allow_retry: false,
        }),
        ..Script::answer(&["Par"])
    });
    let events = h.events("alice", create("Hello")).await.expect("streams");
    let last = events.last().expect("events");
    assert_eq!(
        last,
        &json!({"type": "error", "code": "custom", "message": "Quota reached", "allow_retry": false})
    );

    let thread_id = h.create_thread("bob", "first").await;
    h.server.push(Script {
        fail: Some(|| EngineError::Internal("database exploded at 10.0.0.3".into())),
        ..Script::default()
    });
    let events = h
        .events("bob", add_message(&thread_id, "second"))
        .await
        .expect("streams");
    let last = events.last().expect("events");
    assert_eq!(
        last,
        &json!({"type": "error", "code": "stream.error", "allow_retry": true}),
        "internal details never leak"
    );
}

#[tokio::test]
async fn a_responder_that_renames_the_thread_announces_and_saves_it() {
    let h = Harness::new();
    h.server.push(Script {
        title: Some("Weekend plans"),
        ..Script::answer(&["Sure"])
    });
    let events = h
        .events("alice", create("Plan my weekend"))
        .await
        .expect("streams");
    let updated: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "thread.updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["thread"]["title"], "Weekend plans");
    let thread_id = events[0]["thread"]["id"].as_str().expect("id");
    let thread = h
        .json(
            "alice",
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await
        .expect("found");
    assert_eq!(thread["title"], "Weekend plans");
}

#[tokio::test]
async fn hidden_items_are_stored_but_never_sent() {
    let h = Harness::new();
    h.server.push(Script {
        hidden_note: Some("remember: the user is a teacher"),
        ..Script::answer(&["Ok"])
    });
    let events = h.events("alice", create("Hello")).await.expect("streams");
    assert!(
        !serde_json::to_string(&events)
            .expect("json")
            .contains("teacher")
    );
    let thread_id = events[0]["thread"]["id"].as_str().expect("id");
    let stored = h.stored("alice", thread_id).await;
    assert!(stored.iter().any(|item| matches!(item, ThreadItem::SdkHiddenContext(note) if note.content.contains("teacher"))));
    assert!(
        h.items("alice", thread_id)
            .await
            .iter()
            .all(|item| item["type"] != "sdk_hidden_context")
    );
}

#[tokio::test]
async fn retry_deletes_everything_after_the_message_and_answers_again() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Question").await;
    h.events("alice", add_message(&thread_id, "Follow-up"))
        .await
        .expect("streams");
    let items = h.items("alice", &thread_id).await;
    assert_eq!(items.len(), 4);
    let first_question = items[0]["id"].as_str().expect("id").to_owned();
    h.server.push(Script::answer(&["Better", " answer"]));
    let events = h
        .events("alice", json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": first_question}}))
        .await
        .expect("streams");
    assert_eq!(kinds(&events)[0], "stream_options");
    let items = h.items("alice", &thread_id).await;
    let texts: Vec<_> = items
        .iter()
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["Question", "Better answer"]);
    let calls = h.server.calls.lock().clone();
    assert_eq!(
        calls
            .last()
            .and_then(|c| c.input.as_ref())
            .map(|m| m.id.clone()),
        Some(first_question.clone())
    );

    // Retrying after an assistant message is refused before anything is deleted.
    let answer = items[1]["id"].as_str().expect("id");
    let err = h.stream("alice", json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": answer}})).await.expect_err("not a user message");
    assert_eq!(err.status(), 400);
    assert_eq!(h.items("alice", &thread_id).await.len(), 2);
}

#[tokio::test]
async fn client_tool_output_completes_the_pending_call_and_continues() {
    let h = Harness::new();
    h.server.push(Script {
        client_tool: true,
        ..Script::default()
    });
    let thread_id = h.create_thread("alice", "Where am I?").await;
    let items = h.items("alice", &thread_id).await;
    assert_eq!(items.last().expect("items")["type"], "client_tool_call");
    assert_eq!(items.last().expect("items")["status"], "pending");

    h.server.push(Script::answer(&["You are in Paris"]));
    let events = h
        .events("alice", json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"city": "Paris"}}}))
        .await
        .expect("streams");
    assert_eq!(kinds(&events)[0], "stream_options");
    let items = h.items("alice", &thread_id).await;
    let call = items
        .iter()
        .find(|item| item["type"] == "client_tool_call")
        .expect("call kept");
    assert_eq!(call["status"], "completed");
    assert_eq!(call["output"], json!({"city": "Paris"}));
    assert_eq!(
        items.last().expect("items")["content"][0]["text"],
        "You are in Paris"
    );
    assert!(
        h.server
            .calls
            .lock()
            .last()
            .expect("called")
            .input
            .is_none()
    );

    // No pending call any more: a second output is refused before a stream starts.
    let err = h.stream("alice", json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": 1}})).await.expect_err("nothing pending");
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn structured_input_answers_replace_the_item_then_the_responder_continues() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "Book a table").await;
    let ctx = user("alice").store();
    let item = ThreadItem::StructuredInput(StructuredInputItem {
        id: h.store.generate_item_id(
            ItemIdKind::Task,
            &h.store.load_thread(&thread_id, &ctx).await.expect("thread"),
            &ctx,
        ),
        thread_id: thread_id.clone(),
        created_at: chatkit_protocol::time::now(),
        status: StructuredInputStatus::Pending,
        inputs: vec![
            StructuredInput::MultipleChoice {
                id: "time".into(),
                question: "When?".into(),
                answer: None,
                options: vec![
                    StructuredInputOption {
                        value: "19:00".into(),
                    },
                    StructuredInputOption {
                        value: "20:00".into(),
                    },
                ],
                multiple: false,
            },
            StructuredInput::Freeform {
                id: "notes".into(),
                question: "Anything else?".into(),
                answer: None,
                description: None,
            },
        ],
    });
    h.store
        .add_thread_item(&thread_id, &item, &ctx)
        .await
        .expect("adds");
    let events = h
        .events(
            "alice",
            json!({"type": "threads.add_structured_input", "params": {"thread_id": thread_id, "item_id": item.id(), "input": {"answers": {"time": {"values": ["20:00", "19:00"]}, "unknown": {"values": ["x"]}}}}}),
        )
        .await
        .expect("streams");
    assert_eq!(
        kinds(&events)[..2],
        ["stream_options", "thread.item.replaced:structured_input"]
    );
    let stored = h
        .store
        .load_item(&thread_id, item.id(), &ctx)
        .await
        .expect("kept");
    let ThreadItem::StructuredInput(answered) = stored else {
        panic!("kind changed")
    };
    assert_eq!(answered.status, StructuredInputStatus::Answered);
    let answers: Vec<Value> = answered
        .inputs
        .iter()
        .map(|input| serde_json::to_value(input).expect("json")["answer"].clone())
        .collect();
    assert_eq!(
        answers,
        [
            json!({"values": ["20:00"], "skipped": false}),
            json!({"values": [], "skipped": true})
        ]
    );
    let again = h
        .stream("alice", json!({"type": "threads.add_structured_input", "params": {"thread_id": thread_id, "item_id": item.id(), "input": {}}}))
        .await
        .expect_err("no longer pending");
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn a_second_stream_on_a_thread_waits_for_the_first_and_never_interleaves() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "one").await;
    let (script, gate, reached) = Script::paused(&["first", " answer"], 1);
    h.server.push(script);
    h.server.push(Script::answer(&["second answer"]));
    let first = h
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts");
    reached.notified().await;
    let second = {
        let engine = h.engine.clone();
        let body = add_message(&thread_id, "three").to_string();
        tokio::spawn(async move { engine.process(body.as_bytes(), user("alice")).await })
    };
    // The second request is queued behind the first: release the first and both complete.
    tokio::task::yield_now().await;
    gate.notify_one();
    first.collect_all().await;
    let second = match second.await.expect("joins").expect("runs") {
        chatkit_engine::Response::Stream(events) => events.collect_all().await,
        chatkit_engine::Response::Json(_) => panic!("streams"),
    };
    assert!(second.len() > 3);
    let texts: Vec<String> = h
        .items("alice", &thread_id)
        .await
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
        [
            "one",
            "Hello world",
            "two",
            "first answer",
            "three",
            "second answer"
        ]
    );
}

#[tokio::test]
async fn a_thread_busy_for_too_long_answers_409_before_streaming() {
    let h = Harness::with_config(EngineConfig {
        thread_busy_timeout: Duration::from_millis(50),
        ..EngineConfig::default()
    });
    let thread_id = h.create_thread("alice", "one").await;
    let (script, gate, reached) = Script::paused(&["slow"], 0);
    h.server.push(script);
    let first = h
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts");
    reached.notified().await;
    let err = h
        .stream("alice", add_message(&thread_id, "three"))
        .await
        .expect_err("busy");
    assert_eq!(err.status(), 409);
    gate.notify_one();
    first.collect_all().await;
    // Nothing of the refused request was stored.
    assert_eq!(h.items("alice", &thread_id).await.len(), 4);
}

/// The new thread is locked from before `thread.created` is sent, so a client that answers that
/// event with a message on the new id waits for the first response instead of interleaving.
#[tokio::test]
async fn a_message_sent_as_soon_as_a_thread_is_created_waits_for_the_first_answer() {
    let h = Harness::new();
    let (script, gate, reached) = Script::paused(&["first", " answer"], 1);
    h.server.push(script);
    h.server.push(Script::answer(&["second answer"]));
    let mut first = h.stream("alice", create("one")).await.expect("starts");
    let Some(ThreadStreamEvent::ThreadCreated { thread }) = first.recv().await else {
        panic!("thread.created comes first");
    };
    reached.notified().await;
    let second = {
        let engine = h.engine.clone();
        let body = add_message(&thread.id, "two").to_string();
        tokio::spawn(async move { engine.process(body.as_bytes(), user("alice")).await })
    };
    tokio::task::yield_now().await;
    gate.notify_one();
    first.collect_all().await;
    match second.await.expect("joins").expect("runs") {
        chatkit_engine::Response::Stream(events) => events.collect_all().await,
        chatkit_engine::Response::Json(_) => panic!("streams"),
    };
    let texts: Vec<String> = h
        .items("alice", &thread.id)
        .await
        .iter()
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["one", "first answer", "two", "second answer"]);
}

#[tokio::test]
async fn a_new_thread_is_busy_while_its_first_answer_streams() {
    let h = Harness::with_config(EngineConfig {
        thread_busy_timeout: Duration::from_millis(50),
        ..EngineConfig::default()
    });
    let (script, gate, reached) = Script::paused(&["slow"], 0);
    h.server.push(script);
    let mut first = h.stream("alice", create("one")).await.expect("starts");
    let Some(ThreadStreamEvent::ThreadCreated { thread }) = first.recv().await else {
        panic!("thread.created comes first");
    };
    reached.notified().await;
    let err = h
        .stream("alice", add_message(&thread.id, "two"))
        .await
        .expect_err("busy");
    assert_eq!(err.status(), 409);
    gate.notify_one();
    first.collect_all().await;
    assert_eq!(h.items("alice", &thread.id).await.len(), 2);
}
