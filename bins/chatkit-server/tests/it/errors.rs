//! Bad input gets a clear error with a JSON body, and loses nothing.

use std::io::Write;

use serde_json::{Value, json};

use crate::support::*;

fn assert_error(reply: &Reply, status: u16, code: &str, mentions: &str) {
    assert_eq!(reply.status, status, "{}", reply.raw);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert_eq!(reply.json["error"]["code"], code, "{}", reply.raw);
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "`{message}` should mention `{mentions}`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_invalid_requests_are_400_and_name_the_problem() {
    let app = spawn_app(Db::Sqlite).await;
    assert_error(
        &app.post_raw("{not json", None, &[]).await,
        400,
        "bad_request",
        "JSON",
    );
    assert_error(&app.post_raw("", None, &[]).await, 400, "bad_request", "");
    assert_error(
        &app.post(json!({"type": "threads.explode", "params": {}}))
            .await,
        400,
        "bad_request",
        "threads.explode",
    );
    assert_error(
        &app.post(json!({"type": "threads.get_by_id", "params": {}}))
            .await,
        400,
        "bad_request",
        "thread_id",
    );
    assert_error(
        &app.post(json!({"type": "threads.list", "params": {"limit": "5"}}))
            .await,
        400,
        "bad_request",
        "limit",
    );
    assert_error(
        &app.post(json!({"type": "threads.list", "params": {"limit": 0}}))
            .await,
        400,
        "bad_request",
        "limit",
    );
    assert_error(
        &app.post(json!({"type": "threads.list", "params": {"limit": -1}}))
            .await,
        400,
        "bad_request",
        "limit",
    );
    assert_error(
        &app.post_raw(
            r#"{"type":"threads.list","params":{"limit":9223372036854775808}}"#,
            None,
            &[],
        )
        .await,
        400,
        "bad_request",
        "limit",
    );
    assert_error(
        &app.post(json!({"type": "attachments.create", "params": {"name": "a.txt", "size": -1, "mime_type": "text/plain"}})).await,
        400,
        "bad_request",
        "size",
    );
    assert_error(
        &app.post(json!({"type": "attachments.create", "params": {"name": "a.exe", "size": 10, "mime_type": "application/x-msdownload"}})).await,
        400,
        "bad_request",
        "mime_type",
    );
    assert_error(
        &app.post(json!({"type": "attachments.create", "params": {"name": "big.txt", "size": 1u64 << 40, "mime_type": "text/plain"}})).await,
        413,
        "too_large",
        "bytes",
    );
    // A body claimed as gzip that is not.
    let reply = app
        .post_raw("definitely not gzip", None, &[("content-encoding", "gzip")])
        .await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
    assert_eq!(reply.json["error"]["code"], "bad_request");
    // A real gzip body is accepted.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(
            json!({"type": "threads.list", "params": {}})
                .to_string()
                .as_bytes(),
        )
        .expect("compresses");
    let reply = app
        .post_raw(
            encoder.finish().expect("finishes"),
            None,
            &[("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_threads_are_404_before_any_stream_starts() {
    let app = spawn_app(Db::Sqlite).await;
    let reply = app.post(add_message("thr_nope", "hello")).await;
    assert_error(&reply, 404, "not_found", "thr_nope");
    let reply = app
        .post(json!({"type": "threads.get_by_id", "params": {"thread_id": "thr_nope"}}))
        .await;
    assert_error(&reply, 404, "not_found", "thr_nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_unknown_paths_404_in_json() {
    let app = spawn_app_with(Db::Sqlite, |settings| settings.server.max_body_bytes = 4096).await;
    let big = json!({"type": "threads.create", "params": {"input": input(&"x".repeat(10_000))}});
    assert_error(&app.post(big).await, 413, "too_large", "4096");
    let response = app
        .client
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    let response = app
        .client
        .get(format!("{}/chatkit", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 404);
    // Nothing was stored by the refused request.
    let listed = app
        .post(json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(listed.json["data"], json!([]));
}

#[test]
fn check_config_says_what_is_wrong_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nbindd = \"127.0.0.1:1\"\n").expect("writes");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .arg("--config")
        .arg(&bad)
        .arg("check-config")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `bindd`"), "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .arg("check-config")
        .env("CHATKIT_AUTH_MODE", "required")
        .env_remove("CHATKIT_AUTH_SHARED_SECRET")
        .env_remove("BETTER_AUTH_SECRET")
        .env_remove("CHATKIT_AUTH_JWKS_URL")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("auth.mode"));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .arg("check-config")
        .env(
            "CHATKIT_DATABASE_URL",
            "postgres://user:hunter2@db.example/chat",
        )
        .output()
        .expect("runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(
        !stdout.contains("hunter2"),
        "secrets never printed: {stdout}"
    );
}

#[test]
fn check_config_names_every_key_source_and_never_drops_a_secret() {
    let secret = "a-legacy-secret-of-at-least-32-bytes-long";
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .arg("check-config")
        .env("CHATKIT_AUTH_JWKS_URL", "http://127.0.0.1:9/api/auth/jwks")
        .env("CHATKIT_AUTH_SHARED_SECRET", secret)
        .env_remove("BETTER_AUTH_SECRET")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("auth=Required[jwks, shared_secret]"),
        "both sources are in force: {stdout}"
    );
    assert!(!stdout.contains(secret), "secrets never printed: {stdout}");

    // A secret next to a JWKS is checked, not ignored: a short one fails the check.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .arg("check-config")
        .env("CHATKIT_AUTH_JWKS_URL", "http://127.0.0.1:9/api/auth/jwks")
        .env("CHATKIT_AUTH_SHARED_SECRET", "short-secret")
        .env_remove("BETTER_AUTH_SECRET")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(!stderr.contains("short-secret"), "{stderr}");
}

/// Sends raw bytes on a fresh connection and reads the whole answer (the server closes after
/// these refusals). Returns the status and the parsed JSON body.
async fn raw_exchange(base: &str, request: Vec<u8>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    // Written from a task: the server may answer (and stop reading) before it has read it all.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut answer = Vec::new();
    let _ = reader.read_to_end(&mut answer).await;
    drop(writing.await);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status: u16 = text
        .get(9..12)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body in {text:?}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_made_below_the_handlers_carry_the_json_error_body() {
    let app = spawn_app(Db::Sqlite).await;

    // A 200 KiB header: actix refuses the head before any route runs.
    let mut huge_header = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Padding: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'a', 200 * 1024));
    huge_header.extend_from_slice(b"\r\n\r\n");
    let (status, body) = raw_exchange(&app.base, huge_header).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (431, json!("headers_too_large")),
        "{body}"
    );
    assert!(body["error"]["message"].is_string());

    // A 200 KiB URI: the same limit, the same answer.
    let mut long_uri = b"GET /".to_vec();
    long_uri.extend(std::iter::repeat_n(b'a', 200 * 1024));
    long_uri.extend_from_slice(b" HTTP/1.1\r\nHost: test\r\n\r\n");
    let (status, body) = raw_exchange(&app.base, long_uri).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (431, json!("headers_too_large"))
    );

    // Not HTTP at all.
    let (status, body) = raw_exchange(&app.base, b"HELLO THERE\r\n\r\n".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_request"))
    );

    // A head that never ends: the server's request timeout answers 408.
    let (status, body) =
        raw_exchange(&app.base, b"GET /healthz HTTP/1.1\r\nHost: te".to_vec()).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (408, json!("request_timeout"))
    );

    // Unknown routes and methods a route does not take are JSON too (answered by the app).
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let response = app
        .client
        .delete(format!("{}/chatkit", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], "not_found");

    // The server still serves normal requests on new connections.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
}
