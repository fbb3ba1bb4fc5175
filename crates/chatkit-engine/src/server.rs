//! The responder trait: what an integration implements to answer ChatKit requests.

use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::events::StreamOptions;
use chatkit_protocol::{
    Action, FeedbackKind, SdkHiddenContextItem, SyncCustomActionResponse, ThreadItem,
    ThreadMetadata, ThreadStreamEvent, TranscriptionResult, UserMessageItem, WidgetItem,
};
use chatkit_store::{ItemIdKind, Store};
use futures::stream::BoxStream;

use crate::context::{RequestContext, ThreadHandle};
use crate::error::EngineError;

/// A stream of events from a responder. An `Err` ends the response with a ChatKit `error` event.
pub type EventStream = BoxStream<'static, Result<ThreadStreamEvent, EngineError>>;

/// The text of the hidden note stored when a user cancels a stream, as the reference words it.
pub const CANCELLED_NOTE: &str =
    "The user cancelled the stream. Stop responding to the prior request.";

/// Everything a responder gets for one response.
#[derive(Clone)]
pub struct Turn {
    /// The thread; change it through the handle to have the change saved and announced.
    pub thread: ThreadHandle,
    /// The request's context (user, metadata).
    pub ctx: RequestContext,
    /// The store, to read history and generate ids.
    pub store: Arc<dyn Store>,
}

/// Dictated audio to transcribe.
#[derive(Debug, Clone)]
pub struct AudioInput {
    /// The audio bytes.
    pub data: Vec<u8>,
    /// The raw MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
}

impl AudioInput {
    /// The media type without parameters, lowercase, e.g. `audio/webm` (see
    /// [`crate::mime::media_type`]).
    pub fn media_type(&self) -> String {
        crate::mime::media_type(&self.mime_type)
    }
}

/// What an integration implements: the answer to a user message, and optional hooks.
///
/// Only [`ChatKitServer::respond`] is required. The hooks have the reference's defaults:
/// actions and transcription are unsupported, feedback is accepted (the engine stores it
/// either way), streams may be cancelled, and a cancelled stream keeps its non-empty partial
/// assistant text plus a hidden note telling the model the user cancelled.
///
/// Contract for the streams returned by `respond` and `action`:
/// - every item carries a unique id (use [`Store::generate_item_id`]) and the turn's thread id;
/// - an item is persisted when its `thread.item.done` passes through the engine, deleted on
///   `thread.item.removed` and upserted on `thread.item.replaced`; `thread.item.added` and
///   `thread.item.updated` are only sent (and tracked, so that a cancelled stream can save them);
/// - hidden-context items are stored but never sent to the client;
/// - an `Err` ends the response: [`EngineError::Custom`] becomes a `custom` error with its message,
///   [`EngineError::Stream`] an error with its code, anything else a retryable `stream.error`.
#[async_trait]
pub trait ChatKitServer: Send + Sync + 'static {
    /// Answers a new user message (`input`), or continues the thread when `input` is `None`
    /// (after a client tool output or a structured input).
    fn respond(&self, turn: Turn, input: Option<UserMessageItem>) -> EventStream;

    /// Handles a custom action sent by a widget (or the client). Called before the response
    /// starts, so an unsupported action is a clean error status.
    fn action(
        &self,
        turn: Turn,
        action: Action,
        sender: Option<WidgetItem>,
    ) -> Result<EventStream, EngineError> {
        let _ = (turn, action, sender);
        Err(EngineError::Unsupported("threads.custom_action"))
    }

    /// Handles a custom action that answers with at most one updated item.
    async fn sync_action(
        &self,
        thread: ThreadMetadata,
        action: Action,
        sender: Option<WidgetItem>,
        ctx: &RequestContext,
    ) -> Result<SyncCustomActionResponse, EngineError> {
        let _ = (thread, action, sender, ctx);
        Err(EngineError::Unsupported("threads.sync_custom_action"))
    }

    /// Called after feedback was stored. The default does nothing more.
    async fn add_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        let _ = (thread_id, item_ids, kind, ctx);
        Ok(())
    }

    /// Transcribes dictated audio.
    async fn transcribe(
        &self,
        audio: AudioInput,
        ctx: &RequestContext,
    ) -> Result<TranscriptionResult, EngineError> {
        let _ = (audio, ctx);
        Err(EngineError::Unsupported("input.transcribe"))
    }

    /// Stream options sent first in every response. The default allows cancelling.
    fn stream_options(&self, thread: &ThreadMetadata, ctx: &RequestContext) -> StreamOptions {
        let _ = (thread, ctx);
        StreamOptions { allow_cancel: true }
    }

    /// Cleans up after a cancelled stream; `pending` are the items that were added but not done.
    /// The default is [`save_cancelled_partial`].
    async fn handle_stream_cancelled(
        &self,
        thread: &ThreadMetadata,
        pending: Vec<ThreadItem>,
        store: &dyn Store,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        save_cancelled_partial(thread, pending, store, ctx).await
    }
}

/// The reference's cancellation cleanup: saves every pending assistant message that has
/// non-blank text (and, beyond the reference, every pending widget in the state the user saw),
/// then a hidden note that the user cancelled, so that the next model call does
/// not try to continue the abandoned answer.
pub async fn save_cancelled_partial(
    thread: &ThreadMetadata,
    pending: Vec<ThreadItem>,
    store: &dyn Store,
    ctx: &RequestContext,
) -> Result<(), EngineError> {
    let store_ctx = ctx.store();
    for item in pending {
        let keep = match &item {
            ThreadItem::AssistantMessage(message) => message
                .content
                .iter()
                .any(|part| !part.text.trim().is_empty()),
            // A widget that was streaming is kept as far as the user saw it (the reference drops
            // it, so a reload loses what was on screen).
            ThreadItem::Widget(_) => true,
            _ => false,
        };
        if keep {
            store.save_item(&thread.id, &item, &store_ctx).await?;
        }
    }
    let note = ThreadItem::SdkHiddenContext(SdkHiddenContextItem {
        id: store.generate_item_id(ItemIdKind::SdkHiddenContext, thread, &store_ctx),
        thread_id: thread.id.clone(),
        created_at: chatkit_protocol::time::now(),
        content: CANCELLED_NOTE.to_owned(),
    });
    store.add_thread_item(&thread.id, &note, &store_ctx).await?;
    Ok(())
}
