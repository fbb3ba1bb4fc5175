//! The task-list widget: the real server attaches it under `_meta`, the MCP client turns it into
//! a tool event while the model still reads the tasks as text.

use agent_runtime::{ToolCallContext, ToolEvent};
use mcp_client::{McpManager, WIDGET_EVENT_KIND};
use serde_json::{Value, json};
use todo_mcp::COMPLETE_TASK_ACTION;
use tokio::sync::mpsc;

use crate::support::{TestDb, ctx, json, stdio_config, titles, tool};

/// Calls `name` for `user` inside a (detached) tool call, returning the output and every event.
async fn call_in_run(
    manager: &McpManager,
    name: &str,
    user: &str,
    arguments: Value,
) -> (agent_runtime::ToolOutput, Vec<ToolEvent>) {
    let (sender, mut receiver) = mpsc::channel(8);
    let mut run_ctx = ctx(user);
    run_ctx.tool_call = Some(ToolCallContext::detached("call-1", name, sender));
    let output = tool(manager, name)
        .await
        .call(&run_ctx, arguments)
        .await
        .expect("the call succeeded");
    drop(run_ctx);
    let mut events = Vec::new();
    while let Some((_, event)) = receiver.recv().await {
        events.push(event);
    }
    (output, events)
}

fn checkbox_of(widget: &Value, row: usize) -> &Value {
    &widget["children"][row]["children"][0]
}

#[tokio::test]
async fn list_tasks_shows_a_checkbox_list_and_completing_a_task_returns_the_updated_list() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &[])]).expect("valid config");
    for title in ["Buy milk", "Call Bob"] {
        call_in_run(&manager, "todo_add_task", "alice", json!({"title": title})).await;
    }

    let (output, events) = call_in_run(&manager, "todo_list_tasks", "alice", json!({})).await;
    assert_eq!(
        titles(&output),
        ["Buy milk", "Call Bob"],
        "the model reads the tasks"
    );
    assert!(
        !output.content.contains("ListView"),
        "the widget is not for the model"
    );
    let [event] = events.as_slice() else {
        panic!("one widget event, got {events:?}")
    };
    assert_eq!(event.kind, WIDGET_EVENT_KIND);
    let widget = &event.data["widget"];
    assert_eq!(widget["type"], "ListView");
    assert_eq!(event.data["copy_text"], "- [ ] Buy milk\n- [ ] Call Bob");
    let action = &checkbox_of(widget, 0)["onChangeAction"];
    assert_eq!(action["type"], COMPLETE_TASK_ACTION);

    // What a server does with the checkbox's action: call complete_task with its payload.
    let (output, events) = call_in_run(
        &manager,
        "todo_complete_task",
        "alice",
        action["payload"].clone(),
    )
    .await;
    assert_eq!(json(&output)["task"]["completed"], true);
    let [event] = events.as_slice() else {
        panic!("one widget event, got {events:?}")
    };
    let updated = &event.data["widget"];
    assert_eq!(checkbox_of(updated, 0)["defaultChecked"], true);
    assert_eq!(checkbox_of(updated, 0)["disabled"], true);
    assert_eq!(checkbox_of(updated, 1)["defaultChecked"], false);
    assert_eq!(event.data["copy_text"], "- [x] Buy milk\n- [ ] Call Bob");

    // Another user's widget shows only their own (empty) list.
    let (_, events) = call_in_run(&manager, "todo_list_tasks", "bob", json!({})).await;
    assert_eq!(events[0].data["copy_text"], "No tasks yet.");

    // Outside a run the widget is simply not shown; the call still answers.
    let output = tool(&manager, "todo_list_tasks")
        .await
        .call(&ctx("alice"), json!({}))
        .await
        .expect("list");
    assert_eq!(titles(&output).len(), 2);
}
