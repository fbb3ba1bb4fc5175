//! The todo server over streamable HTTP: in-process on 127.0.0.1:0, and as a process.

use std::process::Stdio;

use mcp_client::{McpManager, McpServerConfig, McpServerState, McpTransportConfig, SecretString};
use serde_json::json;
use todo_mcp::{HttpOptions, TaskStore, TodoServer, TodoServerOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{TestDb, assert_no_user_id_in_schemas, ctx, json, titles, tool};

fn http_config(url: &str, token: Option<&str>) -> McpServerConfig {
    let mut config = McpServerConfig::http("todo-http", url)
        .tool_prefix("todo_")
        .user_id_arguments(["user_id"]);
    if let McpTransportConfig::Http(http) = &mut config.transport {
        http.bearer_token = token.map(SecretString::new);
    }
    config
}

#[tokio::test]
async fn in_process_http_server_with_bearer_token_isolates_users() {
    let db = TestDb::new();
    let store = TaskStore::open(&db.path).await.expect("store");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}{}",
        listener.local_addr().expect("addr"),
        todo_mcp::MCP_PATH
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        TodoServer::new(store, TodoServerOptions::default()).serve_http(
            listener,
            HttpOptions {
                bearer_token: Some("test-token".into()),
            },
            async {
                let _ = stopped.await;
            },
        ),
    );

    let manager = McpManager::new([http_config(&url, Some("test-token"))]).expect("config");
    let tools = manager.tools().await;
    assert_eq!(tools.len(), 5);
    assert_no_user_id_in_schemas(&tools);
    let add = tool(&manager, "todo_add_task").await;
    let list = tool(&manager, "todo_list_tasks").await;
    add.call(
        &ctx("alice"),
        json!({"title": "Over HTTP", "user_id": "bob"}),
    )
    .await
    .expect("add");
    add.call(&ctx("bob"), json!({"title": "Bob's"}))
        .await
        .expect("add");
    let alices = list
        .call(&ctx("alice"), json!({"user_id": "bob"}))
        .await
        .expect("list");
    assert_eq!(titles(&alices), ["Over HTTP"]);
    let bobs = list.call(&ctx("bob"), json!({})).await.expect("list");
    assert_eq!(titles(&bobs), ["Bob's"]);
    assert_eq!(manager.status()[0].state, McpServerState::Ready);

    // A wrong token is refused; the failure shows in the status instead of crashing anything.
    let intruder = McpManager::new([http_config(&url, Some("wrong"))]).expect("config");
    assert!(intruder.tools().await.is_empty());
    let refused = &intruder.status()[0];
    assert_eq!(refused.state, McpServerState::Down);
    assert!(refused.last_error.is_some());

    manager.shutdown().await;
    stop.send(()).expect("server still running");
    server.await.expect("server task").expect("clean shutdown");
}

#[tokio::test]
async fn the_server_binary_serves_http_on_a_port_it_picks() {
    let db = TestDb::new();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_todo-mcp-server"))
        .args(["--http", "127.0.0.1:0", "--db"])
        .arg(&db.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let first_line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("a line");
    let url = first_line
        .strip_prefix("listening on ")
        .expect("address line")
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );

    let manager = McpManager::new([http_config(&url, None)]).expect("config");
    let add = tool(&manager, "todo_add_task").await;
    let created = add
        .call(&ctx("carol"), json!({"title": "From a process"}))
        .await
        .expect("add");
    assert_eq!(json(&created)["task"]["title"], "From a process");
    let listed = tool(&manager, "todo_list_tasks")
        .await
        .call(&ctx("dave"), json!({}))
        .await
        .expect("list");
    assert!(titles(&listed).is_empty());
    manager.shutdown().await;
    child.kill().await.expect("stop server");
}
