//! `items.list`, `items.feedback`, `input.transcribe` and `threads.sync_custom_action`: the
//! non-streaming requests about what is in a thread.

use base64::Engine as _;
use chatkit_protocol::{
    InputTranscribeParams, ItemFeedbackParams, ItemsListParams, Page, SyncCustomActionResponse,
    ThreadCustomActionParams, ThreadItem, TranscriptionResult, WidgetItem,
};
use chatkit_store::StoreContext;

use super::Engine;
use crate::context::RequestContext;
use crate::error::EngineError;
use crate::server::AudioInput;

impl Engine {
    /// A page of a thread's visible items.
    pub(super) async fn list_items(
        &self,
        params: &ItemsListParams,
        ctx: &RequestContext,
    ) -> Result<Page<ThreadItem>, EngineError> {
        let limit = self.page_size(params.limit)?;
        // The store answers NotFound for a thread that is missing or not the caller's.
        let mut page = self
            .shared
            .store
            .load_thread_items(
                &params.thread_id,
                params.after.as_deref(),
                limit,
                params.order,
                &ctx.store(),
            )
            .await?;
        page.data.retain(|item| !item.is_hidden());
        Ok(page)
    }

    /// Stores feedback on items, then tells the responder.
    pub(super) async fn save_feedback(
        &self,
        params: &ItemFeedbackParams,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        if params.item_ids.is_empty() {
            return Err(EngineError::BadRequest(
                "params.item_ids: must name at least one item".into(),
            ));
        }
        let store = &self.shared.store;
        let sctx = ctx.store();
        store.load_thread(&params.thread_id, &sctx).await?;
        store
            .save_feedback(&params.thread_id, &params.item_ids, params.kind, &sctx)
            .await?;
        self.shared
            .server
            .add_feedback(&params.thread_id, &params.item_ids, params.kind, ctx)
            .await
    }

    /// Hands dictated audio to the responder's transcription hook.
    pub(super) async fn transcribe(
        &self,
        params: &InputTranscribeParams,
        ctx: &RequestContext,
    ) -> Result<TranscriptionResult, EngineError> {
        let data = base64::engine::general_purpose::STANDARD
            .decode(params.audio_base64.trim())
            .map_err(|err| {
                EngineError::BadRequest(format!("params.audio_base64: not base64: {err}"))
            })?;
        let audio = AudioInput {
            data,
            mime_type: params.mime_type.clone(),
        };
        self.shared.server.transcribe(audio, ctx).await
    }

    /// Runs a synchronous widget action on the caller's thread.
    pub(super) async fn sync_action(
        &self,
        params: ThreadCustomActionParams,
        ctx: &RequestContext,
    ) -> Result<SyncCustomActionResponse, EngineError> {
        let sctx = ctx.store();
        let thread = self
            .shared
            .store
            .load_thread(&params.thread_id, &sctx)
            .await?;
        let sender = self
            .load_sender(&params.thread_id, params.item_id.as_deref(), &sctx)
            .await?;
        let thread_id = thread.id.clone();
        let response = self
            .shared
            .server
            .sync_action(thread, params.action, sender, ctx)
            .await?;
        // The item the action changed is stored, as a `thread.item.done` or `replaced` would be:
        // a reload shows what the client now shows.
        if let Some(item) = &response.updated_item {
            if item.thread_id() != thread_id {
                return Err(EngineError::Internal(
                    "sync_action returned an item of another thread".to_owned(),
                ));
            }
            self.shared.store.save_item(&thread_id, item, &sctx).await?;
        }
        Ok(response)
    }

    /// The widget item an action was sent from, when the request names one.
    pub(super) async fn load_sender(
        &self,
        thread_id: &str,
        item_id: Option<&str>,
        sctx: &StoreContext,
    ) -> Result<Option<WidgetItem>, EngineError> {
        let Some(item_id) = item_id else {
            return Ok(None);
        };
        match self
            .shared
            .store
            .load_item(thread_id, item_id, sctx)
            .await?
        {
            ThreadItem::Widget(widget) => Ok(Some(widget)),
            other => Err(EngineError::BadRequest(format!(
                "params.item_id: the sender of an action must be a widget item, {item_id} is a {}",
                other.kind()
            ))),
        }
    }
}
