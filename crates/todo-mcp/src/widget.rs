//! The task-list widget the todo tools attach to their results, for clients that show ChatKit
//! widgets (see the `chatkit/widget` `_meta` convention of the `mcp-client` crate).

use serde_json::{Map, Value, json};

use crate::store::Task;

/// The `_meta` key under which a result carries its ChatKit widget.
pub const WIDGET_META_KEY: &str = "chatkit/widget";

/// The `_meta` key under which a result carries the widget's plain-text form.
pub const WIDGET_COPY_TEXT_META_KEY: &str = "chatkit/copy_text";

/// The action type a pending task's checkbox sends, with payload `{"task_id": <id>}`. A server
/// that handles it calls `complete_task` with that payload (and the acting user's id) and shows
/// the widget of the result in place of the list.
pub const COMPLETE_TASK_ACTION: &str = "todo.complete_task";

/// A ChatKit `ListView` with one row per task: a checkbox (checked and disabled once done, or
/// sending [`COMPLETE_TASK_ACTION`] when ticked), the title (struck through when done) and the
/// description as a caption.
pub fn task_list_widget(tasks: &[Task]) -> Value {
    let rows: Vec<Value> = if tasks.is_empty() {
        vec![json!({
            "type": "ListViewItem",
            "key": "empty",
            "children": [{"type": "Text", "value": "No tasks yet.", "color": "secondary"}],
        })]
    } else {
        tasks.iter().map(task_row).collect()
    };
    let pending = tasks.iter().filter(|task| !task.completed).count();
    json!({
        "type": "ListView",
        "status": {"text": format!("Tasks: {pending} open"), "icon": "check-circle"},
        "children": rows,
    })
}

fn task_row(task: &Task) -> Value {
    let mut checkbox = json!({
        "type": "Checkbox",
        // Unique per task so that a client keeps each box's state apart.
        "name": format!("task-{}", task.id),
        "defaultChecked": task.completed,
    });
    if task.completed {
        // There is no tool to reopen a task, so a done box cannot be unticked.
        checkbox["disabled"] = Value::Bool(true);
    } else {
        checkbox["onChangeAction"] = json!({
            "type": COMPLETE_TASK_ACTION,
            "payload": {"task_id": task.id},
            "handler": "server",
            "loadingBehavior": "self",
            // A synchronous action: the client sends `threads.sync_custom_action` and replaces
            // the widget with the answer, without a streamed response.
            "streaming": false,
        });
    }
    let mut title = Map::new();
    title.insert("type".into(), json!("Text"));
    title.insert("value".into(), json!(task.title));
    if task.completed {
        title.insert("lineThrough".into(), json!(true));
        title.insert("color".into(), json!("secondary"));
    }
    let mut text = vec![Value::Object(title)];
    if let Some(description) = task.description.as_deref().filter(|text| !text.is_empty()) {
        text.push(json!({"type": "Caption", "value": description}));
    }
    json!({
        "type": "ListViewItem",
        "key": format!("task-{}", task.id),
        "gap": 3,
        "align": "center",
        "children": [checkbox, {"type": "Col", "gap": 0, "children": text}],
    })
}

/// The list as plain text (`- [x] title`), what a ChatKit client copies.
pub fn task_list_text(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return "No tasks yet.".to_owned();
    }
    tasks
        .iter()
        .map(|task| {
            let mark = if task.completed { "x" } else { " " };
            format!("- [{mark}] {}", task.title)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `_meta` for a result that shows `tasks` as a widget.
pub fn task_list_meta(tasks: &[Task]) -> rmcp::model::MetaObject {
    let mut meta = Map::new();
    meta.insert(WIDGET_META_KEY.into(), task_list_widget(tasks));
    meta.insert(
        WIDGET_COPY_TEXT_META_KEY.into(),
        Value::String(task_list_text(tasks)),
    );
    rmcp::model::MetaObject(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: i64, title: &str, completed: bool) -> Task {
        Task {
            id,
            title: title.into(),
            description: None,
            completed,
            created_at: "2026-01-01 00:00:00".into(),
            updated_at: "2026-01-01 00:00:00".into(),
        }
    }

    #[test]
    fn a_pending_task_has_an_active_checkbox_and_a_done_one_a_disabled_one() {
        let widget = task_list_widget(&[task(1, "Buy milk", false), task(2, "Call Bob", true)]);
        assert_eq!(widget["type"], "ListView");
        let pending = &widget["children"][0]["children"][0];
        assert_eq!(pending["onChangeAction"]["type"], COMPLETE_TASK_ACTION);
        assert_eq!(pending["onChangeAction"]["payload"], json!({"task_id": 1}));
        assert_eq!(pending["onChangeAction"]["streaming"], false);
        let done = &widget["children"][1]["children"][0];
        assert_eq!(done["defaultChecked"], true);
        assert_eq!(done["disabled"], true);
        assert!(done.get("onChangeAction").is_none());
        assert_eq!(
            widget["children"][1]["children"][1]["children"][0]["lineThrough"],
            true
        );
        assert_eq!(widget["status"]["text"], "Tasks: 1 open");
        assert_eq!(
            task_list_text(&[task(1, "Buy milk", false), task(2, "Call Bob", true)]),
            "- [ ] Buy milk\n- [x] Call Bob"
        );
    }

    #[test]
    fn an_empty_list_says_so() {
        let widget = task_list_widget(&[]);
        assert_eq!(
            widget["children"][0]["children"][0]["value"],
            "No tasks yet."
        );
    }
}
