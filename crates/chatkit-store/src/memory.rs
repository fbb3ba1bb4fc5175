//! The reference implementation: everything in process memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use chatkit_protocol::{Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata};

use crate::store::{check_feedback_items, check_item_thread, check_limit};
use crate::{RecordKind, Store, StoreContext, StoreError};

/// A [`Store`] that keeps everything in memory: for tests, demos and single-process
/// development. Data is lost when it is dropped.
///
/// It is the executable form of the contract: keyed by owner first, so isolation holds by
/// construction, and the `SeaOrmStore` is checked against the same conformance suite.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Threads by (owner, thread id).
    threads: HashMap<(String, String), ThreadEntry>,
    /// Attachment metadata by (owner, attachment id).
    attachments: HashMap<(String, String), Attachment>,
}

#[derive(Debug)]
struct ThreadEntry {
    metadata: ThreadMetadata,
    /// Items by position.
    items: BTreeMap<u64, ThreadItem>,
    /// Position of each item id.
    positions: HashMap<String, u64>,
    /// The last position handed out.
    last_position: u64,
    /// Feedback by item id.
    feedback: HashMap<String, FeedbackKind>,
}

impl ThreadEntry {
    fn append(&mut self, item: ThreadItem) {
        self.last_position += 1;
        self.positions
            .insert(item.id().to_owned(), self.last_position);
        self.items.insert(self.last_position, item);
    }

    /// Appends a copy of `item`, which must be new to the thread (`Conflict` otherwise).
    fn append_new(&mut self, item: &ThreadItem) -> Result<(), StoreError> {
        if self.positions.contains_key(item.id()) {
            return Err(StoreError::Conflict {
                what: RecordKind::Item,
                id: item.id().to_owned(),
            });
        }
        self.append(item.clone());
        Ok(())
    }
}

fn key(ctx: &StoreContext, id: &str) -> (String, String) {
    (ctx.owner_id.clone(), id.to_owned())
}

fn page<T>(data: Vec<T>, has_more: bool, id: impl Fn(&T) -> &str) -> Page<T> {
    let after = data.last().map(|last| id(last).to_owned());
    Page {
        data,
        has_more,
        after,
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A poisoned lock only means another caller panicked mid-call; every mutation below leaves
    /// the state consistent before it can panic, so the data is still good to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn thread_mut<'a>(
    state: &'a mut State,
    thread_id: &str,
    ctx: &StoreContext,
) -> Result<&'a mut ThreadEntry, StoreError> {
    state
        .threads
        .get_mut(&key(ctx, thread_id))
        .ok_or_else(|| StoreError::not_found(RecordKind::Thread, thread_id))
}

#[async_trait]
impl Store for MemoryStore {
    async fn load_thread(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadMetadata, StoreError> {
        self.read()
            .threads
            .get(&key(ctx, thread_id))
            .map(|entry| entry.metadata.clone())
            .ok_or_else(|| StoreError::not_found(RecordKind::Thread, thread_id))
    }

    async fn save_thread(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        state
            .threads
            .entry(key(ctx, &thread.id))
            .and_modify(|entry| entry.metadata = thread.clone())
            .or_insert_with(|| ThreadEntry {
                metadata: thread.clone(),
                items: BTreeMap::new(),
                positions: HashMap::new(),
                last_position: 0,
                feedback: HashMap::new(),
            });
        Ok(())
    }

    async fn load_threads(
        &self,
        limit: usize,
        after: Option<&str>,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadMetadata>, StoreError> {
        check_limit(limit)?;
        let state = self.read();
        let mut threads: Vec<&ThreadMetadata> = state
            .threads
            .iter()
            .filter(|((owner, _), _)| *owner == ctx.owner_id)
            .map(|(_, entry)| &entry.metadata)
            .collect();
        threads.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        if order == Order::Desc {
            threads.reverse();
        }
        let start = match after {
            None => 0,
            Some(cursor) => {
                threads
                    .iter()
                    .position(|thread| thread.id == cursor)
                    .ok_or_else(|| StoreError::InvalidCursor {
                        cursor: cursor.to_owned(),
                    })?
                    + 1
            }
        };
        let rest = &threads[start..];
        let data: Vec<ThreadMetadata> = rest.iter().take(limit).map(|t| (*t).clone()).collect();
        Ok(page(data, rest.len() > limit, |thread| &thread.id))
    }

    async fn load_thread_items(
        &self,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadItem>, StoreError> {
        check_limit(limit)?;
        let state = self.read();
        let entry = state
            .threads
            .get(&key(ctx, thread_id))
            .ok_or_else(|| StoreError::not_found(RecordKind::Thread, thread_id))?;
        let cursor = match after {
            None => None,
            Some(cursor) => {
                Some(
                    *entry
                        .positions
                        .get(cursor)
                        .ok_or_else(|| StoreError::InvalidCursor {
                            cursor: cursor.to_owned(),
                        })?,
                )
            }
        };
        let mut selected: Vec<ThreadItem> = match (order, cursor) {
            (Order::Asc, None) => entry.items.values().take(limit + 1).cloned().collect(),
            (Order::Asc, Some(position)) => entry
                .items
                .range(position + 1..)
                .map(|(_, item)| item.clone())
                .take(limit + 1)
                .collect(),
            (Order::Desc, None) => entry
                .items
                .values()
                .rev()
                .take(limit + 1)
                .cloned()
                .collect(),
            (Order::Desc, Some(position)) => entry
                .items
                .range(..position)
                .rev()
                .map(|(_, item)| item.clone())
                .take(limit + 1)
                .collect(),
        };
        let has_more = selected.len() > limit;
        selected.truncate(limit);
        Ok(page(selected, has_more, |item| item.id()))
    }

    async fn add_thread_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(thread_id, item)?;
        let mut state = self.write();
        thread_mut(&mut state, thread_id, ctx)?.append_new(item)
    }

    async fn add_thread_item_and_save_thread(
        &self,
        thread: &ThreadMetadata,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(&thread.id, item)?;
        let mut state = self.write();
        let entry = thread_mut(&mut state, &thread.id, ctx)?;
        entry.append_new(item)?;
        entry.metadata = thread.clone();
        Ok(())
    }

    async fn save_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(thread_id, item)?;
        let mut state = self.write();
        let entry = thread_mut(&mut state, thread_id, ctx)?;
        match entry.positions.get(item.id()) {
            Some(position) => {
                entry.items.insert(*position, item.clone());
            }
            None => entry.append(item.clone()),
        }
        Ok(())
    }

    async fn load_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadItem, StoreError> {
        let state = self.read();
        state
            .threads
            .get(&key(ctx, thread_id))
            .and_then(|entry| {
                let position = entry.positions.get(item_id)?;
                entry.items.get(position).cloned()
            })
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))
    }

    async fn delete_thread(&self, thread_id: &str, ctx: &StoreContext) -> Result<(), StoreError> {
        self.write()
            .threads
            .remove(&key(ctx, thread_id))
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found(RecordKind::Thread, thread_id))
    }

    async fn delete_thread_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let entry = state
            .threads
            .get_mut(&key(ctx, thread_id))
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))?;
        let position = entry
            .positions
            .remove(item_id)
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))?;
        entry.items.remove(&position);
        entry.feedback.remove(item_id);
        Ok(())
    }

    async fn save_attachment(
        &self,
        attachment: &Attachment,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.write()
            .attachments
            .insert(key(ctx, attachment.id()), attachment.clone());
        Ok(())
    }

    async fn load_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError> {
        self.read()
            .attachments
            .get(&key(ctx, attachment_id))
            .cloned()
            .ok_or_else(|| StoreError::not_found(RecordKind::Attachment, attachment_id))
    }

    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.write()
            .attachments
            .remove(&key(ctx, attachment_id))
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found(RecordKind::Attachment, attachment_id))
    }

    async fn save_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_feedback_items(item_ids)?;
        let mut state = self.write();
        let entry = thread_mut(&mut state, thread_id, ctx)?;
        if let Some(missing) = item_ids
            .iter()
            .find(|id| !entry.positions.contains_key(id.as_str()))
        {
            return Err(StoreError::not_found(RecordKind::Item, missing.as_str()));
        }
        for id in item_ids {
            entry.feedback.insert(id.clone(), kind);
        }
        Ok(())
    }

    async fn load_feedback(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<Option<FeedbackKind>, StoreError> {
        let state = self.read();
        let entry = state
            .threads
            .get(&key(ctx, thread_id))
            .filter(|entry| entry.positions.contains_key(item_id))
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))?;
        Ok(entry.feedback.get(item_id).copied())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
