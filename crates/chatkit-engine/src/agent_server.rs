//! A [`ChatKitServer`] that answers with an agent from the agent runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runtime::{
    Agent, AgentError, AudioClip, Message, ModelEvent, ModelRequest, ModelSettings, RunEvent,
    ToolChoice, Transcriber, Usage, run_streamed,
};
use async_trait::async_trait;
use chatkit_protocol::citations::MarkerMode;
use chatkit_protocol::items::InferenceOptions;
use chatkit_protocol::{
    Action, HiddenContextItem, Order, SyncCustomActionResponse, ThreadItem, ThreadMetadata,
    ThreadStreamEvent, TranscriptionResult, UserMessageInput, UserMessageItem, WidgetItem,
};
use chatkit_store::{AttachmentStore, ItemIdKind, StoreContext, StoreError};
use futures::{FutureExt, StreamExt};

use crate::actions::{ActionHandler, ActionRequest, replaced_sender};
use crate::bridge::{
    AttachmentContent, DEFAULT_MAX_TEXT_ATTACHMENT_BYTES, EventBridge, ToolDisplay, agent_error,
};
use crate::context::RequestContext;
use crate::convert::{DefaultConverter, ThreadItemConverter};
use crate::error::EngineError;
use crate::server::{AudioInput, ChatKitServer, EventStream, Turn};

/// The instruction of the title call. Fixed and short: the call should cost next to nothing.
pub const TITLE_PROMPT: &str = "Write a title of at most 6 words for this conversation. \
    Answer with the title only, without quotes.";

/// The key of the thread metadata entry that names the agent a thread's next turn starts on,
/// once a handoff moved the conversation away from the server's default agent.
pub const ACTIVE_AGENT_METADATA_KEY: &str = "active_agent";

/// The key of the thread metadata entry that sums the token usage of the thread's runs:
/// `{"input_tokens", "output_tokens", "total_tokens", "runs"}`.
pub const USAGE_METADATA_KEY: &str = "usage";

/// How long the title call may take before the response ends without a title.
const TITLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of the first exchange the title call sees, in characters per side.
const TITLE_EXCERPT_CHARS: usize = 2000;

/// Settings of an [`AgentServer`].
#[derive(Debug, Clone)]
pub struct AgentServerConfig {
    /// How many of the thread's most recent messages the model sees (the seeds' default: 10).
    pub history_items: usize,
    /// How server-side tool calls are shown.
    pub tool_display: ToolDisplay,
    /// After the first answer of an untitled thread, ask the model for a short title (one more,
    /// small model call) and set it on the thread, which the engine saves and announces with
    /// `thread.updated`. Off by default: it costs a model call per new thread, and an application
    /// may title threads itself.
    pub generate_titles: bool,
    /// The most bytes of one text attachment the model sees (see
    /// [`AttachmentContent::from_bytes`]); only used with an attachment store.
    pub max_text_attachment_bytes: usize,
    /// Models a user may pick in the composer (`inference_options.model`). A message asking for
    /// a model not listed here is refused with 400 before its response starts; empty (the
    /// default) refuses every pick, since the operator pays for the models.
    pub allowed_models: Vec<String>,
    /// What happens to the model's `[n]` citation markers that become annotations: stripped
    /// (the default; the annotation carries the citation) or kept in the text.
    pub citation_markers: MarkerMode,
}

impl Default for AgentServerConfig {
    fn default() -> Self {
        Self {
            history_items: 10,
            tool_display: ToolDisplay::default(),
            generate_titles: false,
            max_text_attachment_bytes: DEFAULT_MAX_TEXT_ATTACHMENT_BYTES,
            allowed_models: Vec::new(),
            citation_markers: MarkerMode::default(),
        }
    }
}

/// How an agent run ended, for an [`AgentObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// The run finished (including when it stopped for a client tool call).
    Completed,
    /// The run failed (the model provider failed, the turn limit was hit...).
    Failed,
    /// The response was dropped before the run ended (the client left, or shutdown).
    Cancelled,
    /// An input or output guardrail stopped the run.
    GuardrailTripped,
}

impl RunOutcome {
    /// A stable lowercase name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::GuardrailTripped => "guardrail_tripped",
        }
    }
}

/// Measurements of agent runs, for an application's metrics. Every method has an empty default,
/// so an implementation overrides only what it records; none may block (they are called inside
/// the response stream).
///
/// This is a plain trait rather than a metrics crate so the engine stays free of any metrics
/// dependency; the bundled server implements it over its Prometheus registry.
pub trait AgentObserver: Send + Sync {
    /// The model produced its first output of a model call (text, reasoning or a tool call),
    /// `elapsed` after the call was started: the time to first token.
    fn model_first_output(&self, model: &str, elapsed: Duration) {
        let _ = (model, elapsed);
    }

    /// A server-side tool call finished after `elapsed`; `is_error` when its output reports a
    /// failure.
    fn tool_call_finished(&self, tool: &str, is_error: bool, elapsed: Duration) {
        let _ = (tool, is_error, elapsed);
    }

    /// A model call of a run used `usage` tokens (reported once per model call).
    fn tokens_used(&self, model: &str, usage: &Usage) {
        let _ = (model, usage);
    }

    /// An agent run ended, `elapsed` after it started.
    fn run_finished(&self, model: &str, outcome: RunOutcome, elapsed: Duration) {
        let _ = (model, outcome, elapsed);
    }
}

/// Reports a run's end to the observer exactly once, including when the response stream is
/// dropped half-way (which ends the run without any further event).
struct RunReport {
    observer: Option<Arc<dyn AgentObserver>>,
    model: String,
    started: Instant,
    outcome: RunOutcome,
}

impl RunReport {
    fn finish(&mut self, outcome: RunOutcome) {
        self.outcome = outcome;
    }
}

impl Drop for RunReport {
    fn drop(&mut self) {
        if let Some(observer) = &self.observer {
            observer.run_finished(&self.model, self.outcome, self.started.elapsed());
        }
    }
}

/// Answers every message by running an [`Agent`] over the thread's recent history.
///
/// The user a run acts for comes from the request context (never from the model), and the
/// request's metadata reaches the agent's instructions through the run context. With an
/// attachment store ([`AgentServer::with_attachment_store`]) the model sees the contents of
/// attached images and text files.
#[derive(Clone)]
pub struct AgentServer {
    agent: Agent,
    config: AgentServerConfig,
    attachments: Option<Arc<dyn AttachmentStore>>,
    observer: Option<Arc<dyn AgentObserver>>,
    actions: HashMap<String, Arc<dyn ActionHandler>>,
    converter: Arc<dyn ThreadItemConverter>,
    transcription: Option<Transcription>,
}

/// Limits on dictated audio, checked before it goes to the transcription provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionLimits {
    /// Largest audio accepted, in bytes (OpenAI's endpoint takes up to 25 MB).
    pub max_bytes: usize,
    /// Media types accepted (without parameters: `audio/webm`, not `audio/webm;codecs=opus`).
    pub allowed_media_types: Vec<String>,
}

impl Default for TranscriptionLimits {
    fn default() -> Self {
        Self {
            max_bytes: 25 * 1024 * 1024,
            // What browsers' MediaRecorder produces, plus the common upload formats OpenAI's
            // endpoint reads.
            allowed_media_types: [
                "audio/webm",
                "audio/ogg",
                "audio/mp4",
                "audio/mpeg",
                "audio/wav",
                "audio/x-wav",
                "audio/flac",
                "audio/m4a",
                "audio/x-m4a",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

#[derive(Clone)]
struct Transcription {
    transcriber: Arc<dyn Transcriber>,
    limits: TranscriptionLimits,
}

impl AgentServer {
    /// A server for `agent`.
    pub fn new(agent: Agent, config: AgentServerConfig) -> Self {
        let agent = agent.with_history_items(config.history_items.max(1));
        Self {
            agent,
            config,
            attachments: None,
            observer: None,
            converter: Arc::new(DefaultConverter),
            transcription: None,
            actions: HashMap::new(),
        }
    }

    /// Renders history for the model with `converter` instead of the reference's defaults
    /// ([`DefaultConverter`]).
    pub fn with_converter(mut self, converter: Arc<dyn ThreadItemConverter>) -> Self {
        self.converter = converter;
        self
    }

    /// Answers `input.transcribe` (the composer's dictation) with `transcriber`, refusing audio
    /// over `limits` before it is sent.
    pub fn with_transcriber(
        mut self,
        transcriber: Arc<dyn Transcriber>,
        limits: TranscriptionLimits,
    ) -> Self {
        self.transcription = Some(Transcription {
            transcriber,
            limits,
        });
        self
    }

    /// Handles widget actions of type `kind` with `handler`, for both `threads.custom_action`
    /// and `threads.sync_custom_action`. Actions of a type without a handler keep answering
    /// 501 `not_supported`. A later registration for the same type replaces the earlier one.
    pub fn with_action(mut self, kind: impl Into<String>, handler: Arc<dyn ActionHandler>) -> Self {
        self.actions.insert(kind.into(), handler);
        self
    }

    /// Reads attachment bytes from `attachments` before each run, so that images reach the model
    /// as image parts (`data:` URLs: the provider cannot reach this server) and text files as
    /// their text. Without it, the model only learns an attachment's name and type.
    pub fn with_attachment_store(mut self, attachments: Arc<dyn AttachmentStore>) -> Self {
        self.attachments = Some(attachments);
        self
    }

    /// Reports run measurements (time to first token, tool calls, run durations) to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn AgentObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// The agent to run for a message with these inference options: the picked model and tool,
/// already checked by [`ChatKitServer::check_input`] when the message arrived.
fn agent_for(agent: &Agent, options: Option<&InferenceOptions>) -> Agent {
    let Some(options) = options else {
        return agent.clone();
    };
    if options.model.is_none() && options.tool_choice.is_none() {
        return agent.clone();
    }
    let mut settings = agent.settings().clone();
    if let Some(model) = &options.model {
        settings.model = Some(model.clone());
    }
    if let Some(choice) = &options.tool_choice {
        settings.tool_choice = Some(ToolChoice::Named(choice.id.clone()));
    }
    agent.clone().with_settings(settings)
}

/// The agent named `name`: `agent` itself or an agent it can reach through handoffs.
fn find_agent(agent: &Agent, name: &str) -> Option<Agent> {
    let mut waiting = vec![agent];
    let mut seen: Vec<&str> = Vec::new();
    while let Some(candidate) = waiting.pop() {
        if candidate.name() == name {
            return Some(candidate.clone());
        }
        if seen.contains(&candidate.name()) {
            continue;
        }
        seen.push(candidate.name());
        waiting.extend(candidate.handoffs().iter().map(|handoff| handoff.agent()));
    }
    None
}

/// The agent a thread's turn starts on: the one a handoff left it with, if the server still has
/// it, else the server's agent.
fn starting_agent(agent: &Agent, thread: &ThreadMetadata, history_items: usize) -> Agent {
    thread
        .metadata
        .get(ACTIVE_AGENT_METADATA_KEY)
        .and_then(serde_json::Value::as_str)
        .filter(|name| *name != agent.name())
        .and_then(|name| find_agent(agent, name))
        .map(|found| found.with_history_items(history_items.max(1)))
        .unwrap_or_else(|| agent.clone())
}

/// Adds a model call's tokens to the thread's usage record, and counts a run when it is the
/// run's first call that reported usage.
fn record_usage(thread: &mut ThreadMetadata, usage: &Usage, first_of_run: bool) {
    let before = thread.metadata.get(USAGE_METADATA_KEY);
    let count = |field: &str| {
        before
            .and_then(|usage| usage.get(field))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let total = serde_json::json!({
        "input_tokens": count("input_tokens").saturating_add(usage.input_tokens),
        "output_tokens": count("output_tokens").saturating_add(usage.output_tokens),
        "total_tokens": count("total_tokens").saturating_add(usage.total_tokens),
        "runs": count("runs").saturating_add(u64::from(first_of_run)),
    });
    thread.metadata.insert(USAGE_METADATA_KEY.to_owned(), total);
}

/// The items a response streamed, so that a guardrail trip can take them back.
#[derive(Default)]
struct ProducedItems {
    /// Item ids in the order they appeared, with whether the item is hidden from the client.
    items: Vec<(String, bool)>,
}

impl ProducedItems {
    fn note(&mut self, event: &ThreadStreamEvent) {
        match event {
            ThreadStreamEvent::ThreadItemAdded { item }
            | ThreadStreamEvent::ThreadItemDone { item }
                if !self.items.iter().any(|(id, _)| id == item.id()) =>
            {
                self.items.push((item.id().to_owned(), item.is_hidden()));
            }
            ThreadStreamEvent::ThreadItemRemoved { item_id } => {
                self.items.retain(|(id, _)| id != item_id);
            }
            _ => {}
        }
    }
}

/// What the caller is told when transcription fails: the provider refusing the audio is the
/// caller's problem (400), anything else the provider's (502, retryable).
fn transcription_error(err: AgentError) -> EngineError {
    match err {
        AgentError::Provider { status, .. } if (400..500).contains(&status) && status != 429 => {
            tracing::warn!(error = %err, "the transcription provider refused the audio");
            EngineError::BadRequest(
                "the transcription service could not read this audio".to_owned(),
            )
        }
        other => {
            tracing::warn!(error = %other, "the transcription failed");
            EngineError::Upstream("the transcription service failed; try again".to_owned())
        }
    }
}

/// Reads what the model should see of every attachment of the user messages in `items`.
async fn load_attachment_contents(
    attachments: &dyn AttachmentStore,
    items: &[ThreadItem],
    sctx: &StoreContext,
    max_text_bytes: usize,
) -> HashMap<String, AttachmentContent> {
    let mut contents = HashMap::new();
    for item in items {
        let ThreadItem::UserMessage(message) = item else {
            continue;
        };
        for attachment in &message.attachments {
            let base = attachment.base();
            if contents.contains_key(&base.id) {
                continue;
            }
            let content = if AttachmentContent::is_convertible(&base.mime_type) {
                match attachments.read_bytes(&base.id, sctx).await {
                    Ok(bytes) => {
                        AttachmentContent::from_bytes(&base.mime_type, &bytes, max_text_bytes)
                    }
                    // Never uploaded (an abandoned two-phase upload): the name is all there is.
                    Err(StoreError::NotFound { .. }) => AttachmentContent::Unreadable,
                    Err(err) => {
                        tracing::warn!(attachment.id = %base.id, error = %err, "an attachment could not be read for the model");
                        AttachmentContent::Unreadable
                    }
                }
            } else {
                AttachmentContent::Unreadable
            };
            contents.insert(base.id.clone(), content);
        }
    }
    contents
}

/// Records the agent the next turn starts on in the thread's metadata, and saves the thread if a
/// quiet change is still unsaved: usually none is, since the usage record went out with the
/// answer. Quietly: clients never see thread metadata. A failed save is logged, not fatal: the
/// answer the user saw stands.
async fn save_run_record(
    turn: &Turn,
    sctx: &StoreContext,
    default_agent: &str,
    last_agent: Option<&str>,
) {
    if let Some(last_agent) = last_agent {
        // The agent the next turn starts on: nothing for the server's own agent.
        let wanted =
            (last_agent != default_agent).then(|| serde_json::Value::String(last_agent.to_owned()));
        if turn
            .thread
            .read(|thread| thread.metadata.get(ACTIVE_AGENT_METADATA_KEY) != wanted.as_ref())
        {
            turn.thread.update_quietly(|thread| match wanted {
                Some(agent) => {
                    thread
                        .metadata
                        .insert(ACTIVE_AGENT_METADATA_KEY.to_owned(), agent);
                }
                None => {
                    thread.metadata.remove(ACTIVE_AGENT_METADATA_KEY);
                }
            });
        }
    }
    if let Some(thread) = turn.thread.take_unsaved()
        && let Err(err) = turn.store.save_thread(&thread, sctx).await
    {
        tracing::warn!(thread.id = %thread.id, error = %err, "the run's record could not be saved on the thread");
    }
}

/// The first user message's text in `items`, for the title call.
fn first_user_text(items: &[ThreadItem]) -> String {
    items
        .iter()
        .find_map(|item| match item {
            ThreadItem::UserMessage(message) => Some(
                message
                    .content
                    .iter()
                    .filter_map(|part| match part {
                        chatkit_protocol::UserMessageContent::InputText { text } => {
                            Some(text.as_str())
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

fn excerpt(text: &str) -> String {
    text.chars().take(TITLE_EXCERPT_CHARS).collect()
}

/// Cleans what the model answered into a title: its first non-empty line, without quotes,
/// markdown emphasis, a `Title:` prefix or a final period, at most 80 characters.
pub fn clean_title(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|line| !line.is_empty())?;
    let line = line
        .strip_prefix("Title:")
        .or_else(|| line.strip_prefix("title:"))
        .unwrap_or(line)
        .trim();
    let trimmed = line
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '#' | '`' | '“' | '”' | '«' | '»'))
        .trim()
        .trim_end_matches('.')
        .trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(trimmed.chars().take(80).collect())
}

/// One small model call for a title of the first exchange. Failures are logged and give `None`:
/// a missing title is no reason to fail a response that already succeeded.
async fn generate_title(agent: &Agent, question: &str, answer: &str) -> Option<String> {
    let request = ModelRequest {
        messages: vec![
            Message::system(TITLE_PROMPT),
            Message::user(format!(
                "User: {}\n\nAssistant: {}",
                excerpt(question),
                excerpt(answer)
            )),
        ],
        tools: Vec::new(),
        settings: ModelSettings::default(),
    };
    let call = async {
        let mut stream = agent.model().stream(request).await?;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            if let ModelEvent::TextDelta(delta) = event? {
                text.push_str(&delta);
            }
        }
        Ok::<_, agent_runtime::AgentError>(text)
    };
    match tokio::time::timeout(TITLE_TIMEOUT, call).await {
        Ok(Ok(text)) => clean_title(&text),
        Ok(Err(err)) => {
            tracing::warn!(model.name = %agent.model().model_name(), error = %err, "the title call failed");
            None
        }
        Err(_) => {
            tracing::warn!(model.name = %agent.model().model_name(), "the title call timed out");
            None
        }
    }
}

#[async_trait]
impl ChatKitServer for AgentServer {
    fn check_input(
        &self,
        input: &UserMessageInput,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        let _ = ctx;
        let options = &input.inference_options;
        // Picking the model the agent runs anyway is always fine.
        if let Some(model) = &options.model
            && model != self.agent.model().model_name()
            && !self
                .config
                .allowed_models
                .iter()
                .any(|allowed| allowed == model)
        {
            return Err(EngineError::BadRequest(
                if self.config.allowed_models.is_empty() {
                    format!(
                        "params.input.inference_options.model: this server does not let clients choose a model (asked for {model:?})"
                    )
                } else {
                    format!(
                        "params.input.inference_options.model: {model:?} is not one of the models this server offers ({})",
                        self.config.allowed_models.join(", ")
                    )
                },
            ));
        }
        if let Some(choice) = &options.tool_choice
            && !self.agent.has_tool(&choice.id)
        {
            return Err(EngineError::BadRequest(format!(
                "params.input.inference_options.tool_choice.id: the assistant has no tool {:?}",
                choice.id
            )));
        }
        Ok(())
    }

    async fn transcribe(
        &self,
        audio: AudioInput,
        ctx: &RequestContext,
    ) -> Result<TranscriptionResult, EngineError> {
        let _ = ctx;
        let Some(transcription) = &self.transcription else {
            return Err(EngineError::Unsupported("input.transcribe"));
        };
        let media_type = audio.media_type();
        if !transcription
            .limits
            .allowed_media_types
            .contains(&media_type)
        {
            return Err(EngineError::UnsupportedMediaType(format!(
                "params.mime_type: audio of type {media_type:?} cannot be transcribed; accepted: {}",
                transcription.limits.allowed_media_types.join(", ")
            )));
        }
        if audio.data.len() > transcription.limits.max_bytes {
            return Err(EngineError::TooLarge(format!(
                "params.audio_base64: the audio has {} bytes, more than the {} accepted",
                audio.data.len(),
                transcription.limits.max_bytes
            )));
        }
        if audio.data.is_empty() {
            return Err(EngineError::BadRequest(
                "params.audio_base64: the audio is empty".to_owned(),
            ));
        }
        let clip = AudioClip {
            data: audio.data,
            media_type,
        };
        match transcription.transcriber.transcribe(clip).await {
            Ok(text) => Ok(TranscriptionResult { text }),
            Err(err) => Err(transcription_error(err)),
        }
    }

    fn action(
        &self,
        turn: Turn,
        action: Action,
        sender: Option<WidgetItem>,
    ) -> Result<EventStream, EngineError> {
        let Some(handler) = self.actions.get(&action.kind).cloned() else {
            return Err(EngineError::Unsupported("threads.custom_action"));
        };
        let server = self.clone();
        Ok(async_stream::stream! {
            let request = ActionRequest {
                thread: turn.thread.snapshot(),
                action,
                sender: sender.clone(),
                ctx: turn.ctx.clone(),
                sync: false,
            };
            let outcome = match handler.handle(request).await {
                Ok(outcome) => outcome,
                Err(err) => {
                    yield Err(err);
                    return;
                }
            };
            if let Some(item) = replaced_sender(sender.as_ref(), &outcome) {
                yield Ok(ThreadStreamEvent::ThreadItemReplaced { item: ThreadItem::Widget(item) });
            }
            if let Some(note) = outcome.hand_to_model {
                let thread = turn.thread.snapshot();
                yield Ok(ThreadStreamEvent::ThreadItemDone {
                    item: ThreadItem::HiddenContext(HiddenContextItem {
                        id: turn.store.generate_item_id(ItemIdKind::Message, &thread, &turn.ctx.store()),
                        thread_id: thread.id.clone(),
                        created_at: chatkit_protocol::time::now(),
                        content: serde_json::Value::String(note),
                    }),
                });
                let mut answer = server.respond(turn, None);
                while let Some(event) = answer.next().await {
                    yield event;
                }
            }
        }
        .boxed())
    }

    async fn sync_action(
        &self,
        thread: ThreadMetadata,
        action: Action,
        sender: Option<WidgetItem>,
        ctx: &RequestContext,
    ) -> Result<SyncCustomActionResponse, EngineError> {
        let Some(handler) = self.actions.get(&action.kind).cloned() else {
            return Err(EngineError::Unsupported("threads.sync_custom_action"));
        };
        let request = ActionRequest {
            thread,
            action,
            sender: sender.clone(),
            ctx: ctx.clone(),
            sync: true,
        };
        let outcome = handler.handle(request).await?;
        Ok(SyncCustomActionResponse {
            updated_item: replaced_sender(sender.as_ref(), &outcome).map(ThreadItem::Widget),
        })
    }

    fn respond(&self, turn: Turn, _input: Option<UserMessageItem>) -> EventStream {
        let converter = self.converter.clone();
        let base_agent = self.agent.clone();
        let config = self.config.clone();
        let attachments = self.attachments.clone();
        let observer = self.observer.clone();
        async_stream::stream! {
            let thread_id = turn.thread.id();
            let store = turn.store.clone();
            let sctx = turn.ctx.store();
            // Hidden tool-call records and workflows sit between messages, so read more items
            // than messages are kept; the runtime cuts the history to its window.
            let fetch = config.history_items.saturating_mul(4).saturating_add(8);
            let page = match store.load_thread_items(&thread_id, None, fetch, Order::Desc, &sctx).await {
                Ok(page) => page,
                Err(err) => {
                    yield Err(err.into());
                    return;
                }
            };
            let mut items = page.data;
            items.reverse();
            let contents = match &attachments {
                Some(attachments) => {
                    load_attachment_contents(attachments.as_ref(), &items, &sctx, config.max_text_attachment_bytes).await
                }
                None => HashMap::new(),
            };
            let input = converter.to_messages(&items, &contents).await;
            // The newest user message's composer choices (model, tool) apply to this response.
            let options = items.iter().rev().find_map(|item| match item {
                ThreadItem::UserMessage(message) => Some(&message.inference_options),
                _ => None,
            });
            let thread_snapshot = turn.thread.snapshot();
            let agent = agent_for(&starting_agent(&base_agent, &thread_snapshot, config.history_items), options);
            // What the title needs, taken now: the history itself (and any attachment text) is
            // freed before the run, not held for as long as the model streams.
            let user_messages = items.iter().filter(|item| matches!(item, ThreadItem::UserMessage(_))).count();
            let title_source = (config.generate_titles && user_messages == 1).then(|| first_user_text(&items));
            drop(contents);
            drop(items);
            let model_name = agent.model().model_name().to_owned();
            let mut produced = ProducedItems::default();
            // Whether the run's usage is in the thread's record yet (a run is counted once).
            let mut usage_recorded = false;
            // A finished message's `done`, held until the run's next event if that is ready at
            // once (see below).
            let mut held: Vec<ThreadStreamEvent> = Vec::new();
            let mut last_agent: Option<String> = None;
            let mut report = RunReport {
                observer: observer.clone(),
                model: model_name.clone(),
                started: Instant::now(),
                outcome: RunOutcome::Cancelled,
            };
            let mut model_call_started: Option<Instant> = None;
            let mut tool_started: HashMap<String, Instant> = HashMap::new();
            let mut answer = String::new();
            let mut bridge = EventBridge::new(store.as_ref(), turn.thread.snapshot(), sctx.clone(), config.tool_display)
                .with_citation_markers(config.citation_markers)
                .with_expected_partial_images(expected_partial_images(&agent));
            let mut run = run_streamed(&agent, turn.ctx.run_context(&thread_id), input);
            // The run's next event when it was taken early (see below).
            let mut early = None;
            loop {
                let next = match early.take() {
                    Some(next) => next,
                    None => run.next().await,
                };
                let Some(event) = next else {
                    break;
                };
                // A model call's usage comes right after its message is done: it is recorded
                // on the thread before the message's held `done` goes out, so the pipeline
                // writes the answer and the record together, one commit instead of two.
                if let Ok(RunEvent::Usage(usage)) = &event {
                    turn.thread.update_quietly(|thread| record_usage(thread, usage, !usage_recorded));
                    usage_recorded = true;
                }
                for out in std::mem::take(&mut held) {
                    yield Ok(out);
                }
                match event {
                    Ok(event) => {
                        match &event {
                            RunEvent::TurnStarted { .. } => model_call_started = Some(Instant::now()),
                            RunEvent::MessageStarted { .. }
                            | RunEvent::TextDelta { .. }
                            | RunEvent::ReasoningStarted { .. }
                            | RunEvent::ReasoningDelta { .. }
                            | RunEvent::ToolCallStarted { .. }
                            | RunEvent::HostedTool(_)
                            | RunEvent::ClientToolCallRequested { .. } => {
                                if let (Some(started), Some(observer)) = (model_call_started.take(), &observer) {
                                    observer.model_first_output(&model_name, started.elapsed());
                                }
                            }
                            _ => {}
                        }
                        match &event {
                            RunEvent::ToolCallStarted { call } => {
                                tool_started.insert(call.id.clone(), Instant::now());
                            }
                            RunEvent::ToolCallFinished { call, output } => {
                                let elapsed = tool_started.remove(&call.id).map(|t| t.elapsed()).unwrap_or_default();
                                if let Some(observer) = &observer {
                                    observer.tool_call_finished(&call.name, output.is_error, elapsed);
                                }
                            }
                            RunEvent::MessageDone { text, .. } => {
                                if !answer.is_empty() {
                                    answer.push('\n');
                                }
                                answer.push_str(text);
                            }
                            RunEvent::Usage(usage) => {
                                if let Some(observer) = &observer {
                                    observer.tokens_used(&model_name, usage);
                                }
                            }
                            RunEvent::Handoff { to, .. } => last_agent = Some(to.clone()),
                            RunEvent::RunFinished(result) => last_agent = Some(result.last_agent.clone()),
                            _ => {}
                        }
                        let message_done = matches!(event, RunEvent::MessageDone { .. });
                        for out in bridge.on_event(event) {
                            produced.note(&out);
                            // The `done` and anything after it waits for the next event.
                            if message_done && (!held.is_empty() || matches!(out, ThreadStreamEvent::ThreadItemDone { .. })) {
                                held.push(out);
                            } else {
                                yield Ok(out);
                            }
                        }
                        // The `done` waits only for an event that is ready now: the usage a
                        // model reports comes in the same poll. A model that reports none must
                        // not hold the answer's `done` behind output guardrails or hooks.
                        if !held.is_empty() {
                            match run.next().now_or_never() {
                                Some(next) => early = Some(next),
                                None => {
                                    for out in std::mem::take(&mut held) {
                                        yield Ok(out);
                                    }
                                }
                            }
                        }
                    }
                    Err(err @ (AgentError::InputGuardrailTripwire { .. } | AgentError::OutputGuardrailTripwire { .. })) => {
                        // As the reference does on a tripwire: everything this response streamed
                        // is taken back, so the history holds no half answer. Hidden records were
                        // never sent; they are deleted here rather than announced.
                        for (item_id, hidden) in std::mem::take(&mut produced.items) {
                            if hidden {
                                if let Err(store_err) = store.delete_thread_item(&thread_id, &item_id, &sctx).await
                                    && !matches!(store_err, StoreError::NotFound { .. })
                                {
                                    tracing::warn!(item.id = %item_id, error = %store_err, "a tool record of a blocked answer could not be deleted");
                                }
                            } else {
                                yield Ok(ThreadStreamEvent::ThreadItemRemoved { item_id });
                            }
                        }
                        save_run_record(&turn, &sctx, base_agent.name(), None).await;
                        report.finish(RunOutcome::GuardrailTripped);
                        yield Err(agent_error(err));
                        return;
                    }
                    Err(err) => {
                        for out in bridge.finish() {
                            yield Ok(out);
                        }
                        save_run_record(&turn, &sctx, base_agent.name(), last_agent.as_deref()).await;
                        report.finish(RunOutcome::Failed);
                        yield Err(agent_error(err));
                        return;
                    }
                }
            }
            for out in held {
                yield Ok(out);
            }
            for out in bridge.finish() {
                yield Ok(out);
            }
            save_run_record(&turn, &sctx, base_agent.name(), last_agent.as_deref()).await;
            report.finish(RunOutcome::Completed);
            drop(report);
            // A title after the first exchange: the thread has none, this was its only user
            // message, and the model answered something to summarize.
            if let Some(first_user) = &title_source
                && !answer.trim().is_empty()
                && turn.thread.snapshot().title.is_none()
                && let Some(title) = generate_title(&agent, first_user, &answer).await
            {
                turn.thread.update(|thread| thread.title = Some(title));
            }
        }
        .boxed()
    }
}

/// How many partial images the agent's image generation tool streams, if it has one.
fn expected_partial_images(agent: &Agent) -> Option<u32> {
    agent
        .settings()
        .hosted_tools
        .iter()
        .find(|tool| tool.kind() == agent_runtime::HostedToolKind::ImageGeneration)
        .and_then(|tool| tool.option("partial_images"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|count| u32::try_from(count).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cleaned_of_what_models_like_to_add() {
        assert_eq!(
            clean_title("\"Buying milk\"").as_deref(),
            Some("Buying milk")
        );
        assert_eq!(
            clean_title("\n  Title: **Rust ownership basics.**\nmore").as_deref(),
            Some("Rust ownership basics")
        );
        assert_eq!(clean_title("   \n \"\" "), None);
        assert_eq!(
            clean_title(&"word ".repeat(40)).map(|t| t.chars().count()),
            Some(80)
        );
    }

    #[test]
    fn a_run_report_counts_a_dropped_run_as_cancelled() {
        #[derive(Default)]
        struct Seen(parking_lot::Mutex<Vec<RunOutcome>>);
        impl AgentObserver for Seen {
            fn run_finished(&self, _model: &str, outcome: RunOutcome, _elapsed: Duration) {
                self.0.lock().push(outcome);
            }
        }
        let seen = Arc::new(Seen::default());
        let report = |outcome: Option<RunOutcome>| {
            let mut report = RunReport {
                observer: Some(seen.clone() as Arc<dyn AgentObserver>),
                model: "m".to_owned(),
                started: Instant::now(),
                outcome: RunOutcome::Cancelled,
            };
            if let Some(outcome) = outcome {
                report.finish(outcome);
            }
        };
        report(None);
        report(Some(RunOutcome::Completed));
        report(Some(RunOutcome::Failed));
        assert_eq!(
            *seen.0.lock(),
            [
                RunOutcome::Cancelled,
                RunOutcome::Completed,
                RunOutcome::Failed
            ]
        );
    }
}
