//! Integration tests: the fake server over real sockets, in-process and as the `fake-openai`
//! process the server's end-to-end tests start.

use std::time::Duration;

use serde_json::json;
use test_support::{FakeOpenAi, ScriptedTurn};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

const PATIENCE: Duration = Duration::from_secs(20);

/// Sends one HTTP/1.1 POST and returns the raw response (status line, headers, body).
async fn post(address: &str, path: &str, body: &serde_json::Value) -> String {
    let body = body.to_string();
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer sk-fake\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn serves_scripted_turns_in_order_and_records_requests() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("first answer"));
    server.push_turn(ScriptedTurn::http_error(503, "busy").with_retry_after(2));
    let address = server.address().to_string();
    let request =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});

    let first = tokio::time::timeout(PATIENCE, post(&address, "/v1/chat/completions", &request))
        .await
        .expect("in time");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        first
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream")
    );
    assert!(first.contains(r#""content":"first ""#) && first.contains("data: [DONE]"));
    assert!(
        !first.contains(r#""usage":"#),
        "usage only when stream_options asks for it"
    );

    let second = post(&address, "/v1/chat/completions", &request).await;
    assert!(second.starts_with("HTTP/1.1 503"), "{second}");
    assert!(second.to_ascii_lowercase().contains("retry-after: 2"));

    let third = post(&address, "/v1/chat/completions", &request).await;
    assert!(
        third.starts_with("HTTP/1.1 500"),
        "an empty script fails loudly: {third}"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("Authorization"), Some("Bearer sk-fake"));
    assert_eq!(requests[0].body, request);
}

#[tokio::test]
async fn the_fake_openai_binary_echoes_in_both_wire_formats() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-openai"))
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the binary reports its address in time")
        .expect("readable stdout")
        .expect("a line");
    let base_url = line
        .strip_prefix("listening on ")
        .expect("the announced format");
    let address = base_url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .expect("http://ADDRESS/v1");
    assert!(address.starts_with("127.0.0.1:"));

    let chat = post(
        address,
        "/v1/chat/completions",
        &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hello fake world"}]}),
    )
    .await;
    for word in ["You ", "said: ", "hello ", "fake ", "world"] {
        assert!(
            chat.contains(&format!(r#""content":"{word}""#)),
            "missing {word:?} in {chat}"
        );
    }
    let responses = post(
        address,
        "/v1/responses",
        &json!({"model": "m", "stream": true, "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi there"}]}
        ]}),
    )
    .await;
    assert!(
        responses.contains("event: response.output_text.delta"),
        "{responses}"
    );
    assert!(responses.contains(r#""delta":"there""#));
    assert!(responses.contains("event: response.completed"));

    child.kill().await.expect("the child stops");
}

/// The JSON body of a raw HTTP response (after the blank line).
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("a JSON body")
}

#[tokio::test]
async fn embeddings_answer_in_the_openai_wire_format_with_deterministic_vectors() {
    let server = FakeOpenAi::start().await;
    let address = server.address().to_string();
    let request = json!({"model": "text-embedding-3-small", "input": ["alpha beta", "gamma"]});
    let response = post(&address, "/v1/embeddings", &request).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = json_body(&response);
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["object"], "embedding");
    assert_eq!(data[1]["index"], 1);
    let vector: Vec<f32> = serde_json::from_value(data[0]["embedding"].clone()).expect("floats");
    assert_eq!(vector.len(), test_support::DEFAULT_DIMENSIONS);
    assert_eq!(vector, test_support::fake_embedding("alpha beta", 64));
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");

    // base64: little-endian f32s of the same vector; `dimensions` is honoured.
    let request = json!({"model": "m", "input": "alpha beta", "encoding_format": "base64",
        "dimensions": 16});
    let body = json_body(&post(&address, "/v1/embeddings", &request).await);
    let text = body["data"][0]["embedding"]
        .as_str()
        .expect("a base64 string");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|quad| f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]))
        .collect();
    assert_eq!(decoded, test_support::fake_embedding("alpha beta", 16));

    // Texts sharing word parts are closer than unrelated ones.
    let similar = test_support::fake_embedding("authentication", 64);
    let near = test_support::fake_embedding("authentification", 64);
    let far = test_support::fake_embedding("marmalade", 64);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&similar, &near) > dot(&similar, &far) + 0.3);

    let bad = post(
        &address,
        "/v1/embeddings",
        &json!({"model": "m", "input": [[1, 2]]}),
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(json_body(&bad)["error"]["message"].is_string());
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, vec!["/v1/embeddings"; 3]);
}
