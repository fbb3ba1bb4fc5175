//! ChatKit request bodies and event summaries for tests, as plain JSON so that a test states the
//! wire format it expects rather than what our own types would produce.

use serde_json::{Value, json};

/// A user message input with one text part, no attachments and default inference options.
pub fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

/// A `threads.create` request with `text` as the first message.
pub fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": input(text)}})
}

/// A `threads.add_user_message` request.
pub fn add_message(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": input(text)}})
}

/// Each event as `type`, `type:update type` or `type:item type`, for asserting event order
/// without ids and timestamps.
pub fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            match (
                event["update"]["type"].as_str(),
                event["item"]["type"].as_str(),
            ) {
                (Some(update), _) => format!("{kind}:{update}"),
                (None, Some(item)) => format!("{kind}:{item}"),
                _ => kind.to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_the_update_or_the_item() {
        let events = [
            json!({"type": "stream_options"}),
            json!({"type": "thread.item.done", "item": {"type": "user_message"}}),
            json!({"type": "thread.item.updated", "item": {}, "update": {"type": "workflow.task.added"}}),
        ];
        assert_eq!(
            kinds(&events),
            [
                "stream_options",
                "thread.item.done:user_message",
                "thread.item.updated:workflow.task.added"
            ]
        );
        assert_eq!(
            add_message("thr_1", "hi")["params"]["input"]["content"][0]["text"],
            "hi"
        );
    }
}
