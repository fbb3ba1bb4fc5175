//! Request dispatch: every ChatKit request type, answered as JSON or as a stream of events.
//!
//! This file holds the [`Engine`] handle, its lifecycle and the dispatch; each family of requests
//! has its own file: `threads` (reading, renaming, deleting threads), `items` (listing, feedback,
//! transcription, synchronous actions), `attachments` (`attachments.*` and the upload, download
//! and delete operations a transport calls), `streams` (the streaming requests, validated before
//! the pipeline starts) and `chat` (the plain chat turn of `/api/chat`).

mod attachments;
mod chat;
mod items;
mod streams;
mod threads;

use std::sync::Arc;

use chatkit_protocol::ChatKitRequest;
use chatkit_store::{AttachmentStore, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use self::attachments::{AttachmentDownload, DirectUpload, PendingUpload};
pub use self::chat::{ChatReply, ChatRun, ChatToolCall, ChatTurn};
use crate::context::RequestContext;
use crate::error::EngineError;
use crate::locks::ThreadLocks;
use crate::server::ChatKitServer;
use crate::shared::{EngineConfig, Shared};
use crate::stream::EventReceiver;

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
///
/// It is the one way from a transport to the data: besides ChatKit requests it answers the
/// attachment uploads and downloads, the plain chat turn and readiness, so that a transport only
/// translates HTTP.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.shared.config)
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
            shared: Arc::new(Shared {
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

    /// The store the engine persists to (for tests and tools; a transport goes through the
    /// engine's operations instead).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Whether the engine can serve: the store answers. For a readiness probe; the error says
    /// why not (a [`EngineError::Store`] whose status is 503 when the database is down).
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.shared.store.ping().await.map_err(EngineError::from)
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
        self.shared.tracker.close();
        self.shared.shutdown.cancel();
    }

    /// Stops accepting new streams without cancelling the running ones.
    pub fn close(&self) {
        self.shared.tracker.close();
    }

    /// Number of responses still running (streaming or finishing in the background).
    pub fn running_streams(&self) -> usize {
        self.shared.tracker.len()
    }

    /// Waits until every running response has finished. Only returns after [`Engine::close`] or
    /// [`Engine::shutdown`].
    pub async fn wait_idle(&self) {
        self.shared.tracker.wait().await;
    }

    /// Answers a non-streaming request with its JSON body.
    async fn answer(
        &self,
        request: ChatKitRequest,
        ctx: RequestContext,
    ) -> Result<Vec<u8>, EngineError> {
        match request {
            ChatKitRequest::ThreadsGetById { params, .. } => {
                json(&self.thread_by_id(&params, &ctx).await?)
            }
            ChatKitRequest::ThreadsList { params, .. } => {
                json(&self.list_threads(&params, &ctx).await?)
            }
            ChatKitRequest::ThreadsUpdate { params, .. } => {
                json(&self.rename_thread(&params, &ctx).await?)
            }
            ChatKitRequest::ThreadsDelete { params, .. } => {
                self.delete_thread(&params.thread_id, &ctx).await?;
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::ItemsList { params, .. } => {
                json(&self.list_items(&params, &ctx).await?)
            }
            ChatKitRequest::ItemsFeedback { params, .. } => {
                self.save_feedback(&params, &ctx).await?;
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::AttachmentsCreate { params, .. } => {
                json(&self.create_attachment(&params, &ctx).await?)
            }
            ChatKitRequest::AttachmentsDelete { params, .. } => {
                self.delete_attachment(&params.attachment_id, &ctx).await?;
                Ok(b"{}".to_vec())
            }
            ChatKitRequest::InputTranscribe { params, .. } => {
                json(&self.transcribe(&params, &ctx).await?)
            }
            ChatKitRequest::ThreadsSyncCustomAction { params, .. } => {
                json(&self.sync_action(params, &ctx).await?)
            }
            streaming => Err(EngineError::Internal(format!(
                "{} is a streaming request",
                streaming.kind()
            ))),
        }
    }

    /// The page size a listing asked for, within the configured bounds.
    fn page_size(&self, limit: Option<i64>) -> Result<usize, EngineError> {
        let max = self.shared.config.max_page_size;
        match limit {
            None => Ok(self.shared.config.default_page_size),
            Some(limit) if limit >= 1 && (limit as u64) <= max as u64 => Ok(limit as usize),
            Some(limit) => Err(EngineError::BadRequest(format!(
                "params.limit: must be between 1 and {max}, got {limit}"
            ))),
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(value)
        .map_err(|err| EngineError::Internal(format!("serializing a response: {err}")))
}
