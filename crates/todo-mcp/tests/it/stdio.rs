//! The todo server as a child process over stdio, through the `Tool` interface.

use mcp_client::{McpManager, McpServerState};
use serde_json::json;

use crate::support::{TestDb, assert_no_user_id_in_schemas, ctx, json, stdio_config, titles, tool};

#[tokio::test]
async fn two_users_only_ever_see_their_own_tasks() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &[])]).expect("valid config");

    let tools = manager.tools().await;
    let mut names: Vec<String> = tools.iter().map(|tool| tool.definition().name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "todo_add_task",
            "todo_complete_task",
            "todo_delete_task",
            "todo_list_tasks",
            "todo_update_task"
        ]
    );
    assert_no_user_id_in_schemas(&tools);
    let add_schema = tool(&manager, "todo_add_task")
        .await
        .definition()
        .parameters;
    assert_eq!(add_schema["required"], json!(["title"]));

    let add = tool(&manager, "todo_add_task").await;
    let list = tool(&manager, "todo_list_tasks").await;
    let complete = tool(&manager, "todo_complete_task").await;
    let (alice, bob) = (ctx("alice"), ctx("bob"));

    // Alice's model claims to be Bob: the injected id wins.
    let milk = add
        .call(&alice, json!({"title": "Buy milk", "user_id": "bob"}))
        .await
        .expect("add");
    let milk_id = json(&milk)["task"]["id"].as_i64().expect("task id");
    add.call(
        &bob,
        json!({"title": "Walk the dog", "description": "at six"}),
    )
    .await
    .expect("add");

    let alices = list
        .call(&alice, json!({"user_id": "bob"}))
        .await
        .expect("list");
    assert_eq!(titles(&alices), ["Buy milk"]);
    let bobs = list
        .call(&bob, json!({"user_id": "alice"}))
        .await
        .expect("list");
    assert_eq!(titles(&bobs), ["Walk the dog"]);

    // Bob cannot complete Alice's task, even naming her as the user: it is not found for him.
    let stolen = complete
        .call(&bob, json!({"task_id": milk_id, "user_id": "alice"}))
        .await
        .expect("complete");
    assert!(stolen.is_error, "{}", stolen.content);
    assert!(stolen.content.contains("not found"), "{}", stolen.content);

    let done = complete
        .call(&alice, json!({"task_id": milk_id}))
        .await
        .expect("complete");
    assert_eq!(json(&done)["task"]["completed"], true);
    let completed = list
        .call(&alice, json!({"status": "completed"}))
        .await
        .expect("list");
    assert_eq!(titles(&completed), ["Buy milk"]);
    let pending = list
        .call(&alice, json!({"status": "pending"}))
        .await
        .expect("list");
    assert!(titles(&pending).is_empty());

    let status = manager.status();
    assert_eq!(status[0].state, McpServerState::Ready);
    assert_eq!(status[0].tool_count, Some(5));
    manager.shutdown().await;
}

#[tokio::test]
async fn update_and_delete_respect_ownership_and_bad_arguments_are_error_outputs() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &[])]).expect("valid config");
    let add = tool(&manager, "todo_add_task").await;
    let update = tool(&manager, "todo_update_task").await;
    let delete = tool(&manager, "todo_delete_task").await;
    let (alice, bob) = (ctx("alice"), ctx("bob"));

    let task = add
        .call(&alice, json!({"title": "Draft"}))
        .await
        .expect("add");
    let task_id = json(&task)["task"]["id"].as_i64().expect("id");

    let foreign = update
        .call(&bob, json!({"task_id": task_id, "title": "Mine now"}))
        .await
        .expect("update");
    assert!(
        foreign.is_error && foreign.content.contains("not found"),
        "{foreign:?}"
    );
    let renamed = update
        .call(&alice, json!({"task_id": task_id, "title": "Final"}))
        .await
        .expect("update");
    assert_eq!(json(&renamed)["task"]["title"], "Final");

    let wrong_type = update
        .call(&alice, json!({"task_id": "seven"}))
        .await
        .expect("a bad argument is an output the model can read");
    assert!(wrong_type.is_error, "{wrong_type:?}");
    let not_an_object = update.call(&alice, json!(["task_id", 1])).await;
    assert!(matches!(
        not_an_object,
        Err(agent_runtime::ToolError::InvalidArguments(_))
    ));

    assert!(
        delete
            .call(&bob, json!({"task_id": task_id}))
            .await
            .expect("delete")
            .is_error
    );
    let deleted = delete
        .call(&alice, json!({"task_id": task_id}))
        .await
        .expect("delete");
    assert_eq!(json(&deleted)["deleted"], task_id);

    // A run without a signed-in user never reaches a per-user tool.
    let anonymous = add
        .call(&ctx(""), json!({"title": "x"}))
        .await
        .expect("output");
    assert!(anonymous.is_error, "{anonymous:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn allow_and_deny_lists_decide_which_tools_the_model_sees() {
    let db = TestDb::new();
    let mut config = stdio_config(&db.path, &[]);
    config.allow_tools = Some(vec![
        "list_tasks".into(),
        "add_task".into(),
        "delete_task".into(),
    ]);
    config.deny_tools = vec!["delete_task".into()];
    let manager = McpManager::new([config]).expect("valid config");
    let names: Vec<String> = manager
        .tools()
        .await
        .iter()
        .map(|tool| tool.definition().name)
        .collect();
    assert_eq!(names, ["todo_add_task", "todo_list_tasks"]);
    manager.shutdown().await;
}

#[tokio::test]
async fn a_server_that_cannot_start_is_reported_not_fatal() {
    let config =
        mcp_client::McpServerConfig::stdio("missing", "/nonexistent/mcp-server", ["--stdio"]);
    let manager = McpManager::new([config]).expect("valid config");
    assert!(manager.tools().await.is_empty());
    let status = &manager.status()[0];
    assert_eq!(status.state, McpServerState::Down);
    assert_eq!(status.consecutive_failures, 1);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("could not start"))
    );
    assert!(!manager.is_healthy());
}
