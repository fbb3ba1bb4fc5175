//! Widget diffing with the reference's semantics (`chatkit.server.diff_widget`), as pure
//! functions over the wire JSON of two versions of a widget.
//!
//! The rules:
//! - When the two versions differ anywhere except in appends to the `value` of `Text` and
//!   `Markdown` nodes (a different `type`, `id` or `key`, a changed prop, a child added or removed),
//!   the update is a full `widget.root.updated`.
//! - Otherwise each `Text`/`Markdown` node with an `id` whose value grew yields a
//!   `widget.streaming_text.value_delta` carrying the appended text, `done` unless the new node
//!   says `streaming: true`.
//! - A node with an id that the old version did not have, or whose value is not an extension of
//!   the old one, is an error: widget updates must be cumulative.
//!
//! One deliberate difference: the reference looks for streaming text only in `children` lists, so
//! a `Text` that is the single child of a `Transition` never streams (its update is silently lost).
//! We look through single children too.

use serde_json::{Map, Value};

use super::WidgetRoot;
use crate::ProtocolError;
use crate::events::ThreadItemUpdate;

/// The updates that turn `before` into `after`, as the reference computes them.
pub fn diff_widget(
    before: &WidgetRoot,
    after: &WidgetRoot,
) -> Result<Vec<ThreadItemUpdate>, ProtocolError> {
    let before_json = before.to_json();
    let after_json = after.to_json();
    if needs_full_replace(&before_json, &after_json) {
        return Ok(vec![ThreadItemUpdate::WidgetRootUpdated {
            widget: Box::new(after.clone()),
        }]);
    }

    let before_nodes = streaming_text_nodes(&before_json);
    let after_nodes = streaming_text_nodes(&after_json);
    let mut updates = Vec::new();
    for (id, after_node) in &after_nodes {
        let Some((_, before_node)) = before_nodes.iter().find(|(known, _)| known == id) else {
            return Err(ProtocolError::WidgetNodeAdded { id: id.clone() });
        };
        let before_value = text_value(before_node).unwrap_or_default();
        let after_value = text_value(after_node).unwrap_or_default();
        if before_value == after_value {
            continue;
        }
        let Some(delta) = after_value.strip_prefix(before_value) else {
            return Err(ProtocolError::WidgetUpdateNotCumulative { id: id.clone() });
        };
        let streaming = after_node.get("streaming").and_then(Value::as_bool);
        updates.push(ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id: id.clone(),
            delta: delta.to_owned(),
            done: !streaming.unwrap_or(false),
        });
    }
    Ok(updates)
}

/// Applies one widget update to a widget, as a client does: appends a text delta to the node with
/// that id, replaces the component with that id, or replaces the whole widget. Updates that are
/// not about widgets, or that name an id the widget does not have, are errors.
pub fn apply_widget_update(
    widget: &WidgetRoot,
    update: &ThreadItemUpdate,
) -> Result<WidgetRoot, ProtocolError> {
    match update {
        ThreadItemUpdate::WidgetRootUpdated { widget } => Ok(WidgetRoot::clone(widget)),
        ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id,
            delta,
            ..
        } => {
            let mut json = widget.to_json();
            let node = find_node_mut(&mut json, component_id).ok_or_else(|| {
                ProtocolError::WidgetNodeMissing {
                    id: component_id.clone(),
                }
            })?;
            let mut text = text_value(node).unwrap_or_default().to_owned();
            text.push_str(delta);
            node.insert("value".to_owned(), Value::String(text));
            WidgetRoot::from_json(json)
        }
        ThreadItemUpdate::WidgetComponentUpdated {
            component_id,
            component,
        } => {
            let mut json = widget.to_json();
            let node = find_node_mut(&mut json, component_id).ok_or_else(|| {
                ProtocolError::WidgetNodeMissing {
                    id: component_id.clone(),
                }
            })?;
            if let Value::Object(replacement) = component.to_json() {
                *node = replacement;
            }
            WidgetRoot::from_json(json)
        }
        _ => Err(ProtocolError::InvalidWidget(
            "not a widget update".to_owned(),
        )),
    }
}

fn is_streaming_text(node: &Map<String, Value>) -> bool {
    matches!(
        node.get("type").and_then(Value::as_str),
        Some("Text" | "Markdown")
    ) && text_value(node).is_some()
}

fn text_value(node: &Map<String, Value>) -> Option<&str> {
    node.get("value").and_then(Value::as_str)
}

/// The children of a node: a list, a single component, or none.
fn children(node: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    match node.get("children") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(child)) => vec![child],
        _ => Vec::new(),
    }
}

fn needs_full_replace(before: &Value, after: &Value) -> bool {
    match (before.as_object(), after.as_object()) {
        (Some(before), Some(after)) => nodes_need_full_replace(before, after),
        _ => before != after,
    }
}

fn nodes_need_full_replace(before: &Map<String, Value>, after: &Map<String, Value>) -> bool {
    for identity in ["type", "id", "key"] {
        if before.get(identity) != after.get(identity) {
            return true;
        }
    }
    let streaming_text = is_streaming_text(before) && is_streaming_text(after);
    let keys = before
        .keys()
        .chain(after.keys().filter(|key| !before.contains_key(*key)));
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if streaming_text && key == "value" {
            let appended = matches!(
                (old.and_then(Value::as_str), new.and_then(Value::as_str)),
                (Some(old), Some(new)) if new.starts_with(old)
            );
            if appended {
                continue;
            }
        }
        let differs = match (old, new) {
            (Some(old), Some(new)) if key == "children" => children_need_full_replace(old, new),
            (old, new) => old != new,
        };
        if differs {
            return true;
        }
    }
    false
}

fn children_need_full_replace(before: &Value, after: &Value) -> bool {
    match (before, after) {
        (Value::Array(before), Value::Array(after)) => {
            before.len() != after.len()
                || before
                    .iter()
                    .zip(after)
                    .any(|(before, after)| needs_full_replace(before, after))
        }
        (before, after) => needs_full_replace(before, after),
    }
}

/// Every streaming-text node with an id, in document order; a later node with the same id
/// replaces an earlier one in place, as a Python dict keyed by id does.
fn streaming_text_nodes(root: &Value) -> Vec<(String, &Map<String, Value>)> {
    fn visit<'a>(node: &'a Map<String, Value>, found: &mut Vec<(String, &'a Map<String, Value>)>) {
        if is_streaming_text(node)
            && let Some(id) = node.get("id").and_then(Value::as_str)
            && !id.is_empty()
        {
            match found.iter_mut().find(|(known, _)| known == id) {
                Some(entry) => entry.1 = node,
                None => found.push((id.to_owned(), node)),
            }
        }
        for child in children(node) {
            visit(child, found);
        }
    }
    let mut found = Vec::new();
    if let Some(root) = root.as_object() {
        visit(root, &mut found);
    }
    found
}

fn find_node_mut<'a>(value: &'a mut Value, id: &str) -> Option<&'a mut Map<String, Value>> {
    let node = value.as_object_mut()?;
    if node.get("id").and_then(Value::as_str) == Some(id) {
        return Some(node);
    }
    match node.get_mut("children")? {
        Value::Array(items) => items.iter_mut().find_map(|child| find_node_mut(child, id)),
        child @ Value::Object(_) => find_node_mut(child, id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::widgets::{Card, Markdown, Text, Transition};

    fn card(text: &str, streaming: bool) -> WidgetRoot {
        Card::new()
            .child(Text::new("Title").id("title"))
            .child(Markdown::new(text).id("body").streaming(streaming))
            .into()
    }

    #[test]
    fn appended_text_becomes_a_delta() {
        let updates = diff_widget(&card("Hel", true), &card("Hello", true)).expect("diffs");
        assert_eq!(
            updates,
            vec![ThreadItemUpdate::WidgetStreamingTextValueDelta {
                component_id: "body".into(),
                delta: "lo".into(),
                done: false,
            }]
        );
        assert_eq!(
            diff_widget(&card("Hello", true), &card("Hello", true)).expect("diffs"),
            vec![]
        );
    }

    #[test]
    fn a_changed_prop_or_a_rewritten_text_replaces_the_root() {
        // `streaming` changes from true to false: that is a prop change, so the root is replaced.
        let after = card("Hello", false);
        let updates = diff_widget(&card("Hel", true), &after).expect("diffs");
        assert_eq!(
            updates,
            vec![ThreadItemUpdate::WidgetRootUpdated {
                widget: Box::new(after)
            }]
        );
        let after = card("Help", true);
        let updates = diff_widget(&card("Hello", true), &after).expect("diffs");
        assert_eq!(
            updates,
            vec![ThreadItemUpdate::WidgetRootUpdated {
                widget: Box::new(after)
            }]
        );
    }

    #[test]
    fn a_text_without_streaming_is_done() {
        let before: WidgetRoot = Card::new().child(Text::new("a").id("t")).into();
        let after: WidgetRoot = Card::new().child(Text::new("ab").id("t")).into();
        let updates = diff_widget(&before, &after).expect("diffs");
        assert_eq!(
            updates,
            vec![ThreadItemUpdate::WidgetStreamingTextValueDelta {
                component_id: "t".into(),
                delta: "b".into(),
                done: true,
            }]
        );
    }

    #[test]
    fn text_inside_a_transition_streams_too() {
        let before: WidgetRoot = Card::new()
            .child(Transition::new(Text::new("a").id("t")))
            .into();
        let after: WidgetRoot = Card::new()
            .child(Transition::new(Text::new("abc").id("t")))
            .into();
        let updates = diff_widget(&before, &after).expect("diffs");
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert_eq!(
            apply_widget_update(&before, &updates[0]).expect("applies"),
            after
        );
    }
}
