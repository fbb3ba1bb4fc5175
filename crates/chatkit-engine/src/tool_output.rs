//! ChatKit output produced while a response runs: widgets (whole or streamed over versions),
//! workflows of tasks, progress lines, client effects and sources, as the reference's
//! `AgentContext` produces them.
//!
//! Two halves:
//! - [`ChatKitCommand`] is what a producer asks for. Agent tools send commands through the run as
//!   `agent_runtime::ToolEvent`s (see [`ChatKitToolContext`](crate::ChatKitToolContext)); the
//!   kinds are `chatkit.*` and the data is the command's fields, so tools in other languages
//!   (an MCP server, through the `mcp-client` widget convention) can speak it too.
//! - [`ChatKitOutput`] turns commands into ChatKit events with the engine's contract: unique
//!   store-generated ids, a `thread.item.done` for every item it opens, widget versions diffed
//!   into `widget.root.updated` / `widget.streaming_text.value_delta` updates
//!   ([`chatkit_protocol::diff_widget`]). A hand-written [`ChatKitServer`](crate::ChatKitServer)
//!   uses it directly.

use std::collections::HashMap;
use std::time::Instant;

use agent_runtime::ToolEvent;
use chatkit_protocol::events::ThreadItemUpdate;
use chatkit_protocol::items::{StatusIndicator, WorkflowKind, WorkflowSummary};
use chatkit_protocol::{
    Source, Task, ThreadItem, ThreadStreamEvent, WidgetItem, WidgetRoot, Workflow, WorkflowItem,
};
use chatkit_store::ItemIdKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::EngineError;

/// The prefix of every tool event kind that carries a [`ChatKitCommand`].
pub const CHATKIT_EVENT_PREFIX: &str = "chatkit.";

/// One thing a producer (a tool, a responder) wants the user to see.
///
/// As a tool event, the kind is the variant's `chatkit.*` name and the data is an object of its
/// fields: `chatkit.widget` takes `{"widget": {...}, "copy_text": "..."}`, which is also what the
/// MCP widget convention emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
#[non_exhaustive]
pub enum ChatKitCommand {
    /// Shows a finished widget (one `thread.item.done`), like `stream_widget(widget)`.
    #[serde(rename = "chatkit.widget")]
    Widget {
        /// The widget.
        widget: WidgetRoot,
        /// Its plain-text form, for the copy button.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy_text: Option<String>,
    },
    /// A version of a widget that changes while the producer works, like `stream_widget` over an
    /// async generator. The first version of a `stream` adds the item; later versions are sent
    /// as diffs; [`ChatKitCommand::WidgetDone`] (or the end of the producing call) finishes it.
    #[serde(rename = "chatkit.widget.version")]
    WidgetVersion {
        /// Names the widget among the producer's streams (any string, unique per producer).
        stream: String,
        /// The new version. Text of `Text`/`Markdown` nodes with an `id` may only grow; any other
        /// change replaces the whole widget on the client.
        widget: WidgetRoot,
        /// Its plain-text form (the last one sent wins).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy_text: Option<String>,
    },
    /// The streamed widget is final.
    #[serde(rename = "chatkit.widget.done")]
    WidgetDone {
        /// The stream to finish.
        stream: String,
    },
    /// Starts a workflow (`start_workflow`). A custom workflow without tasks is shown when its
    /// first task arrives. An open workflow is ended first.
    #[serde(rename = "chatkit.workflow.start")]
    StartWorkflow {
        /// The workflow, usually `{"type": "custom", "tasks": []}`.
        workflow: Workflow,
    },
    /// Appends a task to the open workflow, or to a new custom one (`add_workflow_task`).
    #[serde(rename = "chatkit.workflow.task.add")]
    AddWorkflowTask {
        /// The task.
        task: Task,
    },
    /// Replaces a task of the open workflow (`update_workflow_task`).
    #[serde(rename = "chatkit.workflow.task.update")]
    UpdateWorkflowTask {
        /// The task's new state.
        task: Task,
        /// Its position in the workflow.
        task_index: usize,
    },
    /// Ends the open workflow (`end_workflow`); without a summary it shows its duration.
    #[serde(rename = "chatkit.workflow.end")]
    EndWorkflow {
        /// The summary shown when collapsed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<WorkflowSummary>,
        /// Whether it stays expanded.
        #[serde(default)]
        expanded: bool,
    },
    /// A transient progress line (`ProgressUpdateEvent`).
    #[serde(rename = "chatkit.progress")]
    Progress {
        /// The text.
        text: String,
        /// An icon name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
    },
    /// An effect the client runs, fire and forget (`ClientEffectEvent`).
    #[serde(rename = "chatkit.client_effect")]
    ClientEffect {
        /// The effect's name.
        name: String,
        /// Its data.
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// Replaces the task this producer added last (a search shows its query while it runs and
    /// its sources when done, without knowing where its task landed in the workflow).
    #[serde(rename = "chatkit.workflow.task.update_last")]
    UpdateLastTask {
        /// The task's new state.
        task: Task,
    },
    /// Sources the answer draws on: they become the citations (annotations) of the next
    /// assistant message.
    #[serde(rename = "chatkit.sources")]
    Sources {
        /// The sources, in citation order.
        sources: Vec<Source>,
        /// The number the model was told to cite the first source by (`[n]`); the others follow
        /// in order. With a number, an answer's markers become annotations where they stand;
        /// without one, the sources are annotated at the end of the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_number: Option<usize>,
    },
}

impl ChatKitCommand {
    /// The command as a tool event.
    pub fn to_tool_event(&self) -> ToolEvent {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = value
            .get_mut("data")
            .map(Value::take)
            .unwrap_or_else(|| json!({}));
        ToolEvent::new(kind, data)
    }

    /// The command a tool event carries: `Ok(None)` for kinds outside `chatkit.*` (they are for
    /// someone else), an error naming the problem for a `chatkit.*` event that does not parse.
    pub fn from_tool_event(event: &ToolEvent) -> Result<Option<Self>, EngineError> {
        if !event.kind.starts_with(CHATKIT_EVENT_PREFIX) {
            return Ok(None);
        }
        serde_json::from_value(json!({ "kind": event.kind, "data": event.data }))
            .map(Some)
            .map_err(|error| {
                EngineError::BadRequest(format!("invalid {} tool event: {error}", event.kind))
            })
    }

    /// True when the command puts a new visible item in the thread (which ends open workflows
    /// first, as the reference does).
    pub fn adds_item(&self) -> bool {
        matches!(
            self,
            Self::Widget { .. } | Self::WidgetVersion { .. } | Self::StartWorkflow { .. }
        )
    }
}

/// A workflow a producer opened and has not ended.
struct OpenWorkflow {
    item: WorkflowItem,
    started: Instant,
    /// False while a custom workflow without tasks waits for its first task to be shown.
    announced: bool,
}

/// A widget being streamed: the item as last sent.
struct OpenWidget {
    item: WidgetItem,
}

/// Turns [`ChatKitCommand`]s into ChatKit events for one response, keeping the state that ties
/// them together (the open workflow, widgets being streamed, sources waiting for a message).
///
/// Widgets are scoped by producer (for tools, the call id) so that two calls may both stream a
/// widget named `"main"`. Every item opened here is finished by [`ChatKitOutput::finish_scope`]
/// or [`ChatKitOutput::finish`], so nothing stays half-sent when a producer forgets.
pub struct ChatKitOutput<'a> {
    thread_id: String,
    new_id: Box<dyn Fn(ItemIdKind) -> String + Send + Sync + 'a>,
    workflow: Option<OpenWorkflow>,
    widgets: HashMap<(String, String), OpenWidget>,
    sources: Vec<RecordedSource>,
    /// The index of the task each producer added last, in the open workflow.
    last_tasks: HashMap<String, usize>,
}

/// A source a producer recorded for the next answer's citations.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSource {
    /// The source.
    pub source: Source,
    /// The citation number the model knows it by, when the producer numbered it.
    pub number: Option<usize>,
}

impl std::fmt::Debug for ChatKitOutput<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChatKitOutput")
            .field("thread_id", &self.thread_id)
            .field("workflow_open", &self.workflow.is_some())
            .field("widgets_streaming", &self.widgets.len())
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl<'a> ChatKitOutput<'a> {
    /// Output for a response on `thread_id`, with item ids from `new_id` (use
    /// [`Store::generate_item_id`](chatkit_store::Store::generate_item_id)).
    pub fn new(
        thread_id: impl Into<String>,
        new_id: impl Fn(ItemIdKind) -> String + Send + Sync + 'a,
    ) -> Self {
        Self {
            thread_id: thread_id.into(),
            new_id: Box::new(new_id),
            workflow: None,
            widgets: HashMap::new(),
            sources: Vec::new(),
            last_tasks: HashMap::new(),
        }
    }

    /// Output for a [`Turn`](crate::Turn) of a hand-written responder.
    pub fn for_turn(turn: &crate::Turn) -> Self {
        let store = turn.store.clone();
        let thread = turn.thread.snapshot();
        let sctx = turn.ctx.store();
        Self::new(thread.id.clone(), move |kind| {
            store.generate_item_id(kind, &thread, &sctx)
        })
    }

    /// True when `command` would open a new workflow (a start, or a task with none open).
    pub fn opens_workflow(&self, command: &ChatKitCommand) -> bool {
        match command {
            ChatKitCommand::StartWorkflow { .. } => true,
            ChatKitCommand::AddWorkflowTask { .. } => self.workflow.is_none(),
            _ => false,
        }
    }

    /// True while a producer's workflow is open.
    pub fn has_open_workflow(&self) -> bool {
        self.workflow.is_some()
    }

    /// The events for `command` from the producer `scope` (a tool call id, or any name for a
    /// hand-written responder).
    ///
    /// Errors leave the state as it was: a widget version that does not follow the diff rules
    /// ([`chatkit_protocol::diff_widget`]), a version or `done` for a widget that is not being
    /// streamed, a task update without an open workflow or out of range.
    pub fn apply(
        &mut self,
        scope: &str,
        command: ChatKitCommand,
    ) -> Result<Vec<ThreadStreamEvent>, EngineError> {
        let mut out = Vec::new();
        match command {
            ChatKitCommand::Widget { widget, copy_text } => {
                self.end_workflow_into(None, false, &mut out);
                out.push(ThreadStreamEvent::ThreadItemDone {
                    item: ThreadItem::Widget(self.widget_item(widget, copy_text)),
                });
            }
            ChatKitCommand::WidgetVersion {
                stream,
                widget,
                copy_text,
            } => {
                let key = (scope.to_owned(), stream);
                if let Some(open) = self.widgets.get_mut(&key) {
                    let updates = chatkit_protocol::diff_widget(&open.item.widget, &widget)
                        .map_err(|error| {
                            EngineError::BadRequest(format!("widget stream {}: {error}", key.1))
                        })?;
                    for update in updates {
                        out.push(ThreadStreamEvent::ThreadItemUpdated {
                            item_id: open.item.id.clone(),
                            update,
                        });
                    }
                    *open.item.widget = widget;
                    if copy_text.is_some() {
                        open.item.copy_text = copy_text;
                    }
                } else {
                    self.end_workflow_into(None, false, &mut out);
                    let item = self.widget_item(widget, copy_text);
                    out.push(ThreadStreamEvent::ThreadItemAdded {
                        item: ThreadItem::Widget(item.clone()),
                    });
                    self.widgets.insert(key, OpenWidget { item });
                }
            }
            ChatKitCommand::WidgetDone { stream } => {
                let key = (scope.to_owned(), stream);
                let Some(open) = self.widgets.remove(&key) else {
                    return Err(EngineError::BadRequest(format!(
                        "widget stream {} is not open",
                        key.1
                    )));
                };
                out.push(ThreadStreamEvent::ThreadItemDone {
                    item: ThreadItem::Widget(open.item),
                });
            }
            ChatKitCommand::StartWorkflow { workflow } => {
                self.end_workflow_into(None, false, &mut out);
                let announce =
                    workflow.kind == WorkflowKind::Reasoning || !workflow.tasks.is_empty();
                let open = OpenWorkflow {
                    item: WorkflowItem {
                        id: (self.new_id)(ItemIdKind::Workflow),
                        thread_id: self.thread_id.clone(),
                        created_at: chatkit_protocol::time::now(),
                        workflow,
                    },
                    started: Instant::now(),
                    announced: announce,
                };
                if announce {
                    out.push(ThreadStreamEvent::ThreadItemAdded {
                        item: ThreadItem::Workflow(open.item.clone()),
                    });
                }
                self.workflow = Some(open);
            }
            ChatKitCommand::AddWorkflowTask { task } => {
                let open = self.workflow.get_or_insert_with(|| OpenWorkflow {
                    item: WorkflowItem {
                        id: (self.new_id)(ItemIdKind::Workflow),
                        thread_id: self.thread_id.clone(),
                        created_at: chatkit_protocol::time::now(),
                        workflow: Workflow {
                            kind: WorkflowKind::Custom,
                            tasks: Vec::new(),
                            summary: None,
                            expanded: false,
                        },
                    },
                    started: Instant::now(),
                    announced: false,
                });
                open.item.workflow.tasks.push(task.clone());
                self.last_tasks
                    .insert(scope.to_owned(), open.item.workflow.tasks.len() - 1);
                if open.announced {
                    out.push(ThreadStreamEvent::ThreadItemUpdated {
                        item_id: open.item.id.clone(),
                        update: ThreadItemUpdate::WorkflowTaskAdded {
                            task_index: (open.item.workflow.tasks.len() - 1) as i64,
                            task,
                        },
                    });
                } else {
                    // The reference's rule: a custom workflow appears with its first task.
                    open.announced = true;
                    out.push(ThreadStreamEvent::ThreadItemAdded {
                        item: ThreadItem::Workflow(open.item.clone()),
                    });
                }
            }
            ChatKitCommand::UpdateWorkflowTask { task, task_index } => {
                let Some(open) = self.workflow.as_mut() else {
                    return Err(EngineError::BadRequest(
                        "no workflow is open to update a task of".to_owned(),
                    ));
                };
                let Some(slot) = open.item.workflow.tasks.get_mut(task_index) else {
                    return Err(EngineError::BadRequest(format!(
                        "the workflow has no task {task_index}"
                    )));
                };
                *slot = task.clone();
                if open.announced {
                    out.push(ThreadStreamEvent::ThreadItemUpdated {
                        item_id: open.item.id.clone(),
                        update: ThreadItemUpdate::WorkflowTaskUpdated {
                            task_index: task_index as i64,
                            task,
                        },
                    });
                }
            }
            ChatKitCommand::EndWorkflow { summary, expanded } => {
                self.end_workflow_into(summary, expanded, &mut out);
            }
            ChatKitCommand::Progress { text, icon } => {
                out.push(ThreadStreamEvent::ProgressUpdate { icon, text });
            }
            ChatKitCommand::ClientEffect { name, data } => {
                out.push(ThreadStreamEvent::ClientEffect { name, data });
            }
            ChatKitCommand::UpdateLastTask { task } => {
                let Some(task_index) = self.last_tasks.get(scope).copied() else {
                    return Err(EngineError::BadRequest(
                        "this producer added no task to the open workflow".to_owned(),
                    ));
                };
                return self.apply(
                    scope,
                    ChatKitCommand::UpdateWorkflowTask { task, task_index },
                );
            }
            ChatKitCommand::Sources {
                sources,
                first_number,
            } => {
                self.sources
                    .extend(sources.into_iter().enumerate().map(|(offset, source)| {
                        RecordedSource {
                            source,
                            number: first_number.map(|first| first + offset),
                        }
                    }))
            }
        }
        Ok(out)
    }

    /// Ends the open workflow, if any (the model's answer starts, or another item is added).
    /// Like the reference, a workflow ended this way collapses and shows its duration unless it
    /// has a summary.
    pub fn end_workflow(&mut self) -> Vec<ThreadStreamEvent> {
        let mut out = Vec::new();
        self.end_workflow_into(None, false, &mut out);
        out
    }

    /// Finishes the widgets the producer `scope` left streaming (its call ended).
    pub fn finish_scope(&mut self, scope: &str) -> Vec<ThreadStreamEvent> {
        let mut keys: Vec<(String, String)> = self
            .widgets
            .keys()
            .filter(|(owner, _)| owner == scope)
            .cloned()
            .collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|key| self.widgets.remove(&key))
            .map(|open| ThreadStreamEvent::ThreadItemDone {
                item: ThreadItem::Widget(open.item),
            })
            .collect()
    }

    /// Finishes everything still open: streamed widgets, then the workflow. Call when the
    /// response ends.
    pub fn finish(&mut self) -> Vec<ThreadStreamEvent> {
        let mut keys: Vec<(String, String)> = self.widgets.keys().cloned().collect();
        keys.sort();
        let mut out: Vec<ThreadStreamEvent> = keys
            .into_iter()
            .filter_map(|key| self.widgets.remove(&key))
            .map(|open| ThreadStreamEvent::ThreadItemDone {
                item: ThreadItem::Widget(open.item),
            })
            .collect();
        self.end_workflow_into(None, false, &mut out);
        out
    }

    /// The sources recorded so far, for the next assistant message's annotations.
    pub fn take_sources(&mut self) -> Vec<Source> {
        self.take_recorded_sources()
            .into_iter()
            .map(|recorded| recorded.source)
            .collect()
    }

    /// The sources recorded so far with their citation numbers.
    pub fn take_recorded_sources(&mut self) -> Vec<RecordedSource> {
        std::mem::take(&mut self.sources)
    }

    fn widget_item(&self, widget: WidgetRoot, copy_text: Option<String>) -> WidgetItem {
        WidgetItem {
            id: (self.new_id)(ItemIdKind::Message),
            thread_id: self.thread_id.clone(),
            created_at: chatkit_protocol::time::now(),
            widget: Box::new(widget),
            copy_text,
        }
    }

    fn end_workflow_into(
        &mut self,
        summary: Option<WorkflowSummary>,
        expanded: bool,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        // Task positions belong to the workflow that ends here.
        self.last_tasks.clear();
        let Some(mut open) = self.workflow.take() else {
            return;
        };
        if !open.announced {
            // Never shown (no task arrived): nothing to finish on the client or to store.
            return;
        }
        let workflow = &mut open.item.workflow;
        if let Some(summary) = summary {
            workflow.summary = Some(summary);
        } else if workflow.summary.is_none() {
            workflow.summary = Some(WorkflowSummary::Duration {
                duration: open.started.elapsed().as_secs() as i64,
            });
        }
        workflow.expanded = expanded;
        // A task still spinning when its workflow ends would spin forever in the stored item.
        for task in &mut workflow.tasks {
            if let Some(indicator) = task_indicator(task)
                && *indicator == StatusIndicator::Loading
            {
                *indicator = StatusIndicator::Complete;
            }
        }
        out.push(ThreadStreamEvent::ThreadItemDone {
            item: ThreadItem::Workflow(open.item),
        });
    }
}

fn task_indicator(task: &mut Task) -> Option<&mut StatusIndicator> {
    match task {
        Task::Custom {
            status_indicator, ..
        }
        | Task::WebSearch {
            status_indicator, ..
        }
        | Task::Thought {
            status_indicator, ..
        }
        | Task::File {
            status_indicator, ..
        }
        | Task::Image {
            status_indicator, ..
        } => Some(status_indicator),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chatkit_protocol::UrlSource;

    use super::*;

    fn output() -> ChatKitOutput<'static> {
        let next = AtomicUsize::new(0);
        ChatKitOutput::new("thr_1", move |kind| {
            format!("{kind:?}_{}", next.fetch_add(1, Ordering::SeqCst) + 1).to_lowercase()
        })
    }

    /// The events as JSON with timestamps redacted (ids here are deterministic).
    fn redacted(events: &[ThreadStreamEvent]) -> Value {
        let mut value = serde_json::to_value(events).expect("events serialize");
        fn walk(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    if map.contains_key("created_at") {
                        map.insert("created_at".into(), json!("[time]"));
                    }
                    map.values_mut().for_each(walk);
                }
                Value::Array(items) => items.iter_mut().for_each(walk),
                _ => {}
            }
        }
        walk(&mut value);
        value
    }

    fn widget(value: Value) -> WidgetRoot {
        WidgetRoot::from_json(value).expect("a valid widget")
    }

    fn card(text: &str, streaming: bool) -> WidgetRoot {
        widget(json!({"type": "Card", "children": [
            {"type": "Title", "value": "Weather"},
            {"type": "Text", "id": "body", "value": text, "streaming": streaming},
        ]}))
    }

    fn custom_task(title: &str, indicator: StatusIndicator) -> Task {
        Task::Custom {
            status_indicator: indicator,
            title: Some(title.to_owned()),
            icon: None,
            content: None,
        }
    }

    #[test]
    fn a_whole_widget_is_one_done_item() {
        let mut output = output();
        let events = output
            .apply(
                "call_1",
                ChatKitCommand::Widget {
                    widget: card("Sunny", false),
                    copy_text: Some("Sunny".into()),
                },
            )
            .expect("applies");
        assert_eq!(
            redacted(&events),
            json!([{"type": "thread.item.done", "item": {
                "type": "widget", "id": "message_1", "thread_id": "thr_1", "created_at": "[time]",
                "copy_text": "Sunny",
                "widget": {"type": "Card", "children": [
                    {"type": "Title", "value": "Weather"},
                    {"type": "Text", "id": "body", "value": "Sunny", "streaming": false},
                ]},
            }}])
        );
    }

    #[test]
    fn a_widget_streamed_over_versions_becomes_an_added_item_diffs_and_a_done_item() {
        let mut output = output();
        let mut events = Vec::new();
        for version in [card("", true), card("Sun", true), card("Sunny", true)] {
            events.extend(
                output
                    .apply(
                        "call_1",
                        ChatKitCommand::WidgetVersion {
                            stream: "w".into(),
                            widget: version,
                            copy_text: None,
                        },
                    )
                    .expect("applies"),
            );
        }
        // A change that is not an append (here a title and the end of streaming) replaces the
        // root, as in the reference.
        let replaced = widget(json!({"type": "Card", "children": [
            {"type": "Title", "value": "Weather in Paris"},
            {"type": "Text", "id": "body", "value": "Sunny", "streaming": false},
        ]}));
        events.extend(
            output
                .apply(
                    "call_1",
                    ChatKitCommand::WidgetVersion {
                        stream: "w".into(),
                        widget: replaced.clone(),
                        copy_text: Some("Sunny in Paris".into()),
                    },
                )
                .expect("applies"),
        );
        events.extend(
            output
                .apply("call_1", ChatKitCommand::WidgetDone { stream: "w".into() })
                .expect("applies"),
        );
        let kinds: Vec<String> = events
            .iter()
            .map(|event| match event {
                ThreadStreamEvent::ThreadItemUpdated { update, .. } => serde_json::to_value(update)
                    .expect("serializes")["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                other => other.kind().to_owned(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "thread.item.added",
                "widget.streaming_text.value_delta",
                "widget.streaming_text.value_delta",
                "widget.root.updated",
                "thread.item.done"
            ]
        );
        assert_eq!(
            redacted(&events[1..3]),
            json!([
                {"type": "thread.item.updated", "item_id": "message_1", "update": {
                    "type": "widget.streaming_text.value_delta", "component_id": "body",
                    "delta": "Sun", "done": false}},
                {"type": "thread.item.updated", "item_id": "message_1", "update": {
                    "type": "widget.streaming_text.value_delta", "component_id": "body",
                    "delta": "ny", "done": false}},
            ])
        );
        let ThreadStreamEvent::ThreadItemDone {
            item: ThreadItem::Widget(done),
        } = &events[4]
        else {
            panic!("a widget is done")
        };
        assert_eq!(*done.widget, replaced);
        assert_eq!(done.copy_text.as_deref(), Some("Sunny in Paris"));
    }

    #[test]
    fn a_version_that_rewrites_text_replaces_the_root_and_streams_are_per_producer() {
        let mut output = output();
        let version = |text: &str| ChatKitCommand::WidgetVersion {
            stream: "w".into(),
            widget: card(text, true),
            copy_text: None,
        };
        output
            .apply("call_1", version("Sunny"))
            .expect("first version");
        let events = output.apply("call_1", version("Rain")).expect("applies");
        assert_eq!(
            redacted(&events)[0]["update"]["type"],
            "widget.root.updated"
        );
        let events = output
            .apply("call_1", version("Rain later"))
            .expect("applies");
        assert_eq!(
            redacted(&events)[0]["update"]["delta"],
            json!(" later"),
            "diffs continue from the last version"
        );
        let error = output
            .apply("call_2", ChatKitCommand::WidgetDone { stream: "w".into() })
            .expect_err("streams are per producer");
        assert!(error.to_string().contains("not open"), "{error}");
    }

    #[test]
    fn widgets_a_producer_leaves_open_are_finished_with_its_scope_or_the_response() {
        let mut output = output();
        for scope in ["call_1", "call_2"] {
            output
                .apply(
                    scope,
                    ChatKitCommand::WidgetVersion {
                        stream: "w".into(),
                        widget: card("Sun", true),
                        copy_text: None,
                    },
                )
                .expect("applies");
        }
        let first = output.finish_scope("call_1");
        assert_eq!(first.len(), 1);
        assert!(output.finish_scope("call_1").is_empty());
        let rest = output.finish();
        assert_eq!(redacted(&rest)[0]["item"]["id"], json!("message_2"));
        assert_eq!(rest.len(), 1);
    }

    #[test]
    fn a_workflow_appears_with_its_first_task_and_ends_collapsed_with_its_tasks_complete() {
        let mut output = output();
        let mut events = Vec::new();
        let mut apply = |command| events.extend(output.apply("call_1", command).expect("applies"));
        apply(ChatKitCommand::StartWorkflow {
            workflow: Workflow {
                kind: WorkflowKind::Custom,
                tasks: Vec::new(),
                summary: None,
                expanded: true,
            },
        });
        apply(ChatKitCommand::AddWorkflowTask {
            task: custom_task("Searching", StatusIndicator::Loading),
        });
        apply(ChatKitCommand::AddWorkflowTask {
            task: custom_task("Reading", StatusIndicator::Loading),
        });
        apply(ChatKitCommand::UpdateWorkflowTask {
            task: custom_task("Searched", StatusIndicator::Complete),
            task_index: 0,
        });
        apply(ChatKitCommand::EndWorkflow {
            summary: Some(WorkflowSummary::Custom {
                title: "Looked it up".into(),
                icon: None,
            }),
            expanded: false,
        });
        assert_eq!(
            redacted(&events),
            json!([
                {"type": "thread.item.added", "item": {"type": "workflow", "id": "workflow_1",
                    "thread_id": "thr_1", "created_at": "[time]", "workflow": {"type": "custom",
                    "tasks": [{"type": "custom", "status_indicator": "loading", "title": "Searching"}],
                    "expanded": true}}},
                {"type": "thread.item.updated", "item_id": "workflow_1", "update": {
                    "type": "workflow.task.added", "task_index": 1,
                    "task": {"type": "custom", "status_indicator": "loading", "title": "Reading"}}},
                {"type": "thread.item.updated", "item_id": "workflow_1", "update": {
                    "type": "workflow.task.updated", "task_index": 0,
                    "task": {"type": "custom", "status_indicator": "complete", "title": "Searched"}}},
                {"type": "thread.item.done", "item": {"type": "workflow", "id": "workflow_1",
                    "thread_id": "thr_1", "created_at": "[time]", "workflow": {"type": "custom",
                    "tasks": [
                        {"type": "custom", "status_indicator": "complete", "title": "Searched"},
                        {"type": "custom", "status_indicator": "complete", "title": "Reading"},
                    ],
                    "summary": {"title": "Looked it up"}, "expanded": false}}},
            ])
        );
        assert!(!output.has_open_workflow());
    }

    #[test]
    fn a_widget_ends_the_open_workflow_first_and_an_unshown_workflow_leaves_no_trace() {
        let mut output = output();
        output
            .apply(
                "call_1",
                ChatKitCommand::AddWorkflowTask {
                    task: custom_task("Working", StatusIndicator::Loading),
                },
            )
            .expect("applies");
        let events = output
            .apply(
                "call_1",
                ChatKitCommand::Widget {
                    widget: card("Done", false),
                    copy_text: None,
                },
            )
            .expect("applies");
        let value = redacted(&events);
        assert_eq!(value[0]["item"]["type"], "workflow");
        assert_eq!(value[0]["item"]["workflow"]["summary"]["duration"], 0);
        assert_eq!(value[1]["item"]["type"], "widget");

        let mut output = super::tests::output();
        output
            .apply(
                "call_1",
                ChatKitCommand::StartWorkflow {
                    workflow: Workflow {
                        kind: WorkflowKind::Custom,
                        tasks: Vec::new(),
                        summary: None,
                        expanded: false,
                    },
                },
            )
            .expect("applies");
        assert!(output.finish().is_empty(), "never shown, never stored");
        assert!(
            output
                .apply(
                    "call_1",
                    ChatKitCommand::UpdateWorkflowTask {
                        task: custom_task("x", StatusIndicator::None),
                        task_index: 0
                    }
                )
                .is_err()
        );
    }

    #[test]
    fn progress_effects_and_sources() {
        let mut output = output();
        let mut events = output
            .apply(
                "call_1",
                ChatKitCommand::Progress {
                    text: "Searching…".into(),
                    icon: Some("search".into()),
                },
            )
            .expect("applies");
        let mut data = Map::new();
        data.insert("color".into(), json!("orange"));
        events.extend(
            output
                .apply(
                    "call_1",
                    ChatKitCommand::ClientEffect {
                        name: "set_theme".into(),
                        data,
                    },
                )
                .expect("applies"),
        );
        let source = Source::Url(UrlSource {
            url: "https://example.com/a".into(),
            title: "A".into(),
            description: None,
            timestamp: None,
            group: None,
            attribution: None,
        });
        assert!(
            output
                .apply(
                    "call_1",
                    ChatKitCommand::Sources {
                        sources: vec![source.clone()],
                        first_number: None,
                    }
                )
                .expect("applies")
                .is_empty()
        );
        assert_eq!(
            redacted(&events),
            json!([
                {"type": "progress_update", "icon": "search", "text": "Searching…"},
                {"type": "client_effect", "name": "set_theme", "data": {"color": "orange"}},
            ])
        );
        assert_eq!(output.take_sources(), vec![source]);
        assert!(output.take_sources().is_empty());
    }

    #[test]
    fn commands_travel_as_tool_events_and_foreign_kinds_are_left_alone() {
        let command = ChatKitCommand::Widget {
            widget: card("Hi", false),
            copy_text: None,
        };
        let event = command.to_tool_event();
        assert_eq!(event.kind, "chatkit.widget");
        assert_eq!(event.data["widget"]["type"], "Card");
        assert_eq!(
            ChatKitCommand::from_tool_event(&event).expect("parses"),
            Some(command)
        );
        let foreign = ToolEvent::new("retrieval.hit", json!({}));
        assert_eq!(
            ChatKitCommand::from_tool_event(&foreign).expect("ignored"),
            None
        );
        let broken = ToolEvent::new("chatkit.widget", json!({"widget": "<Card/>"}));
        assert!(ChatKitCommand::from_tool_event(&broken).is_err());
    }
}
