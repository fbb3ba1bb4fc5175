//! Fault injection: a server crashing mid-call, a tool list that changes, a tool that hangs.

use std::time::{Duration, Instant};

use agent_runtime::ToolError;
use mcp_client::{McpManager, McpServerState};
use serde_json::json;

use crate::support::{TestDb, ctx, json, stdio_config, titles, tool};

#[tokio::test]
async fn a_server_crashing_mid_call_fails_that_call_and_is_restarted_by_the_next() {
    let db = TestDb::new();
    let config = stdio_config(&db.path, &["--crash-on", "delete_task"]);
    let manager = McpManager::new([config]).expect("valid config");
    let add = tool(&manager, "todo_add_task").await;
    let delete = tool(&manager, "todo_delete_task").await;
    let list = tool(&manager, "todo_list_tasks").await;
    let alice = ctx("alice");

    let task = add
        .call(&alice, json!({"title": "Survive"}))
        .await
        .expect("add");
    let task_id = json(&task)["task"]["id"].as_i64().expect("id");

    let crashed = delete.call(&alice, json!({"task_id": task_id})).await;
    match crashed {
        Err(ToolError::Backend(message)) => assert!(message.contains("todo"), "{message}"),
        other => panic!("expected a backend failure, got {other:?}"),
    }
    let down = &manager.status()[0];
    assert_eq!(down.state, McpServerState::Down);
    assert_eq!(down.consecutive_failures, 1);
    assert!(down.last_error.is_some());
    assert!(!manager.is_healthy());

    // The next call starts a new process, which finds the task in the database.
    let listed = list
        .call(&alice, json!({}))
        .await
        .expect("the restarted server answers");
    assert_eq!(titles(&listed), ["Survive"]);
    let up = &manager.status()[0];
    assert_eq!(up.state, McpServerState::Ready);
    assert_eq!(up.restarts, 1);
    assert_eq!(up.consecutive_failures, 0);
    assert!(manager.is_healthy());
    manager.shutdown().await;
}

#[tokio::test]
async fn a_repeatedly_crashing_server_waits_out_its_backoff() {
    let db = TestDb::new();
    let mut config = stdio_config(&db.path, &["--crash-on", "list_tasks"]);
    // Long enough that the second restart is certainly still in backoff when we ask.
    config.restart.initial_backoff = Duration::from_secs(600);
    let manager = McpManager::new([config]).expect("valid config");
    let list = tool(&manager, "todo_list_tasks").await;
    let alice = ctx("alice");

    assert!(list.call(&alice, json!({})).await.is_err(), "first crash");
    // First failure: restarted at once, and crashes again.
    assert!(list.call(&alice, json!({})).await.is_err(), "second crash");
    // Second consecutive failure: no restart until the backoff has passed.
    match list.call(&alice, json!({})).await {
        Err(ToolError::Backend(message)) => assert!(message.contains("unavailable"), "{message}"),
        other => panic!("expected the backoff to hold, got {other:?}"),
    }
    let status = &manager.status()[0];
    assert_eq!(
        (status.state, status.consecutive_failures, status.restarts),
        (McpServerState::Down, 2, 1)
    );
    // While it is down, the last known tools stay on offer (calling one retries after backoff).
    let offered: Vec<String> = manager
        .tools()
        .await
        .iter()
        .map(|tool| tool.definition().name)
        .collect();
    assert!(
        offered.contains(&"todo_list_tasks".to_owned()),
        "{offered:?}"
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn the_cached_tool_list_is_refreshed_when_the_server_announces_a_change() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &["--test-tools"])]).expect("config");
    let mut changes = manager.tool_list_changes();
    let before: Vec<String> = manager
        .tools()
        .await
        .iter()
        .map(|tool| tool.definition().name)
        .collect();
    assert!(
        !before.contains(&"todo_task_stats".to_owned()),
        "{before:?}"
    );
    // Asking again without a change is served from the cache: same list.
    let again: Vec<String> = manager
        .tools()
        .await
        .iter()
        .map(|tool| tool.definition().name)
        .collect();
    assert_eq!(before, again);

    let enable = tool(&manager, "todo_debug_enable_task_stats").await;
    let enabled = enable.call(&ctx("alice"), json!({})).await.expect("enable");
    assert!(!enabled.is_error, "{enabled:?}");
    tokio::time::timeout(Duration::from_secs(20), changes.changed())
        .await
        .expect("list_changed arrives")
        .expect("manager alive");

    let stats = tool(&manager, "todo_task_stats").await;
    assert!(
        !stats.definition().parameters["properties"]
            .as_object()
            .expect("object")
            .contains_key("user_id")
    );
    tool(&manager, "todo_add_task")
        .await
        .call(&ctx("alice"), json!({"title": "a"}))
        .await
        .expect("add");
    let counts = stats
        .call(&ctx("alice"), json!({"user_id": "bob"}))
        .await
        .expect("stats");
    assert_eq!(json(&counts), json!({"pending": 1, "completed": 0}));
    assert_eq!(manager.status()[0].tool_count, Some(before.len() + 1));
    manager.shutdown().await;
}

#[tokio::test]
async fn a_slow_tool_times_out_within_the_configured_timeout_and_the_server_stays_usable() {
    let db = TestDb::new();
    let timeout = Duration::from_millis(500);
    let config = stdio_config(&db.path, &["--test-tools"]).call_timeout(timeout);
    let manager = McpManager::new([config]).expect("valid config");
    let sleep = tool(&manager, "todo_debug_sleep").await;
    let list = tool(&manager, "todo_list_tasks").await;

    let started = Instant::now();
    let result = sleep
        .call(&ctx("alice"), json!({"milliseconds": 60_000}))
        .await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(ToolError::Timeout)), "{result:?}");
    assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_secs(5),
        "took {elapsed:?}"
    );

    // A timeout is not a crash: the same process keeps answering.
    let listed = list.call(&ctx("alice"), json!({})).await.expect("list");
    assert!(titles(&listed).is_empty());
    let status = &manager.status()[0];
    assert_eq!((status.state, status.restarts), (McpServerState::Ready, 0));
    manager.shutdown().await;
}

#[tokio::test]
async fn a_server_that_keeps_timing_out_is_recycled_and_readiness_says_so() {
    let db = TestDb::new();
    let config = stdio_config(&db.path, &["--test-tools"])
        .call_timeout(Duration::from_millis(300))
        .max_consecutive_timeouts(2);
    let manager = McpManager::new([config]).expect("valid config");
    let sleep = tool(&manager, "todo_debug_sleep").await;
    let list = tool(&manager, "todo_list_tasks").await;
    let alice = ctx("alice");
    let hang = json!({"milliseconds": 600_000});

    let first = sleep.call(&alice, hang.clone()).await;
    assert!(matches!(first, Err(ToolError::Timeout)), "{first:?}");
    let status = &manager.status()[0];
    assert_eq!(
        (
            status.state,
            status.consecutive_timeouts,
            status.hung_recycles
        ),
        (McpServerState::Ready, 1, 0),
        "one timeout is only a slow call"
    );

    let second = sleep.call(&alice, hang).await;
    assert!(matches!(second, Err(ToolError::Timeout)), "{second:?}");
    let status = &manager.status()[0];
    assert_eq!(status.state, McpServerState::Down, "{status:?}");
    assert_eq!(status.hung_recycles, 1);
    assert_eq!(status.consecutive_failures, 1);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("recycled")),
        "{status:?}"
    );
    assert!(!manager.is_healthy(), "readiness reports the hung server");

    // A fresh process answers at once (first failure: no backoff), as after a crash.
    let listed = list
        .call(&alice, json!({}))
        .await
        .expect("the recycled server answers");
    assert!(titles(&listed).is_empty());
    let status = &manager.status()[0];
    assert_eq!(
        (status.state, status.restarts, status.consecutive_timeouts),
        (McpServerState::Ready, 1, 0)
    );
    assert!(manager.is_healthy());
    manager.shutdown().await;
}
