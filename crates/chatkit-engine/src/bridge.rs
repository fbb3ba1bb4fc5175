//! The bridge from the agent runtime to ChatKit: thread items become model input, and run events
//! become ChatKit events, as the reference's `stream_agent_response` does.

mod hosted;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use agent_runtime::{AgentError, AnnotationSource, RunEvent, TextAnnotation, ToolCall, ToolOutput};
use chatkit_protocol::citations::{
    MarkedText, MarkerMode, ScanState, find_markers_continued, settled_len,
};
use chatkit_protocol::events::ThreadItemUpdate;
use chatkit_protocol::items::{
    FileSource, GeneratedImageItem, StatusIndicator, UrlSource, WorkflowKind, WorkflowSummary,
};
use chatkit_protocol::{
    Annotation, AssistantMessageContent, AssistantMessageItem, ClientToolCallItem,
    ClientToolCallStatus, HiddenContextItem, Source, Task, ThreadItem, ThreadMetadata,
    ThreadStreamEvent, Workflow, WorkflowItem,
};
use chatkit_store::{ItemIdKind, Store, StoreContext};
use serde_json::{Map, Value, json};

use crate::error::EngineError;
use crate::mime::{self, is_model_image, is_text};
use crate::tool_output::{ChatKitCommand, ChatKitOutput};

/// The `type` of the hidden-context items that record a server-side tool call and its output, so
/// that later turns show the model what its tools returned.
pub const TOOL_CALL_CONTEXT: &str = "tool_call";

/// How server-side tool calls are shown to the user. The reference shows nothing; users of it keep
/// asking for a trace, so the default is a workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolDisplay {
    /// A collapsible workflow with one task per call.
    #[default]
    Workflow,
    /// A transient progress line per call.
    Progress,
    /// Nothing visible (the calls are still kept for the model's history).
    Hidden,
}

/// The most text of one text attachment the model sees, in bytes (longer files are cut, and the
/// model is told so): enough for a page of notes or a config file, small enough to leave room for
/// the conversation in the context window.
pub const DEFAULT_MAX_TEXT_ATTACHMENT_BYTES: usize = 20 * 1024;

/// What the model gets for one attachment, read from its bytes before the (synchronous)
/// conversion of items into messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentContent {
    /// An image, as a `data:` URL: the model provider cannot reach this server's download URL.
    Image {
        /// `data:<mime>;base64,<bytes>`.
        data_url: String,
    },
    /// A text file (`text/*`, JSON), decoded as UTF-8 (invalid sequences replaced).
    Text {
        /// The text, at most the configured number of bytes.
        text: String,
        /// True when the file was longer than what `text` holds.
        truncated: bool,
    },
    /// Nothing the model can read (the bytes are missing, or a type such as PDF that is not
    /// converted): the model gets a note naming the file.
    Unreadable,
}

impl AttachmentContent {
    /// The content of an attachment of type `mime_type` made of `bytes`, with text cut at
    /// `max_text_bytes` (on a character boundary).
    pub fn from_bytes(mime_type: &str, bytes: &[u8], max_text_bytes: usize) -> Self {
        let media_type = mime::media_type(mime_type);
        if is_model_image(&media_type) {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            return Self::Image {
                data_url: format!("data:{media_type};base64,{encoded}"),
            };
        }
        if is_text(&media_type) {
            let truncated = bytes.len() > max_text_bytes;
            let mut end = bytes.len().min(max_text_bytes);
            // Cut on a character boundary: step back over UTF-8 continuation bytes.
            while truncated && end > 0 && bytes.get(end).is_some_and(|b| (b & 0xC0) == 0x80) {
                end -= 1;
            }
            return Self::Text {
                text: String::from_utf8_lossy(&bytes[..end]).into_owned(),
                truncated,
            };
        }
        Self::Unreadable
    }

    /// True when an attachment of this MIME type has content worth loading for the model.
    pub fn is_convertible(mime_type: &str) -> bool {
        let media_type = mime::media_type(mime_type);
        is_model_image(&media_type) || is_text(&media_type)
    }
}

/// Where a traced tool call is, for its workflow task's title.
#[derive(Debug, Clone, Copy)]
enum ToolTaskState {
    Running,
    Ran,
    Failed,
}

/// The title of the workflow task that traces a call of tool `name`: the one wording, shared
/// with the converter that recognises these traces in history.
fn tool_task_title(name: &str, state: ToolTaskState) -> String {
    match state {
        ToolTaskState::Running => format!("Running {name}"),
        ToolTaskState::Ran => format!("Ran {name}"),
        ToolTaskState::Failed => format!("{name} failed"),
    }
}

/// The icon of the handoff task (one of the reference's icon names).
const HANDOFF_ICON: &str = "agent";

/// The title of the task that shows a handoff to agent `name`.
pub fn handoff_task_title(name: &str) -> String {
    format!("Handed off to {name}")
}

/// Every title a trace task of tool `name` can have.
pub(crate) fn tool_task_titles(name: &str) -> [String; 3] {
    [
        tool_task_title(name, ToolTaskState::Running),
        tool_task_title(name, ToolTaskState::Ran),
        tool_task_title(name, ToolTaskState::Failed),
    ]
}

/// A server-side tool call and what it returned, as the bridge records it in a hidden-context
/// item of type [`TOOL_CALL_CONTEXT`]: the model sees it again on later turns, and the plain chat
/// endpoint reports it. This type is the one encoder and decoder of that record.
#[derive(Debug, Clone)]
pub struct ToolCallRecord {
    /// The call as the model made it (arguments as the model's raw JSON text).
    pub call: ToolCall,
    /// What the tool returned to the model.
    pub output: ToolOutput,
}

impl ToolCallRecord {
    /// The record as hidden-context content.
    pub fn to_content(&self) -> Value {
        json!({
            "type": TOOL_CALL_CONTEXT,
            "call_id": self.call.id,
            "name": self.call.name,
            "arguments": self.call.arguments,
            "output": self.output.content,
            "is_error": self.output.is_error,
        })
    }

    /// The record held by hidden-context content, if it is one.
    pub fn from_content(content: &Value) -> Option<Self> {
        let object = content.as_object()?;
        if object.get("type")?.as_str()? != TOOL_CALL_CONTEXT {
            return None;
        }
        let call = ToolCall {
            id: object.get("call_id")?.as_str()?.to_owned(),
            name: object.get("name")?.as_str()?.to_owned(),
            arguments: object.get("arguments")?.as_str()?.to_owned(),
        };
        let output = ToolOutput {
            content: object.get("output")?.as_str()?.to_owned(),
            is_error: object
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        Some(Self { call, output })
    }

    /// The record held by `item`, if it is a recorded tool call.
    pub fn from_item(item: &ThreadItem) -> Option<Self> {
        match item {
            ThreadItem::HiddenContext(hidden) => Self::from_content(&hidden.content),
            _ => None,
        }
    }
}

/// What the client reads when an input guardrail stopped the answer.
pub const INPUT_GUARDRAIL_MESSAGE: &str =
    "This message was stopped by a safety check, so the assistant did not answer it.";

/// What the client reads when an output guardrail withheld the answer.
pub const OUTPUT_GUARDRAIL_MESSAGE: &str = "The assistant's answer was withheld by a safety check.";

/// Maps an agent failure to what the client sees: a retryable `stream.error` for provider
/// trouble, a plain explanation when the run hit its turn limit.
pub fn agent_error(err: AgentError) -> EngineError {
    match err {
        // The operator's rule, not a failure: said plainly, and not worth retrying as is.
        AgentError::InputGuardrailTripwire { .. } => EngineError::Custom {
            message: INPUT_GUARDRAIL_MESSAGE.to_owned(),
            allow_retry: false,
        },
        AgentError::OutputGuardrailTripwire { .. } => EngineError::Custom {
            message: OUTPUT_GUARDRAIL_MESSAGE.to_owned(),
            allow_retry: false,
        },
        AgentError::MaxTurnsExceeded { max_turns } => EngineError::Custom {
            message: format!(
                "The assistant needed more than {max_turns} steps and stopped. Please try a simpler request."
            ),
            allow_retry: true,
        },
        AgentError::InvalidOutput(_) => {
            // Not the error's text: it quotes the answer.
            tracing::warn!("the agent's final output did not match its schema");
            EngineError::Custom {
                message: "The assistant's answer did not have the expected form. Please try again."
                    .to_owned(),
                allow_retry: true,
            }
        }
        other => {
            tracing::warn!(error = %other, "the agent run failed");
            EngineError::Stream {
                code: chatkit_protocol::ErrorCode::StreamError,
                allow_retry: true,
            }
        }
    }
}

/// Turns run events into ChatKit events for one thread, keeping the state that ties them together
/// (item ids, open workflows).
pub struct EventBridge<'a> {
    store: &'a dyn Store,
    thread: ThreadMetadata,
    sctx: StoreContext,
    thread_id: String,
    display: ToolDisplay,
    messages: HashMap<String, StreamingMessage>,
    reasoning: Option<OpenWorkflow>,
    tools: Option<OpenWorkflow>,
    tool_tasks: HashMap<String, usize>,
    /// What tools send in ChatKit terms (widgets, their own workflow, sources...).
    output: ChatKitOutput<'a>,
    /// Hidden records of finished tool calls, by call id, until the turn's tools are done.
    held_records: Vec<(String, ThreadStreamEvent)>,
    /// What happens to the `[n]` markers that become annotations.
    markers: MarkerMode,
    /// The numbered sources of the whole response, by number: a later message may cite what an
    /// earlier search found.
    citable: BTreeMap<usize, Source>,
    /// Generated images still coming, by the vendor's call id.
    images: HashMap<String, GeneratedImageItem>,
    /// How many partial images an image generation streams, for their progress.
    partial_images: Option<u32>,
}

/// An assistant message while it streams: the model's text, how much of the text shown to the
/// user has been sent, and the annotations sent (the finished message carries exactly these, in
/// this order).
struct StreamingMessage {
    item: AssistantMessageItem,
    /// The model's text so far, markers included.
    raw: String,
    /// Bytes of `raw` already scanned for markers (and sent, as `shown`).
    scanned: usize,
    /// Where the scan stands at `scanned`.
    scan: ScanState,
    /// The text shown to the user so far (markers stripped or kept), sent as deltas.
    shown: String,
    /// Characters of `shown`.
    shown_chars: usize,
    /// Provider citations already sent.
    provided_seen: usize,
    /// Sources recorded without a number, annotated at the end of the text.
    unnumbered: Vec<Source>,
    /// The annotations sent, in order.
    annotations: Vec<Annotation>,
}

impl StreamingMessage {
    /// Sends an annotation of `source` at `index` of the shown text.
    fn annotate(&mut self, source: Source, index: usize, out: &mut Vec<ThreadStreamEvent>) {
        let annotation = Annotation {
            kind: Default::default(),
            source,
            index: Some(i64::try_from(index).unwrap_or(i64::MAX)),
        };
        out.push(ThreadStreamEvent::ThreadItemUpdated {
            item_id: self.item.id.clone(),
            update: ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                content_index: 0,
                annotation_index: self.annotations.len() as i64,
                annotation: annotation.clone(),
            },
        });
        self.annotations.push(annotation);
    }
}

struct OpenWorkflow {
    item: WorkflowItem,
    started: Instant,
    text: String,
}

impl<'a> EventBridge<'a> {
    /// A bridge for a response on `thread_id`.
    pub fn new(
        store: &'a dyn Store,
        thread: ThreadMetadata,
        sctx: StoreContext,
        display: ToolDisplay,
    ) -> Self {
        let output = {
            let thread = thread.clone();
            let sctx = sctx.clone();
            ChatKitOutput::new(thread.id.clone(), move |kind| {
                store.generate_item_id(kind, &thread, &sctx)
            })
        };
        Self {
            store,
            thread_id: thread.id.clone(),
            thread,
            sctx,
            display,
            messages: HashMap::new(),
            reasoning: None,
            tools: None,
            tool_tasks: HashMap::new(),
            output,
            held_records: Vec::new(),
            markers: MarkerMode::default(),
            citable: BTreeMap::new(),
            images: HashMap::new(),
            partial_images: None,
        }
    }

    /// Sets what happens to the `[n]` markers that become annotations (stripped by default).
    pub fn with_citation_markers(mut self, markers: MarkerMode) -> Self {
        self.markers = markers;
        self
    }

    /// Moves the sources tools recorded since the last look into the citable ones (numbered) or
    /// the message's end-of-text ones (unnumbered).
    fn absorb_sources(&mut self, unnumbered: &mut Vec<Source>) {
        for recorded in self.output.take_recorded_sources() {
            match recorded.number {
                Some(number) => {
                    self.citable.insert(number, recorded.source);
                }
                None => unnumbered.push(recorded.source),
            }
        }
    }

    /// Scans the model's text of `message` up to `end` (a byte index of `raw` where markers are
    /// settled, or its end when the message is done) and sends what the user has not seen: the
    /// new text (markers stripped or kept), then an annotation for each marker in it.
    ///
    /// A marker is only known once the character after it arrives (`[1](` is a link), and with
    /// markers stripped the spaces before one go too, so a trailing `[`-run and trailing spaces
    /// wait for the next delta: no delta ever carries text the final message does not have. Only
    /// the new part is scanned, so a long answer costs linear time.
    fn send_scanned(
        &self,
        message: &mut StreamingMessage,
        end: usize,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if end <= message.scanned {
            return;
        }
        let MarkedText { text, markers } = find_markers_continued(
            &message.raw[message.scanned..end],
            &mut message.scan,
            |number| self.citable.contains_key(&number),
            self.markers,
        );
        message.scanned = end;
        let offset = message.shown_chars;
        if !text.is_empty() {
            message.shown_chars += text.chars().count();
            message.shown.push_str(&text);
            out.push(ThreadStreamEvent::ThreadItemUpdated {
                item_id: message.item.id.clone(),
                update: ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                    content_index: 0,
                    delta: text,
                },
            });
        }
        for marker in markers {
            if let Some(source) = self.citable.get(&marker.number) {
                message.annotate(source.clone(), offset + marker.index, out);
            }
        }
    }

    fn new_id(&self, kind: ItemIdKind) -> String {
        self.store.generate_item_id(kind, &self.thread, &self.sctx)
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chatkit_protocol::time::now()
    }

    fn open_workflow(&self, kind: WorkflowKind) -> OpenWorkflow {
        OpenWorkflow {
            item: WorkflowItem {
                id: self.new_id(ItemIdKind::Workflow),
                thread_id: self.thread_id.clone(),
                created_at: Self::now(),
                workflow: Workflow {
                    kind,
                    tasks: Vec::new(),
                    summary: None,
                    expanded: false,
                },
            },
            started: Instant::now(),
            text: String::new(),
        }
    }

    /// Closes the open workflows (reasoning ends when the answer or a tool call starts).
    fn close_reasoning(&mut self, out: &mut Vec<ThreadStreamEvent>) {
        if let Some(mut open) = self.reasoning.take() {
            open.item.workflow.summary = Some(WorkflowSummary::Duration {
                duration: open.started.elapsed().as_secs() as i64,
            });
            out.push(ThreadStreamEvent::ThreadItemDone {
                item: ThreadItem::Workflow(open.item),
            });
        }
    }

    fn close_tools(&mut self, out: &mut Vec<ThreadStreamEvent>) {
        if let Some(mut open) = self.tools.take() {
            let count = open.item.workflow.tasks.len();
            open.item.workflow.summary = Some(WorkflowSummary::Custom {
                title: if count == 1 {
                    "Used 1 tool".to_owned()
                } else {
                    format!("Used {count} tools")
                },
                icon: None,
            });
            self.tool_tasks.clear();
            // A tool that shows its own item ends this workflow while calls may still run (the
            // reference ends a workflow whenever another item appears): none of its tasks may
            // keep spinning in the stored item.
            for task in &mut open.item.workflow.tasks {
                if let Task::Custom {
                    status_indicator, ..
                } = task
                    && *status_indicator == StatusIndicator::Loading
                {
                    *status_indicator = StatusIndicator::Complete;
                }
            }
            out.push(ThreadStreamEvent::ThreadItemDone {
                item: ThreadItem::Workflow(open.item),
            });
        }
    }

    /// Closes everything still open; call when the run ends.
    pub fn finish(&mut self) -> Vec<ThreadStreamEvent> {
        let mut out: Vec<ThreadStreamEvent> = self
            .held_records
            .drain(..)
            .map(|(_, record)| record)
            .collect();
        self.close_reasoning(&mut out);
        self.close_tools(&mut out);
        out.extend(self.output.finish());
        // An image whose generation never finished is not kept half-made.
        out.extend(
            self.images
                .drain()
                .map(|(_, item)| ThreadStreamEvent::ThreadItemRemoved { item_id: item.id }),
        );
        out
    }

    /// The ChatKit events for one run event.
    pub fn on_event(&mut self, event: RunEvent) -> Vec<ThreadStreamEvent> {
        let mut out = Vec::new();
        if let RunEvent::ClientToolCallRequested { call } = &event {
            self.held_records.retain(|(call_id, _)| call_id != &call.id);
        }
        if !matches!(
            event,
            RunEvent::ToolCallFinished { .. }
                | RunEvent::ToolEmitted { .. }
                | RunEvent::ClientToolCallRequested { .. }
        ) {
            out.extend(self.held_records.drain(..).map(|(_, record)| record));
        }
        match event {
            RunEvent::MessageStarted { message_id } => {
                self.close_reasoning(&mut out);
                self.close_tools(&mut out);
                out.extend(self.output.end_workflow());
                let item = AssistantMessageItem {
                    id: self.new_id(ItemIdKind::Message),
                    thread_id: self.thread_id.clone(),
                    created_at: Self::now(),
                    content: Vec::new(),
                };
                out.push(ThreadStreamEvent::ThreadItemAdded {
                    item: ThreadItem::AssistantMessage(item.clone()),
                });
                out.push(ThreadStreamEvent::ThreadItemUpdated {
                    item_id: item.id.clone(),
                    update: ThreadItemUpdate::AssistantMessageContentPartAdded {
                        content_index: 0,
                        content: AssistantMessageContent::text(""),
                    },
                });
                let mut unnumbered = Vec::new();
                self.absorb_sources(&mut unnumbered);
                self.messages.insert(
                    message_id,
                    StreamingMessage {
                        item,
                        raw: String::new(),
                        scanned: 0,
                        scan: ScanState::default(),
                        shown: String::new(),
                        shown_chars: 0,
                        provided_seen: 0,
                        unnumbered,
                        annotations: Vec::new(),
                    },
                );
            }
            RunEvent::TextDelta { message_id, delta } => {
                if let Some(mut message) = self.messages.remove(&message_id) {
                    message.raw.push_str(&delta);
                    // Only the part after what was scanned can still change.
                    let end = message.scanned + settled_len(&message.raw[message.scanned..]);
                    self.send_scanned(&mut message, end, &mut out);
                    self.messages.insert(message_id, message);
                }
            }
            RunEvent::AnnotationAdded {
                message_id,
                annotation,
            } => {
                if let Some(message) = self.messages.get_mut(&message_id) {
                    message.provided_seen += 1;
                    if let Some(source) = provider_source(&annotation) {
                        // The provider's indices are into the text it sent, which has no markers
                        // of ours (a provider that cites does so with annotations, not `[n]`).
                        let end =
                            message.shown_chars + message.raw[message.scanned..].chars().count();
                        message.annotate(source, annotation.index.min(end), &mut out);
                    }
                }
            }
            RunEvent::MessageDone {
                message_id,
                text,
                annotations,
            } => {
                if let Some(mut message) = self.messages.remove(&message_id) {
                    let mut unnumbered = std::mem::take(&mut message.unnumbered);
                    self.absorb_sources(&mut unnumbered);
                    // The deltas add up to the full text; a message that came without any (from
                    // a responder of its own) is all still to send.
                    if message.raw.is_empty() {
                        message.raw = text;
                    }
                    let end = message.raw.len();
                    self.send_scanned(&mut message, end, &mut out);
                    // Tools cannot know where in the text the model uses unnumbered sources: the
                    // end.
                    let end = message.shown_chars;
                    for source in unnumbered {
                        message.annotate(source, end, &mut out);
                    }
                    for annotation in annotations.iter().skip(message.provided_seen) {
                        if let Some(source) = provider_source(annotation) {
                            message.annotate(source, annotation.index.min(end), &mut out);
                        }
                    }
                    let mut content =
                        AssistantMessageContent::text(std::mem::take(&mut message.shown));
                    content.annotations = std::mem::take(&mut message.annotations);
                    out.push(ThreadStreamEvent::ThreadItemUpdated {
                        item_id: message.item.id.clone(),
                        update: ThreadItemUpdate::AssistantMessageContentPartDone {
                            content_index: 0,
                            content: content.clone(),
                        },
                    });
                    let mut item = message.item;
                    item.content = vec![content];
                    out.push(ThreadStreamEvent::ThreadItemDone {
                        item: ThreadItem::AssistantMessage(item),
                    });
                }
            }
            RunEvent::ReasoningStarted { .. } if self.reasoning.is_none() => {
                let open = self.open_workflow(WorkflowKind::Reasoning);
                out.push(ThreadStreamEvent::ThreadItemAdded {
                    item: ThreadItem::Workflow(open.item.clone()),
                });
                self.reasoning = Some(open);
            }
            RunEvent::ReasoningDelta { delta, .. } => {
                if self.reasoning.is_none() {
                    let open = self.open_workflow(WorkflowKind::Reasoning);
                    out.push(ThreadStreamEvent::ThreadItemAdded {
                        item: ThreadItem::Workflow(open.item.clone()),
                    });
                    self.reasoning = Some(open);
                }
                if let Some(open) = self.reasoning.as_mut() {
                    open.text.push_str(&delta);
                    out.push(thought_update(open));
                }
            }
            RunEvent::ReasoningDone { text, .. } => {
                if let Some(open) = self.reasoning.as_mut() {
                    if open.text != text && !text.is_empty() {
                        open.text = text;
                        out.push(thought_update(open));
                    }
                    if let Some(Task::Thought {
                        status_indicator, ..
                    }) = open.item.workflow.tasks.last_mut()
                    {
                        *status_indicator = StatusIndicator::Complete;
                    }
                }
            }
            RunEvent::ToolCallStarted { call } => {
                self.close_reasoning(&mut out);
                // While a tool's own workflow is open, it is the trace: no second one beside it.
                let display = if self.output.has_open_workflow() {
                    ToolDisplay::Hidden
                } else {
                    self.display
                };
                match display {
                    ToolDisplay::Workflow => {
                        let task = Task::Custom {
                            status_indicator: StatusIndicator::Loading,
                            title: Some(tool_task_title(&call.name, ToolTaskState::Running)),
                            icon: Some("bolt".to_owned()),
                            content: None,
                        };
                        self.add_tool_task(call.id.clone(), task, &mut out);
                    }
                    ToolDisplay::Progress => out.push(ThreadStreamEvent::ProgressUpdate {
                        icon: Some("bolt".to_owned()),
                        text: format!("Running {}…", call.name),
                    }),
                    ToolDisplay::Hidden => {}
                }
            }
            RunEvent::ToolCallFinished { call, output } => {
                // Widgets the call left streaming are final now.
                out.extend(self.output.finish_scope(&call.id));
                {
                    let task = Task::Custom {
                        status_indicator: StatusIndicator::Complete,
                        title: Some(tool_task_title(
                            &call.name,
                            if output.is_error {
                                ToolTaskState::Failed
                            } else {
                                ToolTaskState::Ran
                            },
                        )),
                        icon: Some(
                            if output.is_error {
                                "circle-question"
                            } else {
                                "check"
                            }
                            .to_owned(),
                        ),
                        content: None,
                    };
                    self.update_tool_task(&call.id, task, &mut out);
                }
                // The call and its output are kept (hidden) so that later turns show the model
                // what its tools returned. Held until the turn's tools are all done: a tool may
                // have ended the turn with a client tool call, whose result then answers the call.
                let record = ThreadStreamEvent::ThreadItemDone {
                    item: ThreadItem::HiddenContext(HiddenContextItem {
                        id: self.new_id(ItemIdKind::ToolCall),
                        thread_id: self.thread_id.clone(),
                        created_at: Self::now(),
                        content: ToolCallRecord {
                            call: call.clone(),
                            output,
                        }
                        .to_content(),
                    }),
                };
                self.held_records.push((call.id, record));
            }
            RunEvent::ClientToolCallRequested { call } => {
                self.close_reasoning(&mut out);
                self.close_tools(&mut out);
                let arguments = match serde_json::from_str::<Value>(&call.arguments) {
                    Ok(Value::Object(map)) => map,
                    Ok(other) => Map::from_iter([("value".to_owned(), other)]),
                    Err(_) => {
                        Map::from_iter([("raw".to_owned(), Value::String(call.arguments.clone()))])
                    }
                };
                out.push(ThreadStreamEvent::ThreadItemDone {
                    item: ThreadItem::ClientToolCall(ClientToolCallItem {
                        id: self.new_id(ItemIdKind::ToolCall),
                        thread_id: self.thread_id.clone(),
                        created_at: Self::now(),
                        status: ClientToolCallStatus::Pending,
                        call_id: call.id,
                        name: call.name,
                        arguments,
                        output: None,
                    }),
                });
            }
            RunEvent::ToolEmitted { call, event } => {
                match ChatKitCommand::from_tool_event(&event) {
                    Ok(Some(command)) => {
                        if self.output.opens_workflow(&command) {
                            // The tool's own workflow is the trace of this work: the automatic one
                            // (opened when the calls started) is withdrawn rather than left beside it.
                            self.close_reasoning(&mut out);
                            if let Some(open) = self.tools.take() {
                                self.tool_tasks.clear();
                                out.push(ThreadStreamEvent::ThreadItemRemoved {
                                    item_id: open.item.id,
                                });
                            }
                        } else if command.adds_item() {
                            // As the reference does: a new item ends the open workflows first.
                            self.close_reasoning(&mut out);
                            self.close_tools(&mut out);
                        }
                        match self.output.apply(&call.id, command) {
                            Ok(events) => out.extend(events),
                            Err(err) => {
                                tracing::warn!(tool.name = %call.name, tool.call_id = %call.id, error = %err, "a tool's ChatKit output was dropped");
                            }
                        }
                    }
                    Ok(None) => {
                        tracing::debug!(tool.name = %call.name, event.kind = %event.kind, "a tool event of a kind this bridge does not know was ignored");
                    }
                    Err(err) => {
                        tracing::warn!(tool.name = %call.name, tool.call_id = %call.id, error = %err, "a tool's ChatKit output was dropped");
                    }
                }
            }
            RunEvent::HostedTool(event) => self.on_hosted_tool(event, &mut out),
            RunEvent::Usage(usage) => {
                tracing::debug!(?usage, "model usage");
            }
            RunEvent::Handoff { to, .. } => {
                // A workflow of its own, done at once: the agent that answers from here on is
                // a fact, not work in progress, and it must not count as a tool in the summary of
                // the tools' workflow. Later turns show it to the model as a performed task.
                self.close_reasoning(&mut out);
                self.close_tools(&mut out);
                out.extend(self.output.end_workflow());
                match self.display {
                    ToolDisplay::Workflow => {
                        let title = handoff_task_title(&to);
                        let mut open = self.open_workflow(WorkflowKind::Custom);
                        out.push(ThreadStreamEvent::ThreadItemAdded {
                            item: ThreadItem::Workflow(open.item.clone()),
                        });
                        open.item.workflow.tasks.push(Task::Custom {
                            status_indicator: StatusIndicator::Complete,
                            title: Some(title.clone()),
                            icon: Some(HANDOFF_ICON.to_owned()),
                            content: None,
                        });
                        open.item.workflow.summary = Some(WorkflowSummary::Custom {
                            title,
                            icon: Some(HANDOFF_ICON.to_owned()),
                        });
                        out.push(ThreadStreamEvent::ThreadItemDone {
                            item: ThreadItem::Workflow(open.item),
                        });
                    }
                    ToolDisplay::Progress => out.push(ThreadStreamEvent::ProgressUpdate {
                        icon: Some(HANDOFF_ICON.to_owned()),
                        text: handoff_task_title(&to),
                    }),
                    ToolDisplay::Hidden => {}
                }
            }
            RunEvent::RunFinished(_) => out.extend(self.finish()),
            _ => {}
        }
        out
    }
}

/// The ChatKit source of a provider's citation: a URL source for a web page, a file source for a
/// file (titled by its name, the only title the provider gives).
fn provider_source(annotation: &TextAnnotation) -> Option<Source> {
    match &annotation.source {
        AnnotationSource::Url { url, title } => Some(Source::Url(UrlSource {
            title: if title.is_empty() {
                url.clone()
            } else {
                title.clone()
            },
            description: None,
            timestamp: None,
            group: None,
            url: url.clone(),
            attribution: None,
        })),
        AnnotationSource::File { filename, .. } => Some(Source::File(FileSource {
            title: filename.clone(),
            description: None,
            timestamp: None,
            group: None,
            filename: filename.clone(),
        })),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn thought_update(open: &mut OpenWorkflow) -> ThreadStreamEvent {
    let task = Task::Thought {
        status_indicator: StatusIndicator::Loading,
        title: None,
        content: open.text.clone(),
    };
    let update = if open.item.workflow.tasks.is_empty() {
        open.item.workflow.tasks.push(task.clone());
        ThreadItemUpdate::WorkflowTaskAdded {
            task_index: 0,
            task,
        }
    } else {
        let index = open.item.workflow.tasks.len() - 1;
        open.item.workflow.tasks[index] = task.clone();
        ThreadItemUpdate::WorkflowTaskUpdated {
            task_index: index as i64,
            task,
        }
    };
    ThreadStreamEvent::ThreadItemUpdated {
        item_id: open.item.id.clone(),
        update,
    }
}
