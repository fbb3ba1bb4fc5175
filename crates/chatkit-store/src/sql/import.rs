//! Bulk imports: many threads or many items in multi-row `INSERT`s inside one transaction, for
//! moving data in from the systems this store replaces (and for benchmarks). Both go through one
//! batching path, `SeaOrmStore::insert_in_batches`.

use chatkit_protocol::{ThreadItem, ThreadMetadata};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait, Value};

use super::rows::*;
use super::{SeaOrmStore, SqlBackend};
use crate::store::check_item_thread;
use crate::{RecordKind, StoreContext, StoreError};

/// Rows per multi-row `INSERT` of the bulk imports: 10 columns x 500 rows stays far below both
/// databases' limits on bound parameters.
const IMPORT_BATCH_ROWS: usize = 500;

/// What a conflicting import names in its message: "(one of the imported items)".
fn record_noun(what: RecordKind) -> &'static str {
    match what {
        RecordKind::Thread => "thread",
        RecordKind::Item => "item",
        _ => "record",
    }
}

impl SeaOrmStore {
    /// Inserts many threads of one owner at once, in multi-row `INSERT`s inside one transaction:
    /// for imports from the systems this store replaces (and for benchmarks). A thread id that
    /// already exists for the owner is a [`StoreError::Conflict`] and nothing is inserted.
    #[tracing::instrument(name = "store.import_threads", skip_all, fields(thread.count = threads.len()))]
    pub async fn import_threads(
        &self,
        threads: &[ThreadMetadata],
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let _guard = self.lock_writes().await;
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let now = chatkit_protocol::time::now();
        self.insert_in_batches(
            &txn,
            "INSERT INTO conversations (owner_id, id, title, status, status_reason,
                allowed_image_domains, metadata, created_at, created_at_us, updated_at)",
            threads,
            RecordKind::Thread,
            |thread| self.thread_values(thread, ctx, now),
        )
        .await?;
        txn.commit().await.map_err(map_db_err)?;
        self.refresh_statistics("conversations").await
    }

    /// Appends many items to one thread at once, in order, in multi-row `INSERT`s inside one
    /// transaction: for imports (and benchmarks), where adding a million items one by one would
    /// take minutes. Same rules as [`crate::Store::add_thread_item`]; on any error nothing is added.
    #[tracing::instrument(name = "store.import_thread_items", skip_all, fields(thread.id = %thread_id, item.count = items.len()))]
    pub async fn import_thread_items(
        &self,
        thread_id: &str,
        items: &[ThreadItem],
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        for item in items {
            check_item_thread(thread_id, item)?;
        }
        let count = i64::try_from(items.len())
            .map_err(|_| StoreError::InvalidInput("too many items".to_owned()))?;
        let _guard = self.lock_writes().await;
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let now = chatkit_protocol::time::now();
        let last: i64 = match self
            .query_one(
                &txn,
                "UPDATE conversations SET next_position = next_position + $3, updated_at = $4
                 WHERE owner_id = $1 AND id = $2 RETURNING next_position",
                vec![
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    count.into(),
                    now.into(),
                ],
            )
            .await?
        {
            Some(row) => get(&row, "next_position")?,
            None => return Err(StoreError::not_found(RecordKind::Thread, thread_id)),
        };
        let mut position = last - count;
        self.insert_in_batches(
            &txn,
            "INSERT INTO messages (owner_id, conversation_id, id, position, kind, role,
                content, item, created_at, updated_at)",
            items,
            RecordKind::Item,
            |item| {
                position += 1;
                item_row(ctx, thread_id, item, Some(position), now)
            },
        )
        .await?;
        txn.commit().await.map_err(map_db_err)?;
        self.refresh_statistics("messages").await
    }

    /// The one batching path of the imports: `insert` (`INSERT INTO table (columns)`) followed by
    /// the rows `row` makes of `records`, [`IMPORT_BATCH_ROWS`] rows per statement, inside `txn`.
    /// A duplicate id is a [`StoreError::Conflict`] on `what`; the caller's transaction then
    /// rolls everything back when dropped.
    async fn insert_in_batches<T>(
        &self,
        txn: &DatabaseTransaction,
        insert: &str,
        records: &[T],
        what: RecordKind,
        mut row: impl FnMut(&T) -> Result<Vec<Value>, StoreError>,
    ) -> Result<(), StoreError> {
        for batch in records.chunks(IMPORT_BATCH_ROWS) {
            let mut rows = Vec::with_capacity(batch.len());
            let mut values = Vec::new();
            for record in batch {
                let columns = row(record)?;
                rows.push(format!(
                    "({})",
                    placeholders(values.len() + 1, columns.len())
                ));
                values.extend(columns);
            }
            let sql = format!("{insert}\n VALUES {}", rows.join(", "));
            match self.execute(txn, &sql, values).await {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => {
                    return Err(StoreError::Conflict {
                        what,
                        id: format!("(one of the imported {}s)", record_noun(what)),
                    });
                }
                Err(error) => return Err(map_db_err(error)),
            }
        }
        Ok(())
    }

    /// After a bulk load PostgreSQL's planner statistics describe the table as it was, and with
    /// a thread suddenly a thousand times larger it can pick the position index for an id lookup
    /// and scan the whole thread (measured: 250 ms instead of 0.1 ms at a million items).
    /// Refreshing them right away keeps every read on its intended index. Autovacuum does the
    /// same for ordinary traffic, which grows tables gradually.
    async fn refresh_statistics(&self, table: &str) -> Result<(), StoreError> {
        if self.backend == SqlBackend::Postgres {
            self.db
                .execute_unprepared(&format!("ANALYZE {table}"))
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }
}
