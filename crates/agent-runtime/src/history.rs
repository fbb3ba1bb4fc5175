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

/// What the model reads for a tool call whose result never came back.
pub const MISSING_TOOL_RESULT: &str = "No result was recorded for this tool call.";

/// Gives every tool call a result: a call whose result is missing (a client tool the client
/// never answered, a run cancelled while its tools ran) gets an error result right after the
/// results it does have. Providers reject a conversation with an unanswered call, so one lost
/// result would otherwise break the conversation for good.
pub fn answer_unanswered_tool_calls(messages: Vec<Message>) -> Vec<Message> {
    let answered: std::collections::HashSet<String> = messages
        .iter()
        .filter_map(|message| match message {
            Message::Tool { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    let mut repaired = Vec::with_capacity(messages.len());
    let mut missing: Vec<String> = Vec::new();
    for message in messages {
        if !matches!(message, Message::Tool { .. }) {
            flush_missing(&mut missing, &mut repaired);
        }
        if let Message::Assistant { tool_calls, .. } = &message {
            missing.extend(
                tool_calls
                    .iter()
                    .filter(|call| !answered.contains(&call.id))
                    .map(|call| call.id.clone()),
            );
        }
        repaired.push(message);
    }
    flush_missing(&mut missing, &mut repaired);
    repaired
}

fn flush_missing(missing: &mut Vec<String>, repaired: &mut Vec<Message>) {
    repaired.extend(missing.drain(..).map(|call_id| Message::Tool {
        call_id,
        content: MISSING_TOOL_RESULT.to_owned(),
        is_error: true,
    }));
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

    #[test]
    fn unanswered_calls_get_an_error_result_after_the_answered_ones() {
        let messages = vec![
            Message::user("go"),
            Message::Assistant {
                content: None,
                tool_calls: vec![call("a"), call("b")],
            },
            Message::tool_result("a", "A"),
            Message::user("and now?"),
            Message::Assistant {
                content: None,
                tool_calls: vec![call("c")],
            },
        ];
        let missing = |id: &str| Message::Tool {
            call_id: id.into(),
            content: MISSING_TOOL_RESULT.into(),
            is_error: true,
        };
        let repaired = answer_unanswered_tool_calls(messages.clone());
        assert_eq!(
            repaired,
            vec![
                messages[0].clone(),
                messages[1].clone(),
                messages[2].clone(),
                missing("b"),
                messages[3].clone(),
                messages[4].clone(),
                missing("c"),
            ]
        );
        assert_eq!(answer_unanswered_tool_calls(repaired.clone()), repaired);
    }
}
