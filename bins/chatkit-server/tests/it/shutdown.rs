//! Graceful shutdown: in-flight streams finish within the grace period, or are cancelled with
//! their partial output persisted.

use std::time::Duration;

use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

/// Starts a streaming request in the background; the receiver fires once the body received so far
/// contains `marker`, and the handle yields the whole body.
fn start_stream(
    app: &TestApp,
    text: &str,
    marker: &'static str,
) -> (
    tokio::task::JoinHandle<String>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let client = app.client.clone();
    let url = format!("{}/chatkit", app.base);
    let body = create(text).to_string();
    let (started, on_started) = tokio::sync::oneshot::channel();
    let request = tokio::spawn(async move {
        let mut response = client.post(url).body(body).send().await.expect("sends");
        let mut received = Vec::new();
        let mut started = Some(started);
        while let Ok(Some(chunk)) = response.chunk().await {
            received.extend_from_slice(&chunk);
            if String::from_utf8_lossy(&received).contains(marker)
                && let Some(started) = started.take()
            {
                let _ = started.send(());
            }
        }
        String::from_utf8_lossy(&received).into_owned()
    });
    (request, on_started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_finishes_before_the_server_stops() {
    let mut app = spawn_app(Db::Sqlite).await;
    app.model.push_turn(
        ScriptedTurn::text("")
            .with_text_chunks(&["one", " two", " three"])
            .with_chunk_latency(Duration::from_millis(100)),
    );
    let (request, started) = start_stream(&app, "count", "thread.created");
    // The first frame (`thread.created`) is on the wire; the model's three chunks take 300 ms more.
    tokio::time::timeout(Duration::from_secs(10), started)
        .await
        .expect("the stream starts")
        .expect("signalled");
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
    let (request, started) = start_stream(&app, "hang", "text_delta");
    tokio::time::timeout(Duration::from_secs(10), started)
        .await
        .expect("text streams")
        .expect("signalled");
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
    // The question, the partial answer the user saw, and the note that the answer was cut off.
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(summary[0], ("user_message", "hang".to_owned()));
    assert_eq!(summary[1].0, "assistant_message");
    assert!(summary[1].1.starts_with("partial"), "{summary:?}");
    assert_eq!(summary[2].0, "sdk_hidden_context");
}
