//! `threads.get_by_id`, `threads.list`, `threads.update` and `threads.delete`.

use chatkit_protocol::{
    Order, Page, Thread, ThreadGetByIdParams, ThreadItem, ThreadListParams, ThreadUpdateParams,
};
use chatkit_store::StoreContext;

use super::Engine;
use crate::context::RequestContext;
use crate::error::EngineError;

impl Engine {
    /// A thread with its first page of items.
    pub(super) async fn thread_by_id(
        &self,
        params: &ThreadGetByIdParams,
        ctx: &RequestContext,
    ) -> Result<Thread, EngineError> {
        let store = &self.shared.store;
        let sctx = ctx.store();
        let thread = store.load_thread(&params.thread_id, &sctx).await?;
        let items = store
            .load_thread_items(
                &params.thread_id,
                None,
                self.shared.config.default_page_size,
                Order::Asc,
                &sctx,
            )
            .await?;
        Ok(Thread::for_client(&thread, items))
    }

    /// A page of the caller's threads, without their items.
    pub(super) async fn list_threads(
        &self,
        params: &ThreadListParams,
        ctx: &RequestContext,
    ) -> Result<Page<Thread>, EngineError> {
        let limit = self.page_size(params.limit)?;
        let page = self
            .shared
            .store
            .load_threads(limit, params.after.as_deref(), params.order, &ctx.store())
            .await?;
        Ok(Page {
            data: page
                .data
                .iter()
                .map(|thread| Thread::for_client(thread, Page::default()))
                .collect(),
            has_more: page.has_more,
            after: page.after,
        })
    }

    /// Sets a thread's title (trimmed, within the configured length).
    pub(super) async fn rename_thread(
        &self,
        params: &ThreadUpdateParams,
        ctx: &RequestContext,
    ) -> Result<Thread, EngineError> {
        let max_title_chars = self.shared.config.max_title_chars;
        let title = params.title.trim();
        if title.chars().count() > max_title_chars {
            return Err(EngineError::BadRequest(format!(
                "params.title: longer than {max_title_chars} characters"
            )));
        }
        let store = &self.shared.store;
        let sctx = ctx.store();
        let mut thread = store.load_thread(&params.thread_id, &sctx).await?;
        thread.title = Some(title.to_owned());
        store.save_thread(&thread, &sctx).await?;
        Ok(Thread::for_client(&thread, Page::default()))
    }

    /// Deletes a thread, its items, and the attachments sent in it.
    pub(super) async fn delete_thread(
        &self,
        thread_id: &str,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        let sctx = ctx.store();
        // Listing the thread's items answers NotFound for a missing or foreign thread.
        let attachment_ids = self.thread_attachments(thread_id, &sctx).await?;
        self.shared.store.delete_thread(thread_id, &sctx).await?;
        // The store keeps attachments apart from threads; those sent in this thread go with it,
        // records and bytes, so deleting a conversation leaves nothing behind.
        for attachment_id in attachment_ids {
            self.delete_attachment_everywhere(&attachment_id, &sctx)
                .await?;
        }
        Ok(())
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
                .shared
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
}
