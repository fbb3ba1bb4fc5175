//! Conversation history helpers.

use crate::model::Message;

/// How many conversation items a run sends to the model by default.
pub const DEFAULT_HISTORY_ITEMS: usize = 10;

/// Keeps the last `max_items` messages of `messages`, without ever starting the window with a
/// tool result whose tool call fell outside it (providers reject such orphans).
///
/// System messages are not counted and are all kept, in front: they are instructions, not
/// conversation. The window can hold fewer than `max_items` messages when orphaned tool results
/// had to be dropped.
pub fn keep_last_items(messages: &[Message], max_items: usize) -> Vec<Message> {
    let (system, conversation): (Vec<&Message>, Vec<&Message>) = messages
        .iter()
        .partition(|message| matches!(message, Message::System { .. }));
    let mut start = conversation.len().saturating_sub(max_items);
    while conversation
        .get(start)
        .is_some_and(|message| matches!(message, Message::Tool { .. }))
    {
        start += 1;
    }
    system
        .into_iter()
        .chain(conversation[start..].iter().copied())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolCall;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "t".into(),
            arguments: "{}".into(),
        }
    }

    #[test]
    fn keeps_the_tail_and_drops_orphaned_tool_results() {
        let messages = vec![
            Message::system("rules"),
            Message::user("one"),
            Message::Assistant {
                content: None,
                tool_calls: vec![call("a"), call("b")],
            },
            Message::tool_result("a", "A"),
            Message::tool_result("b", "B"),
            Message::assistant("done"),
        ];
        // A window of 3 would start at result "a", whose call is cut off.
        let kept = keep_last_items(&messages, 3);
        assert_eq!(
            kept,
            vec![Message::system("rules"), Message::assistant("done")]
        );
        let kept = keep_last_items(&messages, 4);
        assert_eq!(kept.len(), 5);
        assert_eq!(kept[1], messages[2]);
        assert_eq!(keep_last_items(&messages, 100), messages);
        assert_eq!(
            keep_last_items(&messages, 0),
            vec![Message::system("rules")]
        );
    }
}
