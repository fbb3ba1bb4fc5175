//! Cancellation: a client that goes away, and a server that shuts down.

use chatkit_engine::{CANCELLED_NOTE, CancelPolicy, EngineConfig};
use chatkit_protocol::ThreadItem;

use crate::support::*;

#[tokio::test]
async fn a_disconnect_keeps_the_partial_answer_and_a_hidden_note_before_the_next_message() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "one").await;
    let (script, _gate, reached) = Script::paused(&["Once", " upon", " a", " time"], 2);
    h.server.push(script);
    let events = h
        .stream("alice", add_message(&thread_id, "Tell me a story"))
        .await
        .expect("starts");
    reached.notified().await;
    drop(events);
    // The next message queues behind the cancelled stream's cleanup, so the note lands first.
    h.events(
        "alice",
        add_message(&thread_id, "Never mind, what time is it?"),
    )
    .await
    .expect("streams");
    let stored = h.stored("alice", &thread_id).await;
    let summary: Vec<String> = stored
        .iter()
        .map(|item| match item {
            ThreadItem::SdkHiddenContext(note) => format!("hidden:{}", note.content),
            other => format!(
                "{}:{}",
                other.kind(),
                other.plain_text().unwrap_or_default()
            ),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "user_message:one".to_owned(),
            "assistant_message:Hello world".to_owned(),
            "user_message:Tell me a story".to_owned(),
            "assistant_message:Once upon".to_owned(),
            format!("hidden:{CANCELLED_NOTE}"),
            "user_message:Never mind, what time is it?".to_owned(),
            "assistant_message:Hello world".to_owned(),
        ]
    );
    assert!(h.engine.running_streams() == 0);
}

#[tokio::test]
async fn a_disconnect_before_any_text_stores_only_the_note() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "one").await;
    let (script, _gate, reached) = Script::paused(&["never sent"], 0);
    h.server.push(script);
    let events = h
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts");
    reached.notified().await;
    drop(events);
    h.engine.close();
    h.engine.wait_idle().await;
    let kinds: Vec<&str> = h
        .stored("alice", &thread_id)
        .await
        .iter()
        .map(|item| item.kind())
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        kinds,
        [
            "user_message",
            "assistant_message",
            "user_message",
            "sdk_hidden_context"
        ]
    );
}

#[tokio::test]
async fn finish_in_background_persists_the_whole_answer_although_nobody_listens() {
    let h = Harness::with_config(EngineConfig {
        cancel_policy: CancelPolicy::FinishInBackground,
        ..EngineConfig::default()
    });
    let thread_id = h.create_thread("alice", "one").await;
    let (script, gate, reached) = Script::paused(&["The", " whole", " reply"], 1);
    h.server.push(script);
    let events = h
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts");
    reached.notified().await;
    drop(events);
    gate.notify_one();
    h.engine.close();
    h.engine.wait_idle().await;
    let stored = h.stored("alice", &thread_id).await;
    assert_eq!(
        stored.last().and_then(ThreadItem::plain_text).as_deref(),
        Some("The whole reply")
    );
    assert!(!stored.iter().any(ThreadItem::is_hidden));
}

#[tokio::test]
async fn shutdown_cancels_running_streams_and_refuses_new_ones() {
    let h = Harness::new();
    let thread_id = h.create_thread("alice", "one").await;
    let (script, _gate, reached) = Script::paused(&["Partial", " never"], 1);
    h.server.push(script);
    let events = h
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts");
    reached.notified().await;
    h.engine.shutdown();
    h.engine.wait_idle().await;
    let received = events.collect_all().await;
    assert!(!received.is_empty());
    let stored = h.stored("alice", &thread_id).await;
    assert_eq!(stored[3].plain_text().as_deref(), Some("Partial"));
    assert!(stored[4].is_hidden());
    let err = h
        .stream("alice", add_message(&thread_id, "three"))
        .await
        .expect_err("shutting down");
    assert_eq!(err.status(), 503);
}
