//! A client that stops reading must not make the server buffer without bound: after the write
//! timeout the stream counts as a disconnect, so the cancel policy applies and the partial answer
//! is saved, while the model is still far from done.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::fake_openai::ScriptedTurn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Db, spawn_app_with};

const DELTAS: usize = 10_000;
const DELTA_CHARS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_and_the_partial_answer_saved() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.server.stream_write_timeout_secs = 1;
    })
    .await;
    // 10,000 deltas of 500 characters: about 6 MB of frames, more than the socket buffers of
    // both ends can hide.
    let delta = "x".repeat(DELTA_CHARS);
    let chunks: Vec<&str> = std::iter::repeat_n(delta.as_str(), DELTAS).collect();
    app.model
        .push_turn(ScriptedTurn::text("").with_text_chunks(&chunks));

    // A raw client with a small receive buffer, so the server sees it stall quickly.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let address = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let mut stream = socket.connect(address).await.expect("connects");
    let body = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "Tell me everything"}],
        "attachments": [], "inference_options": {}}}})
    .to_string();
    let request = format!(
        "POST /chatkit HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("sends the request");

    // Read up to the end of the first frame (thread.created), then stop reading for good while
    // keeping the connection open.
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let thread_id = loop {
        let read = stream.read(&mut buffer).await.expect("reads");
        assert!(read > 0, "the server closed the stream early");
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received);
        if let Some(start) = text.find("data: ")
            && let Some(end) = text[start..].find("\n\n")
        {
            let frame: Value =
                serde_json::from_str(&text[start + 6..start + end]).expect("a JSON frame");
            assert_eq!(frame["type"], "thread.created", "{frame}");
            break frame["thread"]["id"]
                .as_str()
                .expect("thread id")
                .to_owned();
        }
    };

    // The server gives up on the stalled client and, per the default cancel policy, ends the
    // response (the model request with it) although the client is still connected. (The fake
    // model may well have written its whole answer into the loopback socket buffers by then;
    // what matters is what the engine took from them.)
    // (Closing the engine to new streams lets `wait_idle` return once this one has ended.)
    app.engine.close();
    tokio::time::timeout(Duration::from_secs(120), app.engine.wait_idle())
        .await
        .expect("the stream ends while the client still holds the connection");
    assert_eq!(app.engine.running_streams(), 0);

    // What was produced before the cut is saved, with the note that it was cut; less than the
    // whole answer, because the engine stopped reading the model instead of buffering for the
    // client (what it holds per stream is its bounded channel, nothing more).
    let store = app.engine.store().clone();
    let ctx = chatkit_store::StoreContext::new("local-user");
    let items = store
        .load_thread_items(&thread_id, None, 10, chatkit_protocol::Order::Asc, &ctx)
        .await
        .expect("items");
    let summary: Vec<(&str, usize)> = items
        .data
        .iter()
        .map(|item| (item.kind(), item.plain_text().unwrap_or_default().len()))
        .collect();
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(summary[0].0, "user_message");
    assert_eq!(summary[1].0, "assistant_message");
    assert!(
        summary[1].1 > 0 && summary[1].1 < DELTAS * DELTA_CHARS,
        "a partial answer, not the whole one: {summary:?}"
    );
    assert_eq!(summary[2].0, "sdk_hidden_context");
    drop(stream);
}
