//! Graceful shutdown: in-flight streams finish within the grace period, or are cancelled with
//! their partial output persisted.

use std::time::Duration;

use serde_json::json;
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_finishes_before_the_server_stops() {
    let mut app = spawn_app(Db::Sqlite).await;
    app.model.push_turn(
        ScriptedTurn::text("")
            .with_text_chunks(&["one", " two", " three"])
            .with_chunk_latency(Duration::from_millis(100)),
    );
    let client = app.client.clone();
    let url = format!("{}/chatkit", app.base);
    let request = tokio::spawn(async move {
        client
            .post(url)
            .body(create("count").to_string())
            .send()
            .await
            .expect("sends")
            .text()
            .await
            .expect("reads")
    });
    // Wait until the stream is running, then stop the server.
    while app.engine.running_streams() == 0 {
        tokio::task::yield_now().await;
    }
    app.stop().await;
    let body = request.await.expect("joins");
    assert!(
        body.contains(r#""text":"one two three""#),
        "the answer completed: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_still_running_after_the_grace_period_are_cancelled_and_keep_their_partial_text() {
    let mut app = spawn_app_with(Db::Sqlite, |settings| {
        settings.server.shutdown_grace_secs = 1
    })
    .await;
    let engine = app.engine.clone();
    app.model.push_turn(
        ScriptedTurn::text("")
            .with_text_chunks(&["partial", " text"])
            .hang_after(3),
    );
    let client = app.client.clone();
    let url = format!("{}/chatkit", app.base);
    let request = tokio::spawn(async move {
        client
            .post(url)
            .body(create("hang").to_string())
            .send()
            .await
            .map(|r| r.status())
    });
    while engine.running_streams() == 0 {
        tokio::task::yield_now().await;
    }
    app.stop().await;
    let _ = request.await;
    let store = engine.store().clone();
    let ctx = chatkit_store::StoreContext::new("local-user");
    let threads = store
        .load_threads(10, None, chatkit_protocol::Order::Desc, &ctx)
        .await
        .expect("lists");
    let items = store
        .load_thread_items(
            &threads.data[0].id,
            None,
            10,
            chatkit_protocol::Order::Asc,
            &ctx,
        )
        .await
        .expect("items");
    let summary: Vec<_> = items
        .data
        .iter()
        .map(|item| (item.kind(), item.plain_text().unwrap_or_default()))
        .collect();
    assert_eq!(summary[0], ("user_message", "hang".to_owned()));
    assert!(
        summary
            .iter()
            .any(|(kind, _)| *kind == "sdk_hidden_context"),
        "{summary:?}"
    );
    let _ = json!({});
}
