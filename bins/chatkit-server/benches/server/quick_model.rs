//! A minimal Chat Completions endpoint with `TCP_NODELAY`: the agent runtime's model with no
//! latency at all.
//!
//! The shared fake (`test_support::fake_openai`) serves through `axum::serve`, which leaves
//! Nagle's algorithm on: each of its answers waits about 40 ms for the client's delayed ACK (the
//! `fake-model` benchmark shows it). This one writes each answer in one `write` on a socket with
//! `TCP_NODELAY`, so what remains is the server's own cost. It always answers the same 40 words.

use std::net::SocketAddr;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts the endpoint on 127.0.0.1 and returns its API root (`http://127.0.0.1:PORT/v1`).
pub async fn start(words: Vec<String>) -> anyhow::Result<String> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let address = listener.local_addr()?;
    let body = answer(&words);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let _ = serve(stream, body).await;
            });
        }
    });
    Ok(format!("http://{address}/v1"))
}

/// The whole SSE body of one answer, as OpenAI streams it: a role chunk, one chunk per word, a
/// finish chunk, a usage chunk and `[DONE]`.
fn answer(words: &[String]) -> String {
    let chunk = |choices: serde_json::Value| {
        let chunk = json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake-model",
            "choices": choices,
        });
        format!("data: {chunk}\n\n")
    };
    let mut body = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
    );
    for word in words {
        body.push_str(&chunk(
            json!([{"index": 0, "delta": {"content": word}, "finish_reason": null}]),
        ));
    }
    body.push_str(&chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    ));
    let usage = json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": 50, "completion_tokens": words.len(), "total_tokens": 50 + words.len()},
    });
    body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    body
}

/// Answers every request on a kept-alive connection with `body`.
async fn serve(mut stream: TcpStream, body: String) -> anyhow::Result<()> {
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut read = [0u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end;
            }
            let count = stream.read(&mut read).await?;
            if count == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&read[..count]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + 4 + length {
            let count = stream.read(&mut read).await?;
            if count == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&read[..count]);
        }
        buffer.drain(..head_end + 4 + length);
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}
