//! Widgets from MCP tools and widget actions answered by configuration, through the real
//! wiring: the todo MCP server (this binary's `todo-mcp` subcommand) shows its task list as a
//! widget, and ticking a task's checkbox completes the task and updates the widget in place.

use chatkit_server::settings::ActionSettings;
use serde_json::{Value, json};
use test_support::chatkit::{create, kinds};
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

fn widget_done(events: &[Value]) -> Value {
    events
        .iter()
        .find(|event| event["type"] == "thread.item.done" && event["item"]["type"] == "widget")
        .map(|event| event["item"].clone())
        .unwrap_or_else(|| panic!("a widget item in {:?}", kinds(events)))
}

#[tokio::test]
async fn ticking_a_task_in_the_list_widget_completes_it_and_updates_the_widget_in_place() {
    let todo_dir = tempfile::tempdir().expect("tempdir");
    let todo_db = todo_dir.path().join("todo.db");
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.mcp_servers = vec![
            mcp_client::McpServerConfig::stdio(
                "todo",
                env!("CARGO_BIN_EXE_chatkit-server"),
                [
                    "todo-mcp".to_owned(),
                    "--db".to_owned(),
                    todo_db.display().to_string(),
                ],
            )
            .user_id_arguments(["user_id"]),
        ];
        settings.actions = vec![ActionSettings {
            kind: "todo.complete_task".to_owned(),
            tool: Some("complete_task".to_owned()),
            forward_to_model: false,
        }];
    })
    .await;
    app.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "add_task",
        r#"{"title": "Buy milk"}"#,
    ));
    app.model
        .push_turn(ScriptedTurn::tool_call("call_2", "list_tasks", "{}"));
    app.model
        .push_turn(ScriptedTurn::text("Here is your list."));
    let reply = app.post(create("Add milk to my list and show it")).await;
    assert_eq!(reply.status, 200);
    let thread_id = reply.events[0]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_owned();
    let listed = widget_done(&reply.events);
    let widget_id = listed["id"].as_str().expect("id").to_owned();
    assert_eq!(listed["widget"]["type"], "ListView");
    assert_eq!(listed["copy_text"], "- [ ] Buy milk");
    let checkbox = &listed["widget"]["children"][0]["children"][0];
    assert_eq!(checkbox["type"], "Checkbox");
    assert_eq!(checkbox["defaultChecked"], false);
    let action = checkbox["onChangeAction"].clone();
    assert_eq!(action["type"], "todo.complete_task");
    // The model read the tasks as text, not the widget.
    let sent = app.model.requests()[2].conversation().to_vec();
    let tool_result = sent
        .iter()
        .rev()
        .find(|message| message["role"] == "tool")
        .expect("a result");
    assert!(tool_result["content"].to_string().contains("Buy milk"));
    assert!(!tool_result["content"].to_string().contains("ListView"));

    // What the browser sends when the box is ticked (the checkbox's value rides along).
    let mut payload = action["payload"].clone();
    payload["task-1"] = json!(true);
    let reply = app
        .post(
            json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": action["type"], "payload": payload}}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    let updated = &reply.json["updated_item"];
    assert_eq!(updated["id"], widget_id.as_str());
    assert_eq!(updated["copy_text"], "- [x] Buy milk");
    let ticked = &updated["widget"]["children"][0]["children"][0];
    assert_eq!(ticked["defaultChecked"], true);
    assert_eq!(ticked["disabled"], true);

    // Stored: the thread shows the updated widget after a reload.
    let items = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}))
        .await;
    let stored = items.json["data"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["id"] == widget_id.as_str())
        .expect("the widget is listed")
        .clone();
    assert_eq!(stored["copy_text"], "- [x] Buy milk");

    // The same action as a streaming request replaces the widget with `thread.item.replaced`.
    let reply = app
        .post(json!({"type": "threads.custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": action["type"], "payload": action["payload"]}}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(
        kinds(&reply.events),
        ["stream_options", "thread.item.replaced:widget"]
    );

    // A task id that is not the user's is the tool's clean refusal; unknown types stay 501.
    let reply = app
        .post(json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": "todo.complete_task", "payload": {"task_id": 999}}}}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.raw);
    assert!(reply.raw.contains("task 999 not found"), "{}", reply.raw);
    let reply = app
        .post(json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread_id,
            "item_id": widget_id, "action": {"type": "todo.reopen_task", "payload": {"task_id": 1}}}}))
        .await;
    assert_eq!(reply.status, 501, "{}", reply.raw);
}
