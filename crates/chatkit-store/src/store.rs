//! The `Store` trait: where threads, items, attachment metadata and feedback live.

use async_trait::async_trait;
use chatkit_protocol::{Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata};

use crate::{ItemIdKind, StoreContext, StoreError, generate_id};

/// Persistence of ChatKit threads, mirroring the reference's `Store` (`chatkit/store.py` in
/// openai-chatkit 1.6.5) method by method, plus feedback and a health check.
///
/// The trait is object-safe: the engine holds an `Arc<dyn Store>`.
///
/// # Contract
///
/// Every implementation must pass the conformance suite (`conformance::run_all`, behind the
/// `test-utils` feature), which checks each point below by name.
///
/// **Ownership and isolation.** Every call carries a [`StoreContext`] naming the owner. A thread
/// is created by [`save_thread`](Store::save_thread) for the context's owner, and its items,
/// feedback and the owner's attachments are reachable only through a context with the same
/// owner. A record of another owner behaves *exactly* like one that does not exist: loads and
/// deletes return [`StoreError::NotFound`], listings leave it out, a cursor naming it is an
/// [`StoreError::InvalidCursor`], and saving a record with the same id creates an independent
/// record of the caller's (ids are unique per owner, not globally). No error and no timing
/// difference beyond noise tells the two cases apart.
///
/// **Not found.** Loads, deletes, [`add_thread_item`](Store::add_thread_item),
/// [`add_thread_item_and_save_thread`](Store::add_thread_item_and_save_thread),
/// [`save_item`](Store::save_item), [`load_thread_items`](Store::load_thread_items) and
/// [`save_feedback`](Store::save_feedback) return [`StoreError::NotFound`] when the thread (or
/// item, or attachment) does not exist for this owner. Deletes are not idempotent: deleting
/// twice fails the second time, so a server can answer 404.
///
/// **Item order.** Items keep the order in which they were added, even when their `created_at`
/// ties or goes backwards: each thread hands out positions 1, 2, 3... from an atomic counter, so
/// concurrent writers to one thread get distinct, gap-free positions. [`save_item`](Store::save_item)
/// on an existing item replaces it in place (its position is kept); on a new id it appends.
/// Deleting an item leaves its position unused.
///
/// **Thread order.** Threads are listed by `created_at`, ties broken by id.
///
/// **Pagination.** A page holds at most `limit` records (`limit` must be at least 1, else
/// [`StoreError::InvalidInput`]) in the requested [`Order`] (`Asc`: oldest first, `Desc`: newest
/// first). `after` names the id of a record of the same listing (an item of this thread, or a
/// thread of this owner); the page starts right after it in the requested order. An `after` that
/// names no such record is [`StoreError::InvalidCursor`], never an empty page, so a client with a
/// stale cursor learns about it. `has_more` is true exactly when at least one record follows the
/// page; `after` in the returned page is the id of its last record (`None` when the page is
/// empty), so passing it back yields the next page. Reads cost O(log n + limit) in the size of the
/// thread or of the owner's thread list.
///
/// **Hidden items.** The store keeps and returns hidden-context items like any other; filtering
/// them out of client responses is the engine's job ([`ThreadItem::is_hidden`]).
///
/// **Deletion.** [`delete_thread`](Store::delete_thread) removes the thread, all its items and
/// their feedback. Attachment metadata is not removed with a thread, because its bytes live in
/// the [`AttachmentStore`](crate::AttachmentStore) and the engine deletes both together.
#[async_trait]
pub trait Store: Send + Sync {
    /// A new thread id (`thr_...`). Pure: nothing is stored until [`save_thread`](Store::save_thread).
    fn generate_thread_id(&self, ctx: &StoreContext) -> String {
        let _ = ctx;
        generate_id(ItemIdKind::Thread)
    }

    /// A new item id with the prefix of `kind` (`msg_...`, `tc_...`). Pure.
    fn generate_item_id(
        &self,
        kind: ItemIdKind,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
    ) -> String {
        let _ = (thread, ctx);
        generate_id(kind)
    }

    /// The thread `thread_id` of the context's owner.
    async fn load_thread(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadMetadata, StoreError>;

    /// Creates the thread for the context's owner, or replaces the title, status, image domains,
    /// metadata and `created_at` of the owner's existing thread with this id (an upsert).
    async fn save_thread(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// A page of the owner's threads, ordered by `created_at` then id.
    async fn load_threads(
        &self,
        limit: usize,
        after: Option<&str>,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadMetadata>, StoreError>;

    /// A page of the items of `thread_id`, in the order they were added.
    async fn load_thread_items(
        &self,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadItem>, StoreError>;

    /// Appends a new item to the thread. The item's `thread_id` must equal `thread_id`
    /// ([`StoreError::InvalidInput`] otherwise); an id already present in the thread is a
    /// [`StoreError::Conflict`].
    async fn add_thread_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// Appends a new item to the thread, as [`add_thread_item`](Store::add_thread_item) does,
    /// and saves the thread's title, status, image domains and metadata, as
    /// [`save_thread`](Store::save_thread) does, in one write: a turn that changed its thread
    /// (a usage record in its metadata, say) saves the change with its answer instead of in a
    /// commit of its own.
    ///
    /// The thread must already be the owner's: unlike `save_thread` this never creates one
    /// ([`StoreError::NotFound`] otherwise). Errors are those of `add_thread_item`, and on
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] and [`StoreError::InvalidInput`]
    /// nothing is written, neither the item nor the thread.
    ///
    /// The provided implementation makes the two calls one after the other (the item first), so
    /// a failure of the backend between them leaves the item without the thread's change; the
    /// stores of this crate override it with one atomic write.
    async fn add_thread_item_and_save_thread(
        &self,
        thread: &ThreadMetadata,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.add_thread_item(&thread.id, item, ctx).await?;
        self.save_thread(thread, ctx).await
    }

    /// Replaces the item with the same id in place (keeping its position), or appends it when
    /// the thread has no such item.
    async fn save_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// One item of the thread.
    async fn load_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadItem, StoreError>;

    /// Deletes the thread with all its items and their feedback.
    async fn delete_thread(&self, thread_id: &str, ctx: &StoreContext) -> Result<(), StoreError>;

    /// Deletes one item (and its feedback).
    async fn delete_thread_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// Creates or replaces the owner's attachment metadata with this id, including the
    /// integration-only `metadata`, which the wire form never carries.
    async fn save_attachment(
        &self,
        attachment: &Attachment,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// The owner's attachment metadata, `metadata` included.
    async fn load_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError>;

    /// Deletes the owner's attachment metadata (the bytes are the
    /// [`AttachmentStore`](crate::AttachmentStore)'s).
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// Records `kind` for each item (the latest feedback on an item wins). Every id must name an
    /// item of that thread of that owner, otherwise [`StoreError::NotFound`] is returned and
    /// nothing is recorded. An empty `item_ids` is [`StoreError::InvalidInput`].
    async fn save_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// The feedback recorded on an item, if any ([`StoreError::NotFound`] if the item does not
    /// exist for this owner).
    async fn load_feedback(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<Option<FeedbackKind>, StoreError>;

    /// Checks that the backend answers; a server's `/readyz` calls it.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Rejects page sizes the contract forbids, shared by every implementation.
pub(crate) fn check_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 {
        return Err(StoreError::InvalidInput(
            "page limit must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

/// Rejects feedback that names no item, shared by every implementation.
pub(crate) fn check_feedback_items(item_ids: &[String]) -> Result<(), StoreError> {
    if item_ids.is_empty() {
        return Err(StoreError::InvalidInput(
            "feedback needs at least one item id".to_owned(),
        ));
    }
    Ok(())
}

/// Rejects an item whose own `thread_id` disagrees with the thread it is written to.
pub(crate) fn check_item_thread(thread_id: &str, item: &ThreadItem) -> Result<(), StoreError> {
    if item.thread_id() != thread_id {
        return Err(StoreError::InvalidInput(format!(
            "item `{}` belongs to thread `{}`, not `{thread_id}`",
            item.id(),
            item.thread_id()
        )));
    }
    Ok(())
}
