//! Request dispatch: every ChatKit request type, answered as JSON or as a stream of events.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chatkit_protocol::requests::StructuredInputAnswerSubmission;
use chatkit_protocol::{
    AttachmentCreateParams, ChatKitRequest, ClientToolCallStatus, Order, Page,
    StructuredInputAnswer, StructuredInputStatus, StructuredInputSubmission, SubmissionStatus,
    Thread, ThreadItem, ThreadMetadata, UserMessageInput, WidgetItem,
};
use chatkit_store::{AttachmentStore, RecordKind, Store, StoreContext, StoreError};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::context::{RequestContext, ThreadHandle};
use crate::error::EngineError;
use crate::locks::ThreadLocks;
use crate::pipeline::{self, Plan};
use crate::server::{AudioInput, ChatKitServer, Turn};
use crate::stream::EventReceiver;

/// What happens to a response whose client went away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CancelPolicy {
    /// The reference's behaviour: stop the run, keep non-empty partial assistant text, and store
    /// a hidden note that the user cancelled.
    #[default]
    StopAndSavePartial,
    /// Let the run finish and persist its answer although nobody listens, so that a reload shows
    /// the whole reply (mobile clients drop connections).
    FinishInBackground,
}

/// Engine settings. Every field has a sensible default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Page size when a listing names none (the reference's 20).
    pub default_page_size: usize,
    /// Largest page size a listing may ask for.
    pub max_page_size: usize,
    /// What a client disconnect does.
    pub cancel_policy: CancelPolicy,
    /// Events buffered between the responder and a slow client: the whole send buffer of one
    /// stream inside the engine, so a client that stops reading costs at most this many events.
    pub channel_capacity: usize,
    /// How long one event may wait for room in that buffer. A client that reads nothing for this
    /// long is treated as gone: the [`CancelPolicy`] applies as for a disconnect, instead of the
    /// response (and the thread's lock) waiting on it forever. Default: 30 seconds.
    pub send_timeout: Duration,
    /// How long a streaming request waits for another response on the same thread.
    pub thread_busy_timeout: Duration,
    /// Longest thread title accepted, in characters.
    pub max_title_chars: usize,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// MIME types accepted for attachments: exact types or prefixes ending in `/`. Empty: any.
    pub allowed_attachment_types: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_page_size: 20,
            max_page_size: 1000,
            cancel_policy: CancelPolicy::default(),
            channel_capacity: 64,
            send_timeout: Duration::from_secs(30),
            thread_busy_timeout: Duration::from_secs(30),
            max_title_chars: 1000,
            max_attachment_bytes: 20 * 1024 * 1024,
            allowed_attachment_types: vec![
                "image/".to_owned(),
                "text/".to_owned(),
                "application/pdf".to_owned(),
                "application/json".to_owned(),
            ],
        }
    }
}

/// The answer to a request.
#[derive(Debug)]
pub enum Response {
    /// A JSON body.
    Json(Vec<u8>),
    /// A stream of events, to be sent as SSE frames.
    Stream(EventReceiver),
}

/// The ChatKit request engine: what the Python SDK's `ChatKitServer.process` is, with no web
/// framework attached. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) attachments: Option<Arc<dyn AttachmentStore>>,
    pub(crate) server: Arc<dyn ChatKitServer>,
    pub(crate) config: EngineConfig,
    locks: Arc<ThreadLocks>,
    pub(crate) shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine answering with `server` and persisting to `store`.
    pub fn new(
        store: Arc<dyn Store>,
        server: Arc<dyn ChatKitServer>,
        config: EngineConfig,
    ) -> Self {
        Self::build(store, None, server, config)
    }

    /// An engine that also handles attachments, with `attachments` holding their bytes.
    pub fn with_attachments(
        store: Arc<dyn Store>,
        attachments: Arc<dyn AttachmentStore>,
        server: Arc<dyn ChatKitServer>,
        config: EngineConfig,
    ) -> Self {
        Self::build(store, Some(attachments), server, config)
    }

    fn build(
        store: Arc<dyn Store>,
        attachments: Option<Arc<dyn AttachmentStore>>,
        server: Arc<dyn ChatKitServer>,
        config: EngineConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                attachments,
                server,
                config,
                locks: Arc::new(ThreadLocks::default()),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// The store the engine persists to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Parses a request body and answers it.
    pub async fn process(&self, body: &[u8], ctx: RequestContext) -> Result<Response, EngineError> {
        let request = ChatKitRequest::from_slice(body)
            .map_err(|err| EngineError::BadRequest(err.to_string()))?;
        self.process_request(request, ctx).await
    }

    /// Answers a parsed request. Everything that can be checked before a stream starts (the
    /// thread exists and is the caller's, the item is in the right state...) is checked here, so
    /// such failures are error statuses rather than broken streams.
    pub async fn process_request(
        &self,
        request: ChatKitRequest,
        mut ctx: RequestContext,
    ) -> Result<Response, EngineError> {
        ctx.metadata = request.metadata().clone();
        let span = tracing::info_span!(
            "chatkit.request",
            request.kind = request.kind(),
            user.id = %ctx.user.id,
            thread.id = request.thread_id().unwrap_or_default(),
        );
        async move {
            if request.is_streaming() {
                self.start_stream(request, ctx).await.map(Response::Stream)
            } else {
                self.answer(request, ctx).await.map(Response::Json)
            }
        }
        .instrument(span)
        .await
    }

    /// Stops accepting streams and cancels the running ones (their partial output is persisted
    /// as for a client that went away). Call [`Engine::wait_idle`] afterwards.
    pub fn shutdown(&self) {
        self.inner.tracker.close();
        self.inner.shutdown.cancel();
    }

    /// Stops accepting new streams without cancelling the running ones.
    pub fn close(&self) {
        self.inner.tracker.close();
    }

    /// Number of responses still running (streaming or finishing in the background).
    pub fn running_streams(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Waits until every running response has finished. Only returns after [`Engine::close`] or
    /// [`Engine::shutdown`].
    pub async fn wait_idle(&self) {
        self.inner.tracker.wait().await;
    }

    fn page_size(&self, limit: Option<i64>) -> Result<usize, EngineError> {
        let max = self.inner.config.max_page_size;
        match limit {
            None => Ok(self.inner.config.default_page_size),
            Some(limit) if limit >= 1 && (limit as u64) <= max as u64 => Ok(limit as usize),
            Some(limit) => Err(EngineError::BadRequest(format!(
                "params.limit: must be between 1 and {max}, got {limit}"
            ))),
        }
    }

    async fn answer(
        &self,
        request: ChatKitRequest,
        ctx: RequestContext,
    ) -> Result<Vec<u8>, EngineError> {
        let store = &self.inner.store;
        let sctx = ctx.store();
        match request {
            ChatKitRequest::ThreadsGetById { params, .. } => {
                let thread = store.load_thread(&params.thread_id, &sctx).await?;
                let items = store
                    .load_thread_items(
                        &params.thread_id,
                        None,
                        self.inner.config.default_page_size,
                        Order::Asc,
                        &sctx,
                    )
                    .await?;
                json(&Thread::for_client(&thread, items))
            }
            ChatKitRequest::ThreadsList { params, .. } => {
                let limit = self.page_size(params.limit)?;
                let page = store
                    .load_threads(limit, params.after.as_deref(), params.order, &sctx)
                    .await?;
                json(&Page {
                    data: page
                        .data
                        .iter()
                        .map(|thread| Thread::for_client(thread, Page::default()))
                        .collect(),
                    has_more: page.has_more,
                    after: page.after,
                })
            }
            ChatKitRequest::ItemsList { params, .. } => {
                let limit = self.page_size(params.limit)?;
                // The store answers NotFound for a thread that is missing or not the caller's.
                let mut page = store
                    .load_thread_items(
                        &params.thread_id,
                        params.after.as_deref(),
                        limit,
                        params.order,
                        &sctx,
                    )
                    .await?;
                page.data.retain(|item| !item.is_hidden());
                json(&page)
            }
            ChatKitRequest::ItemsFeedback { params, .. } => {
                if params.item_ids.is_empty() {
                    return Err(EngineError::BadRequest(
                        "params.item_ids: must name at least one item".into(),
                    ));
                }
                store.load_thread(&params.thread_id, &sctx).await?;
                store
                    .save_feedback(&params.thread_id, &params.item_ids, params.kind, &sctx)
                    .await?;
                self.inner
                    .server
                    .add_feedback(&params.thread_id, &params.item_ids, params.kind, &ctx)
                    .await?;
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::AttachmentsCreate { params, .. } => {
                let attachments = self.attachment_store()?;
                self.check_attachment(&params)?;
                let attachment = attachments.create_attachment(&params, &sctx).await?;
                store.save_attachment(&attachment, &sctx).await?;
                json(&attachment)
            }
            ChatKitRequest::AttachmentsDelete { params, .. } => {
                store.load_attachment(&params.attachment_id, &sctx).await?;
                // The bytes may never have been uploaded (a two-phase upload abandoned half-way);
                // the record goes all the same.
                self.delete_attachment_everywhere(&params.attachment_id, &sctx)
                    .await?;
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::ThreadsUpdate { params, .. } => {
                let title = params.title.trim();
                if title.chars().count() > self.inner.config.max_title_chars {
                    return Err(EngineError::BadRequest(format!(
                        "params.title: longer than {} characters",
                        self.inner.config.max_title_chars
                    )));
                }
                let mut thread = store.load_thread(&params.thread_id, &sctx).await?;
                thread.title = Some(title.to_owned());
                store.save_thread(&thread, &sctx).await?;
                json(&Thread::for_client(&thread, Page::default()))
            }
            ChatKitRequest::ThreadsDelete { params, .. } => {
                // Listing the thread's items answers NotFound for a missing or foreign thread.
                let attachment_ids = self.thread_attachments(&params.thread_id, &sctx).await?;
                store.delete_thread(&params.thread_id, &sctx).await?;
                // The store keeps attachments apart from threads; those sent in this thread go
                // with it, records and bytes, so deleting a conversation leaves nothing behind.
                for attachment_id in attachment_ids {
                    self.delete_attachment_everywhere(&attachment_id, &sctx)
                        .await?;
                }
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::InputTranscribe { params, .. } => {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(params.audio_base64.trim())
                    .map_err(|err| {
                        EngineError::BadRequest(format!("params.audio_base64: not base64: {err}"))
                    })?;
                let result = self
                    .inner
                    .server
                    .transcribe(
                        AudioInput {
                            data,
                            mime_type: params.mime_type,
                        },
                        &ctx,
                    )
                    .await?;
                json(&result)
            }
            ChatKitRequest::ThreadsSyncCustomAction { params, .. } => {
                let thread = store.load_thread(&params.thread_id, &sctx).await?;
                let sender = self
                    .load_sender(&params.thread_id, params.item_id.as_deref(), &sctx)
                    .await?;
                let response = self
                    .inner
                    .server
                    .sync_action(thread, params.action, sender, &ctx)
                    .await?;
                json(&response)
            }
            streaming => Err(EngineError::Internal(format!(
                "{} is a streaming request",
                streaming.kind()
            ))),
        }
    }

    /// Ids of the attachments sent with the thread's user messages.
    async fn thread_attachments(
        &self,
        thread_id: &str,
        sctx: &StoreContext,
    ) -> Result<Vec<String>, EngineError> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .inner
                .store
                .load_thread_items(thread_id, after.as_deref(), 100, Order::Asc, sctx)
                .await?;
            for item in &page.data {
                if let ThreadItem::UserMessage(message) = item {
                    ids.extend(message.attachments.iter().map(|a| a.id().to_owned()));
                }
            }
            if !page.has_more {
                return Ok(ids);
            }
            after = page.after;
        }
    }

    /// Deletes an attachment's bytes and record; either may already be gone.
    async fn delete_attachment_everywhere(
        &self,
        attachment_id: &str,
        sctx: &StoreContext,
    ) -> Result<(), EngineError> {
        if let Some(attachments) = &self.inner.attachments {
            match attachments.delete_attachment(attachment_id, sctx).await {
                Err(StoreError::NotFound { .. }) | Ok(()) => {}
                Err(err) => return Err(err.into()),
            }
        }
        match self
            .inner
            .store
            .delete_attachment(attachment_id, sctx)
            .await
        {
            Err(StoreError::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    fn attachment_store(&self) -> Result<&Arc<dyn AttachmentStore>, EngineError> {
        self.inner
            .attachments
            .as_ref()
            .ok_or(EngineError::Unsupported("attachments"))
    }

    fn check_attachment(&self, params: &AttachmentCreateParams) -> Result<(), EngineError> {
        let config = &self.inner.config;
        if params.name.trim().is_empty() {
            return Err(EngineError::BadRequest(
                "params.name: must not be empty".into(),
            ));
        }
        if params.size < 0 {
            return Err(EngineError::BadRequest(format!(
                "params.size: must not be negative, got {}",
                params.size
            )));
        }
        if params.size as u64 > config.max_attachment_bytes {
            return Err(EngineError::TooLarge(format!(
                "attachment of {} bytes is larger than the limit of {} bytes",
                params.size, config.max_attachment_bytes
            )));
        }
        let mime = params
            .mime_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let allowed = config.allowed_attachment_types.is_empty()
            || config.allowed_attachment_types.iter().any(|allowed| {
                if allowed.ends_with('/') {
                    mime.starts_with(allowed.as_str())
                } else {
                    mime == *allowed
                }
            });
        if !allowed || !mime.contains('/') {
            return Err(EngineError::BadRequest(format!(
                "params.mime_type: `{}` is not accepted",
                params.mime_type
            )));
        }
        Ok(())
    }

    async fn load_sender(
        &self,
        thread_id: &str,
        item_id: Option<&str>,
        sctx: &StoreContext,
    ) -> Result<Option<WidgetItem>, EngineError> {
        let Some(item_id) = item_id else {
            return Ok(None);
        };
        match self.inner.store.load_item(thread_id, item_id, sctx).await? {
            ThreadItem::Widget(widget) => Ok(Some(widget)),
            other => Err(EngineError::BadRequest(format!(
                "params.item_id: the sender of an action must be a widget item, {item_id} is a {}",
                other.kind()
            ))),
        }
    }

    async fn load_thread_locked(
        &self,
        thread_id: &str,
        sctx: &StoreContext,
    ) -> Result<(ThreadMetadata, crate::locks::ThreadGuard), EngineError> {
        // Check ownership first so that a stranger cannot probe or block someone else's thread.
        self.inner.store.load_thread(thread_id, sctx).await?;
        let guard = self
            .inner
            .locks
            .acquire(thread_id, self.inner.config.thread_busy_timeout)
            .await?;
        // Load again under the lock: the thread may have changed (or gone) while we waited.
        let thread = self.inner.store.load_thread(thread_id, sctx).await?;
        Ok((thread, guard))
    }

    fn check_input(&self, input: &UserMessageInput) -> Result<(), EngineError> {
        if input.content.is_empty() && input.attachments.is_empty() {
            return Err(EngineError::BadRequest(
                "params.input: the message has no content".into(),
            ));
        }
        Ok(())
    }

    async fn load_attachments(
        &self,
        ids: &[String],
        sctx: &StoreContext,
    ) -> Result<Vec<chatkit_protocol::Attachment>, EngineError> {
        let mut attachments = Vec::with_capacity(ids.len());
        for id in ids {
            attachments.push(self.inner.store.load_attachment(id, sctx).await?);
        }
        Ok(attachments)
    }

    async fn start_stream(
        &self,
        request: ChatKitRequest,
        ctx: RequestContext,
    ) -> Result<EventReceiver, EngineError> {
        if self.inner.shutdown.is_cancelled() || self.inner.tracker.is_closed() {
            return Err(EngineError::ShuttingDown);
        }
        let sctx = ctx.store();
        let store = &self.inner.store;
        let (plan, guard) = match request {
            ChatKitRequest::ThreadsCreate { params, .. } => {
                self.check_input(&params.input)?;
                let attachments = self
                    .load_attachments(&params.input.attachments, &sctx)
                    .await?;
                (
                    Plan::Create {
                        input: params.input,
                        attachments,
                    },
                    None,
                )
            }
            ChatKitRequest::ThreadsAddUserMessage { params, .. } => {
                self.check_input(&params.input)?;
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let attachments = self
                    .load_attachments(&params.input.attachments, &sctx)
                    .await?;
                (
                    Plan::UserMessage {
                        thread,
                        input: params.input,
                        attachments,
                    },
                    Some(guard),
                )
            }
            ChatKitRequest::ThreadsAddClientToolOutput { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let last = store
                    .load_thread_items(&thread.id, None, 1, Order::Desc, &sctx)
                    .await?;
                let Some(ThreadItem::ClientToolCall(mut call)) = last.data.into_iter().next()
                else {
                    return Err(EngineError::BadRequest(format!(
                        "thread {} has no pending client tool call to receive this output",
                        thread.id
                    )));
                };
                if call.status != ClientToolCallStatus::Pending {
                    return Err(EngineError::BadRequest(format!(
                        "client tool call {} is already completed",
                        call.call_id
                    )));
                }
                call.status = ClientToolCallStatus::Completed;
                call.output = Some(params.result);
                (Plan::ClientToolOutput { thread, call }, Some(guard))
            }
            ChatKitRequest::ThreadsAddStructuredInput { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let item = match store.load_item(&thread.id, &params.item_id, &sctx).await? {
                    ThreadItem::StructuredInput(item) => item,
                    other => {
                        return Err(EngineError::BadRequest(format!(
                            "params.item_id: {} is a {}, not a structured input item",
                            params.item_id,
                            other.kind()
                        )));
                    }
                };
                if item.status != StructuredInputStatus::Pending {
                    return Err(EngineError::BadRequest(format!(
                        "structured input item {} is not pending",
                        item.id
                    )));
                }
                let updated = apply_submission(item, &params.input);
                (
                    Plan::StructuredInput {
                        thread,
                        item: updated,
                    },
                    Some(guard),
                )
            }
            ChatKitRequest::ThreadsRetryAfterItem { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let (message, after) = self.items_after(&thread.id, &params.item_id, &sctx).await?;
                (
                    Plan::Retry {
                        thread,
                        message,
                        remove: after,
                    },
                    Some(guard),
                )
            }
            ChatKitRequest::ThreadsCustomAction { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let sender = self
                    .load_sender(&thread.id, params.item_id.as_deref(), &sctx)
                    .await?;
                let handle = ThreadHandle::new(thread);
                let turn = Turn {
                    thread: handle.clone(),
                    ctx: ctx.clone(),
                    store: Arc::clone(store),
                };
                let events = self.inner.server.action(turn, params.action, sender)?;
                (
                    Plan::Action {
                        thread: handle,
                        events,
                    },
                    Some(guard),
                )
            }
            other => {
                return Err(EngineError::Internal(format!(
                    "{} is not a streaming request",
                    other.kind()
                )));
            }
        };
        let (tx, rx) = mpsc::channel(self.inner.config.channel_capacity.max(1));
        let inner = Arc::clone(&self.inner);
        // The request span names the thread when the request does; a new thread's id is recorded
        // on this span once the pipeline has created it.
        let span = tracing::info_span!(
            parent: tracing::Span::current(),
            "chatkit.stream",
            thread.id = tracing::field::Empty
        );
        self.inner
            .tracker
            .spawn(pipeline::run(inner, plan, ctx, tx, guard).instrument(span));
        Ok(EventReceiver::new(rx))
    }

    /// Finds user message `item_id` walking back from the newest item, and the ids of every item
    /// after it (newest first).
    async fn items_after(
        &self,
        thread_id: &str,
        item_id: &str,
        sctx: &StoreContext,
    ) -> Result<(chatkit_protocol::UserMessageItem, Vec<String>), EngineError> {
        let page_size = self.inner.config.default_page_size.max(1);
        let mut after: Option<String> = None;
        let mut newer = Vec::new();
        loop {
            let page = self
                .inner
                .store
                .load_thread_items(thread_id, after.as_deref(), page_size, Order::Desc, sctx)
                .await?;
            for item in page.data {
                if item.id() == item_id {
                    return match item {
                        ThreadItem::UserMessage(message) => Ok((message, newer)),
                        other => Err(EngineError::BadRequest(format!(
                            "params.item_id: {item_id} is a {}, not a user message",
                            other.kind()
                        ))),
                    };
                }
                newer.push(item.id().to_owned());
            }
            if !page.has_more {
                return Err(StoreError::not_found(RecordKind::Item, item_id).into());
            }
            after = page.after;
        }
    }
}

/// Applies a structured input submission the way the reference does: skipped answers (or a
/// skipped submission) record `skipped`, single-choice questions keep the first value, unknown
/// question ids are ignored.
fn apply_submission(
    mut item: chatkit_protocol::StructuredInputItem,
    submission: &StructuredInputSubmission,
) -> chatkit_protocol::StructuredInputItem {
    for question in &mut item.inputs {
        let answer: Option<&StructuredInputAnswerSubmission> =
            submission.answers.get(question.id());
        let skipped = submission.status == SubmissionStatus::Skipped
            || answer.is_none_or(|answer| answer.skipped || answer.values.is_empty());
        let recorded = if skipped {
            StructuredInputAnswer {
                values: Vec::new(),
                skipped: true,
            }
        } else {
            let mut values = answer
                .map(|answer| answer.values.clone())
                .unwrap_or_default();
            if let chatkit_protocol::StructuredInput::MultipleChoice {
                multiple: false, ..
            } = question
            {
                values.truncate(1);
            }
            StructuredInputAnswer {
                values,
                skipped: false,
            }
        };
        *question.answer_mut() = Some(recorded);
    }
    item.status = match submission.status {
        SubmissionStatus::Answered => StructuredInputStatus::Answered,
        SubmissionStatus::Skipped => StructuredInputStatus::Skipped,
    };
    item
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(value)
        .map_err(|err| EngineError::Internal(format!("serializing a response: {err}")))
}
