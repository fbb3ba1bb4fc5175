//! `GET /metrics` moves with the traffic, and the per-user rate limit answers 429 with
//! `Retry-After`.

use serde_json::json;
use test_support::fake_openai::ScriptedTurn;

use crate::legacy_chat::{SECRET, chat, todo_server, user_token};
use crate::support::*;

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain; version=0.0.4"),
    );
    response.text().await.expect("text")
}

/// The value of the sample named exactly `series` (name and labels), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|value| value.parse().expect("a number"))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_streams_model_latency_tool_calls_and_failures() {
    let tools = tempfile::tempdir().expect("tempdir");
    let todo = todo_server(tools.path());
    let app = spawn_app_with(Db::Sqlite, move |settings| {
        settings.mcp_servers = vec![todo]
    })
    .await;
    let before = scrape(&app).await;
    assert_eq!(sample(&before, "chatkit_streams_open"), 0.0);
    assert_eq!(
        sample(
            &before,
            r#"chatkit_http_requests_total{route="/chatkit",method="POST",status="200"}"#
        ),
        0.0
    );

    app.model.push_turn(ScriptedTurn::text("Hello"));
    assert_eq!(app.post(create("Hi")).await.status, 200);
    app.model
        .push_turn(ScriptedTurn::tool_call("call_1", "list_tasks", "{}"));
    app.model.push_turn(ScriptedTurn::text("Nothing to do."));
    let (status, _) = chat(&app, None, json!({"message": "my tasks?"})).await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        app.model.push_turn(ScriptedTurn::http_error(500, "down"));
    }
    assert_eq!(app.post(create("fail")).await.status, 200);
    assert_eq!(
        app.post(json!({"type": "threads.get_by_id", "params": {"thread_id": "thr_nope"}}))
            .await
            .status,
        404
    );
    let _ = app.get("/no/such/path").await;

    let after = scrape(&app).await;
    let count = |series: &str| sample(&after, series);
    assert_eq!(
        count(r#"chatkit_http_requests_total{route="/chatkit",method="POST",status="200"}"#),
        2.0,
        "{after}"
    );
    assert_eq!(
        count(r#"chatkit_http_requests_total{route="/chatkit",method="POST",status="404"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_http_requests_total{route="/api/chat",method="POST",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_http_requests_total{route="/metrics",method="GET",status="200"}"#),
        1.0,
        "the first scrape is counted once it was answered"
    );
    assert_eq!(count("chatkit_streams_open"), 0.0);
    assert_eq!(
        count(r#"chatkit_turn_duration_seconds_count{endpoint="chatkit"}"#),
        2.0
    );
    assert_eq!(
        count(r#"chatkit_turn_duration_seconds_count{endpoint="api_chat"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_tool_calls_total{tool="list_tasks",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_tool_call_duration_seconds_count{tool="list_tasks"}"#),
        1.0
    );
    assert_eq!(
        count(r#"chatkit_model_first_output_seconds_count{model="fake-model"}"#),
        3.0,
        "one per successful model call"
    );
    assert_eq!(
        count(r#"chatkit_agent_runs_total{outcome="completed"}"#),
        2.0
    );
    assert_eq!(count(r#"chatkit_agent_runs_total{outcome="failed"}"#), 1.0);
}

/// Scrapes until `series` is `expected`, for at most ten seconds, and returns its last value.
async fn wait_for_sample(app: &TestApp, series: &str, expected: f64) -> f64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let open = sample(&scrape(app).await, series);
        if open == expected || std::time::Instant::now() > deadline {
            return open;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_counts_as_open_until_its_client_leaves() {
    // A keep-alive every second: writing to a closed connection is how the server notices.
    let app = spawn_app_with(Db::Sqlite, |settings| settings.server.keep_alive_secs = 1).await;
    app.model.push_turn(
        ScriptedTurn::text("")
            .with_text_chunks(&["a", "b"])
            .hang_after(2),
    );
    let response = app
        .client
        .post(format!("{}/chatkit", app.base))
        .body(create("hang").to_string())
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        wait_for_sample(&app, "chatkit_streams_open", 1.0).await,
        1.0
    );
    // Leave only once the agent run is under way (the model has the request): a client that
    // leaves earlier cancels the response before there is a run to count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.model.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the model was never asked"
        );
        tokio::task::yield_now().await;
    }
    drop(response);
    assert_eq!(
        wait_for_sample(&app, "chatkit_streams_open", 0.0).await,
        0.0,
        "a client that leaves closes the stream"
    );
    let metrics = scrape(&app).await;
    assert_eq!(
        sample(
            &metrics,
            r#"chatkit_turn_duration_seconds_count{endpoint="chatkit"}"#
        ),
        1.0
    );
    assert_eq!(
        wait_for_sample(
            &app,
            r#"chatkit_agent_runs_total{outcome="cancelled"}"#,
            1.0
        )
        .await,
        1.0,
        "the engine stopped the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(Db::Sqlite, |settings| settings.metrics.enabled = false).await;
    let (status, body) = app.get("/metrics").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_a_burst_then_429_with_retry_after_on_both_chat_endpoints() {
    burst_then_429_on_both_chat_endpoints(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_limiter_refuses_the_same_way() {
    burst_then_429_on_both_chat_endpoints(false).await;
}

/// Two requests per user pass, the third is refused on either chat endpoint; `shared` picks the
/// database buckets or the in-process ones.
async fn burst_then_429_on_both_chat_endpoints(shared: bool) {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.auth.shared_secret = Some(SECRET.to_owned());
        settings.rate_limit.requests_per_minute = 1;
        settings.rate_limit.burst = 2;
        settings.rate_limit.shared = shared;
    })
    .await;
    let alice = user_token("alice");
    let bob = user_token("bob");
    let list = json!({"type": "threads.list", "params": {}});
    for _ in 0..2 {
        assert_eq!(app.post_as(list.clone(), Some(&alice)).await.status, 200);
    }
    let refused = app.post_as(list.clone(), Some(&alice)).await;
    assert_eq!(refused.status, 429, "{}", refused.raw);
    assert_eq!(refused.json["error"]["code"], "rate_limited");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // /api/chat shares the bucket: refused before the body is even read.
    let (status, body) = chat(&app, Some(&alice), json!({"message": "hi"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("rate_limited"))
    );
    // Another user has their own bucket.
    assert_eq!(app.post_as(list.clone(), Some(&bob)).await.status, 200);
    let metrics = scrape(&app).await;
    assert_eq!(sample(&metrics, "chatkit_rate_limited_total"), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_of_zero_never_refuses() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.rate_limit.requests_per_minute = 0;
        settings.rate_limit.burst = 0;
    })
    .await;
    let list = json!({"type": "threads.list", "params": {}});
    for _ in 0..40 {
        assert_eq!(app.post(list.clone()).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_bearer_token_when_one_is_configured() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.metrics.bearer_token = Some("scrape-token-of-the-monitoring".to_owned());
    })
    .await;
    let (status, body) = app.get("/metrics").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("unauthorized"))
    );
    for token in ["wrong-token", "scrape-token-of-the-monitorinG", ""] {
        let response = app
            .client
            .get(format!("{}/metrics", app.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("sends");
        assert_eq!(response.status().as_u16(), 401, "{token:?}");
    }
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth("scrape-token-of-the-monitoring")
        .send()
        .await
        .expect("sends");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("body");
    assert!(text.contains("chatkit_http_requests_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_bind_without_a_token_does_not_serve_metrics() {
    // Listening on every interface, as a container does: /metrics stays closed by default...
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.server.bind = "0.0.0.0:0".to_owned();
    })
    .await;
    let (status, body) = app.get("/metrics").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200, "health stays open for the balancer");

    // ...unless the operator says the port is private.
    let open = spawn_app_with(Db::Sqlite, |settings| {
        settings.server.bind = "0.0.0.0:0".to_owned();
        settings.metrics.allow_unauthenticated = true;
    })
    .await;
    let (status, _) = open.get("/metrics").await;
    assert_eq!(status, 200);
}
