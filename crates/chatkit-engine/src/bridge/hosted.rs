//! Hosted tool calls (the Responses API's web search, file search and image generation) in
//! ChatKit terms.
//!
//! Searches become tasks of the tool workflow: a `web_search` task with its queries and sources
//! for a web search, a `file` task with the files for a file search (the reference's stream
//! converter shows neither; the trace follows what the engine's own search tool shows). Image
//! generation follows the reference's converter: a `generated_image` item added when the call
//! starts, each partial image a `generated_image.updated` with its progress, the final image in
//! the item's `done`; images are `data:` URLs, as the reference's default `base64_image_to_url`.

use agent_runtime::{HostedToolEvent, SearchKind, SearchSource};
use chatkit_protocol::events::ThreadItemUpdate;
use chatkit_protocol::items::{
    FileSource, FileSourceTagged, GeneratedImage, GeneratedImageItem, StatusIndicator, UrlSource,
    UrlSourceTagged, WorkflowKind,
};
use chatkit_protocol::{Task, ThreadItem, ThreadStreamEvent};
use chatkit_store::ItemIdKind;

use super::{EventBridge, ToolDisplay};

/// The task of a hosted search, running or finished.
fn search_task(
    kind: SearchKind,
    queries: Vec<String>,
    sources: Vec<SearchSource>,
    state: Option<bool>,
) -> Task {
    let status_indicator = match state {
        None => StatusIndicator::Loading,
        Some(_) => StatusIndicator::Complete,
    };
    let failed = state == Some(true);
    match kind {
        SearchKind::File => Task::File {
            status_indicator,
            title: Some(
                match state {
                    None => "Searching files",
                    Some(false) => "Searched files",
                    Some(true) => "File search failed",
                }
                .to_owned(),
            ),
            sources: sources
                .into_iter()
                .filter_map(|source| match source {
                    SearchSource::File { file_id, filename } => Some(FileSourceTagged {
                        source: FileSource {
                            title: if filename.is_empty() {
                                file_id
                            } else {
                                filename.clone()
                            },
                            description: None,
                            timestamp: None,
                            group: None,
                            filename,
                        },
                    }),
                    _ => None,
                })
                .collect(),
        },
        _ => Task::WebSearch {
            status_indicator,
            title: Some(
                match state {
                    None => "Searching the web",
                    Some(false) => "Searched the web",
                    Some(true) => "Web search failed",
                }
                .to_owned(),
            ),
            title_query: queries.first().cloned().filter(|_| !failed),
            queries,
            sources: sources
                .into_iter()
                .filter_map(|source| match source {
                    SearchSource::Url { url } => Some(UrlSourceTagged {
                        source: UrlSource {
                            title: url.clone(),
                            description: None,
                            timestamp: None,
                            group: None,
                            url,
                            attribution: None,
                        },
                    }),
                    _ => None,
                })
                .collect(),
        },
    }
}

impl EventBridge<'_> {
    /// Sets how many partial images an image generation streams (the hosted tool's
    /// `partial_images`), so that each partial image shows its progress; without it progress is
    /// 0, as in the reference.
    pub fn with_expected_partial_images(mut self, partial_images: Option<u32>) -> Self {
        self.partial_images = partial_images;
        self
    }

    /// The progress a partial image stands for: the reference's `partial_image_index_to_progress`.
    fn image_progress(&self, index: u32) -> f64 {
        match self.partial_images {
            Some(expected) if expected > 0 => (f64::from(index) / f64::from(expected)).min(1.0),
            _ => 0.0,
        }
    }

    pub(super) fn on_hosted_tool(
        &mut self,
        event: HostedToolEvent,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        match event {
            HostedToolEvent::SearchStarted { call_id, kind } => {
                self.close_reasoning(out);
                match self.display {
                    ToolDisplay::Workflow => {
                        self.add_tool_task(
                            call_id,
                            search_task(kind, Vec::new(), Vec::new(), None),
                            out,
                        );
                    }
                    ToolDisplay::Progress => out.push(ThreadStreamEvent::ProgressUpdate {
                        icon: Some("search".to_owned()),
                        text: match kind {
                            SearchKind::File => "Searching files…",
                            _ => "Searching the web…",
                        }
                        .to_owned(),
                    }),
                    ToolDisplay::Hidden => {}
                }
            }
            HostedToolEvent::SearchFinished {
                call_id,
                kind,
                queries,
                sources,
                failed,
            } => {
                let task = search_task(kind, queries, sources, Some(failed));
                self.update_tool_task(&call_id, task, out);
            }
            HostedToolEvent::ImageStarted { call_id } => {
                // As before any new item: the open workflows end first.
                self.close_reasoning(out);
                self.close_tools(out);
                out.extend(self.output.end_workflow());
                let item = GeneratedImageItem {
                    id: self.new_id(ItemIdKind::Message),
                    thread_id: self.thread_id.clone(),
                    created_at: Self::now(),
                    image: None,
                };
                out.push(ThreadStreamEvent::ThreadItemAdded {
                    item: ThreadItem::GeneratedImage(item.clone()),
                });
                self.images.insert(call_id, item);
            }
            HostedToolEvent::ImagePartial {
                call_id,
                index,
                image_base64,
                output_format,
            } => {
                let progress = self.image_progress(index);
                if let Some(item) = self.images.get_mut(&call_id) {
                    let image = GeneratedImage {
                        id: call_id,
                        url: data_url(output_format.as_deref(), &image_base64),
                    };
                    item.image = Some(image.clone());
                    out.push(ThreadStreamEvent::ThreadItemUpdated {
                        item_id: item.id.clone(),
                        update: ThreadItemUpdate::GeneratedImageUpdated {
                            image,
                            progress: Some(progress),
                        },
                    });
                }
            }
            HostedToolEvent::ImageFinished {
                call_id,
                image_base64,
                output_format,
            } => {
                let Some(mut item) = self.images.remove(&call_id) else {
                    return;
                };
                match image_base64 {
                    Some(image_base64) => {
                        item.image = Some(GeneratedImage {
                            id: call_id,
                            url: data_url(output_format.as_deref(), &image_base64),
                        });
                        out.push(ThreadStreamEvent::ThreadItemDone {
                            item: ThreadItem::GeneratedImage(item),
                        });
                    }
                    // The reference leaves a failed image's item open for ever; an item that
                    // will never be done is withdrawn instead, so history holds no empty image.
                    None => out.push(ThreadStreamEvent::ThreadItemRemoved { item_id: item.id }),
                }
            }
            #[allow(unreachable_patterns)]
            other => {
                tracing::debug!(
                    call.id = other.call_id(),
                    "a hosted tool event of a kind this bridge does not know was ignored"
                );
            }
        }
    }

    /// Adds `task` to the tool workflow (opened if needed) for call `call_id`.
    pub(super) fn add_tool_task(
        &mut self,
        call_id: String,
        task: Task,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if self.tools.is_none() {
            let open = self.open_workflow(WorkflowKind::Custom);
            out.push(ThreadStreamEvent::ThreadItemAdded {
                item: ThreadItem::Workflow(open.item.clone()),
            });
            self.tools = Some(open);
        }
        if let Some(open) = self.tools.as_mut() {
            let index = open.item.workflow.tasks.len();
            open.item.workflow.tasks.push(task.clone());
            self.tool_tasks.insert(call_id, index);
            out.push(ThreadStreamEvent::ThreadItemUpdated {
                item_id: open.item.id.clone(),
                update: ThreadItemUpdate::WorkflowTaskAdded {
                    task_index: index as i64,
                    task,
                },
            });
        }
    }

    /// Replaces the task of call `call_id` in the tool workflow, if it has one.
    pub(super) fn update_tool_task(
        &mut self,
        call_id: &str,
        task: Task,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if let (Some(open), Some(index)) =
            (self.tools.as_mut(), self.tool_tasks.get(call_id).copied())
            && let Some(slot) = open.item.workflow.tasks.get_mut(index)
        {
            *slot = task.clone();
            out.push(ThreadStreamEvent::ThreadItemUpdated {
                item_id: open.item.id.clone(),
                update: ThreadItemUpdate::WorkflowTaskUpdated {
                    task_index: index as i64,
                    task,
                },
            });
        }
    }
}

/// A `data:` URL for a base64 image in `format` (PNG, the reference's only type, when unknown).
fn data_url(format: Option<&str>, image_base64: &str) -> String {
    let media_type = match format {
        Some("jpeg" | "jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "image/png",
    };
    format!("data:{media_type};base64,{image_base64}")
}
