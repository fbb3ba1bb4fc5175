//! The [`Store`] implementation: threads, items, attachments and feedback, each call one
//! indexed statement (or one short transaction) scoped to the owner.

use std::collections::BTreeSet;
use std::time::Instant;

use async_trait::async_trait;
use chatkit_protocol::{Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata};
use sea_orm::{TransactionTrait, Value};
use serde_json::{Map, Value as Json};

use super::rows::*;
use super::{SeaOrmStore, SqlBackend, WriteGuard};
use crate::store::{check_feedback_items, check_item_thread, check_limit};
use crate::{RecordKind, Store, StoreContext, StoreError};

/// `INSERT INTO messages` of the values `item_row` binds as $1-$9, at `$position`, selected
/// `FROM $from`: the one form of an item's insert, shared by the statements below.
macro_rules! insert_item {
    ($position:literal, $from:literal) => {
        concat!(
            "INSERT INTO messages (owner_id, conversation_id, id, position, kind, role, content,
                item, created_at, updated_at)
            SELECT $1, $2, $3, ",
            $position,
            ", $4, $5, $6, $7, $8, $9 FROM ",
            $from
        )
    };
}

/// On PostgreSQL, the insert reads its position from a `counter` CTE that advanced the thread's
/// counter. On SQLite it reads the counter in the same statement, and the migration's trigger
/// advances it (with `updated_at`) as part of that one atomic write.
const INSERT_ITEM_FROM_COUNTER: &str = insert_item!("counter.next_position", "counter");
const SQLITE_APPEND_ITEM: &str = insert_item!(
    "next_position + 1",
    "conversations WHERE owner_id = $1 AND id = $2"
);

impl SeaOrmStore {
    async fn thread_exists(&self, thread_id: &str, ctx: &StoreContext) -> Result<bool, StoreError> {
        Ok(self
            .read_one(
                "SELECT 1 AS found FROM conversations WHERE owner_id = $1 AND id = $2",
                vec![ctx.owner_id.clone().into(), thread_id.into()],
            )
            .await?
            .is_some())
    }

    /// Appends an item at the next position, under the caller's write lock.
    async fn append_item(
        &self,
        guard: &mut WriteGuard<'_>,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let now = chatkit_protocol::time::now();
        let conflict = || StoreError::Conflict {
            what: RecordKind::Item,
            id: item.id().to_owned(),
        };
        let values = item_row(ctx, thread_id, item, None, now)?;
        match self.backend {
            SqlBackend::Postgres => {
                // One statement: the counter's row lock orders concurrent writers, the insert
                // takes the position it returned, and a failed insert undoes the increment.
                let sql = concat!(
                    "WITH counter AS (
                        UPDATE conversations SET next_position = next_position + 1, updated_at = $9
                        WHERE owner_id = $1 AND id = $2
                        RETURNING next_position) ",
                    insert_item!("counter.next_position", "counter")
                );
                match self.write(guard, sql, values).await {
                    Ok(0) => Err(StoreError::not_found(RecordKind::Thread, thread_id)),
                    Ok(_) => Ok(()),
                    Err(error) if is_unique_violation(&error) => Err(conflict()),
                    Err(error) => Err(map_db_err(error)),
                }
            }
            SqlBackend::Sqlite => {
                // One statement, so SQLite runs the read of the counter, the insert and the
                // migration's trigger (which advances the counter) as one atomic write.
                match self.write(guard, SQLITE_APPEND_ITEM, values).await {
                    Ok(0) => Err(StoreError::not_found(RecordKind::Thread, thread_id)),
                    Ok(_) => Ok(()),
                    Err(error) if is_unique_violation(&error) => Err(conflict()),
                    Err(error) => Err(map_db_err(error)),
                }
            }
        }
    }

    /// Runs a `DELETE` of one owned record under the write lock; no row deleted means the record
    /// is missing or not the owner's, which is the same `NotFound`.
    async fn delete_one(
        &self,
        sql: &str,
        values: Vec<Value>,
        what: RecordKind,
        id: &str,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock_writes().await;
        let rows = self
            .write(&mut guard, sql, values)
            .await
            .map_err(map_db_err)?;
        if rows == 0 {
            return Err(StoreError::not_found(what, id));
        }
        Ok(())
    }

    /// Replaces an existing item in place, under the caller's write lock; false when the thread
    /// has no item with this id.
    async fn replace_item(
        &self,
        guard: &mut WriteGuard<'_>,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<bool, StoreError> {
        let values = item_row(ctx, thread_id, item, None, chatkit_protocol::time::now())?;
        let rows = self
            .write(
                guard,
                "UPDATE messages SET kind = $4, role = $5, content = $6, item = $7,
                    created_at = $8, updated_at = $9
                 WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
                values,
            )
            .await
            .map_err(map_db_err)?;
        Ok(rows > 0)
    }
}

#[async_trait]
impl Store for SeaOrmStore {
    #[tracing::instrument(name = "store.load_thread", skip_all, fields(thread.id = %thread_id))]
    async fn load_thread(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadMetadata, StoreError> {
        let sql = format!(
            "SELECT {} FROM conversations WHERE owner_id = $1 AND id = $2",
            self.thread_columns()
        );
        let row = self
            .read_one(&sql, vec![ctx.owner_id.clone().into(), thread_id.into()])
            .await?
            .ok_or_else(|| StoreError::not_found(RecordKind::Thread, thread_id))?;
        self.thread_from_row(&row)
    }

    #[tracing::instrument(name = "store.save_thread", skip_all, fields(thread.id = %thread.id))]
    async fn save_thread(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let values = self.thread_values(thread, ctx, chatkit_protocol::time::now())?;
        let mut guard = self.lock_writes().await;
        self.write(
            &mut guard,
            "INSERT INTO conversations (owner_id, id, title, status, status_reason,
                allowed_image_domains, metadata, created_at, created_at_us, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (owner_id, id) DO UPDATE SET title = excluded.title,
                status = excluded.status, status_reason = excluded.status_reason,
                allowed_image_domains = excluded.allowed_image_domains,
                metadata = excluded.metadata, created_at = excluded.created_at,
                created_at_us = excluded.created_at_us, updated_at = excluded.updated_at",
            values,
        )
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    #[tracing::instrument(name = "store.load_threads", skip_all, fields(page.limit = limit))]
    async fn load_threads(
        &self,
        limit: usize,
        after: Option<&str>,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadMetadata>, StoreError> {
        check_limit(limit)?;
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let (comparison, direction) = match order {
            Order::Asc => (">", "ASC"),
            Order::Desc => ("<", "DESC"),
        };
        let mut values: Vec<Value> = vec![ctx.owner_id.clone().into(), fetch.into()];
        let mut filter = String::new();
        if let Some(cursor) = after {
            let row = self
                .read_one(
                    "SELECT created_at_us FROM conversations WHERE owner_id = $1 AND id = $2",
                    vec![ctx.owner_id.clone().into(), cursor.into()],
                )
                .await?
                .ok_or_else(|| StoreError::InvalidCursor {
                    cursor: cursor.to_owned(),
                })?;
            let created_at_us: i64 = get(&row, "created_at_us")?;
            values.push(created_at_us.into());
            values.push(cursor.into());
            filter = format!("AND (created_at_us, id) {comparison} ($3, $4)");
        }
        let sql = format!(
            "SELECT {} FROM conversations WHERE owner_id = $1 {filter}
             ORDER BY created_at_us {direction}, id {direction} LIMIT $2",
            self.thread_columns()
        );
        let rows = self.read_all(&sql, values).await?;
        let has_more = rows.len() > limit;
        let data = rows
            .iter()
            .take(limit)
            .map(|row| self.thread_from_row(row))
            .collect::<Result<Vec<_>, _>>()?;
        let after = data.last().map(|thread| thread.id.clone());
        Ok(Page {
            data,
            has_more,
            after,
        })
    }

    #[tracing::instrument(name = "store.load_thread_items", skip_all, fields(thread.id = %thread_id, page.limit = limit))]
    async fn load_thread_items(
        &self,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        order: Order,
        ctx: &StoreContext,
    ) -> Result<Page<ThreadItem>, StoreError> {
        check_limit(limit)?;
        let started = Instant::now();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let (comparison, direction) = match order {
            Order::Asc => (">", "ASC"),
            Order::Desc => ("<", "DESC"),
        };
        let mut values: Vec<Value> =
            vec![ctx.owner_id.clone().into(), thread_id.into(), fetch.into()];
        let mut filter = String::new();
        if let Some(cursor) = after {
            let row = self
                .read_one(
                    "SELECT position FROM messages
                     WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
                    vec![ctx.owner_id.clone().into(), thread_id.into(), cursor.into()],
                )
                .await?;
            let Some(row) = row else {
                // Only on this error path do we pay for telling the two failures apart.
                return Err(if self.thread_exists(thread_id, ctx).await? {
                    StoreError::InvalidCursor {
                        cursor: cursor.to_owned(),
                    }
                } else {
                    StoreError::not_found(RecordKind::Thread, thread_id)
                });
            };
            let position: i64 = get(&row, "position")?;
            values.push(position.into());
            filter = format!("AND position {comparison} $4");
        }
        let sql = format!(
            "SELECT {} FROM messages WHERE owner_id = $1 AND conversation_id = $2 {filter}
             ORDER BY position {direction} LIMIT $3",
            self.json_column("item")
        );
        let rows = self.read_all(&sql, values).await?;
        if rows.is_empty() && after.is_none() && !self.thread_exists(thread_id, ctx).await? {
            return Err(StoreError::not_found(RecordKind::Thread, thread_id));
        }
        let has_more = rows.len() > limit;
        let data = rows
            .iter()
            .take(limit)
            .map(Self::item_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let after = data.last().map(|item| item.id().to_owned());
        tracing::debug!(
            page.size = data.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "items page loaded"
        );
        Ok(Page {
            data,
            has_more,
            after,
        })
    }

    #[tracing::instrument(name = "store.add_thread_item", skip_all, fields(thread.id = %thread_id, item.id = %item.id()))]
    async fn add_thread_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(thread_id, item)?;
        let mut guard = self.lock_writes().await;
        self.append_item(&mut guard, thread_id, item, ctx).await
    }

    #[tracing::instrument(name = "store.add_thread_item_and_save_thread", skip_all, fields(thread.id = %thread.id, item.id = %item.id()))]
    async fn add_thread_item_and_save_thread(
        &self,
        thread: &ThreadMetadata,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(&thread.id, item)?;
        let now = chatkit_protocol::time::now();
        // $1-$9 are the item's row (its owner, thread and `now` shared with the thread's), $10-$16
        // the thread's fields as `save_thread` writes them.
        let mut values = item_row(ctx, &thread.id, item, None, now)?;
        values.extend(
            self.thread_values(thread, ctx, now)?
                .into_iter()
                .skip(2)
                .take(7),
        );
        let set_thread = "title = $10, status = $11, status_reason = $12,
            allowed_image_domains = $13, metadata = $14, created_at = $15, created_at_us = $16,
            updated_at = $9";
        let conflict = || StoreError::Conflict {
            what: RecordKind::Item,
            id: item.id().to_owned(),
        };
        let failed = |error: sea_orm::DbErr| {
            if is_unique_violation(&error) {
                conflict()
            } else {
                map_db_err(error)
            }
        };
        let not_found = || StoreError::not_found(RecordKind::Thread, &thread.id);
        let mut guard = self.lock_writes().await;
        match self.backend {
            SqlBackend::Postgres => {
                // One statement, as in `append_item`: the thread's row is updated, its counter
                // advanced and the item inserted at that position, or nothing is.
                let sql = format!(
                    "WITH counter AS (
                        UPDATE conversations SET {set_thread}, next_position = next_position + 1
                        WHERE owner_id = $1 AND id = $2
                        RETURNING next_position)
                    {INSERT_ITEM_FROM_COUNTER}"
                );
                match self.write(&mut guard, &sql, values).await {
                    Ok(0) => Err(not_found()),
                    Ok(_) => Ok(()),
                    Err(error) => Err(failed(error)),
                }
            }
            SqlBackend::Sqlite => {
                let update = format!(
                    "UPDATE conversations SET {set_thread} WHERE owner_id = $1 AND id = $2"
                );
                if guard.holds_writer() {
                    // The whole transaction in one call to the driver's thread. The row the
                    // insert returns says whether the thread was there.
                    let sql = format!(
                        "BEGIN IMMEDIATE; {update}; {SQLITE_APPEND_ITEM} RETURNING position; COMMIT"
                    );
                    let rows = self
                        .write_transaction(&mut guard, &sql, values)
                        .await
                        .map_err(failed)?;
                    return if rows.is_empty() {
                        Err(not_found())
                    } else {
                        Ok(())
                    };
                }
                // An in-memory database (no held writer): a transaction on the pool.
                let transaction = self.db.begin().await.map_err(map_db_err)?;
                let updated = self
                    .execute(&transaction, &update, values.clone())
                    .await
                    .map_err(map_db_err)?;
                if updated == 0 {
                    return Err(not_found());
                }
                self.execute(&transaction, SQLITE_APPEND_ITEM, values)
                    .await
                    .map_err(failed)?;
                transaction.commit().await.map_err(map_db_err)
            }
        }
    }

    #[tracing::instrument(name = "store.save_item", skip_all, fields(thread.id = %thread_id, item.id = %item.id()))]
    async fn save_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(thread_id, item)?;
        let mut guard = self.lock_writes().await;
        if self.replace_item(&mut guard, thread_id, item, ctx).await? {
            return Ok(());
        }
        match self.append_item(&mut guard, thread_id, item, ctx).await {
            // Another writer inserted the same id between our update and our insert (possible on
            // PostgreSQL only): the item exists now, so replacing it is the upsert's answer.
            Err(StoreError::Conflict { .. }) => {
                if self.replace_item(&mut guard, thread_id, item, ctx).await? {
                    Ok(())
                } else {
                    Err(StoreError::Conflict {
                        what: RecordKind::Item,
                        id: item.id().to_owned(),
                    })
                }
            }
            other => other,
        }
    }

    #[tracing::instrument(name = "store.load_item", skip_all, fields(thread.id = %thread_id, item.id = %item_id))]
    async fn load_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<ThreadItem, StoreError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
            self.json_column("item")
        );
        let row = self
            .read_one(
                &sql,
                vec![
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    item_id.into(),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))?;
        Self::item_from_row(&row)
    }

    #[tracing::instrument(name = "store.delete_thread", skip_all, fields(thread.id = %thread_id))]
    async fn delete_thread(&self, thread_id: &str, ctx: &StoreContext) -> Result<(), StoreError> {
        // Items and feedback go with it through ON DELETE CASCADE.
        self.delete_one(
            "DELETE FROM conversations WHERE owner_id = $1 AND id = $2",
            vec![ctx.owner_id.clone().into(), thread_id.into()],
            RecordKind::Thread,
            thread_id,
        )
        .await
    }

    #[tracing::instrument(name = "store.delete_thread_item", skip_all, fields(thread.id = %thread_id, item.id = %item_id))]
    async fn delete_thread_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.delete_one(
            "DELETE FROM messages WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
            vec![
                ctx.owner_id.clone().into(),
                thread_id.into(),
                item_id.into(),
            ],
            RecordKind::Item,
            item_id,
        )
        .await
    }

    #[tracing::instrument(name = "store.save_attachment", skip_all, fields(attachment.id = %attachment.id()))]
    async fn save_attachment(
        &self,
        attachment: &Attachment,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let base = attachment.base();
        let metadata = match &base.metadata {
            Some(metadata) => json_value(metadata)?,
            None => null_json(),
        };
        let now = chatkit_protocol::time::now();
        let values = vec![
            ctx.owner_id.clone().into(),
            base.id.clone().into(),
            base.thread_id.clone().into(),
            base.name.clone().into(),
            base.mime_type.clone().into(),
            json_value(attachment)?,
            metadata,
            now.into(),
        ];
        let mut guard = self.lock_writes().await;
        self.write(
            &mut guard,
            "INSERT INTO attachments (owner_id, id, thread_id, name, mime_type, attachment,
                metadata, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (owner_id, id) DO UPDATE SET thread_id = excluded.thread_id,
                name = excluded.name, mime_type = excluded.mime_type,
                attachment = excluded.attachment, metadata = excluded.metadata,
                updated_at = excluded.updated_at",
            values,
        )
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    #[tracing::instrument(name = "store.load_attachment", skip_all, fields(attachment.id = %attachment_id))]
    async fn load_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError> {
        let sql = format!(
            "SELECT {}, {} FROM attachments WHERE owner_id = $1 AND id = $2",
            self.json_column("attachment"),
            self.json_column("metadata")
        );
        let row = self
            .read_one(
                &sql,
                vec![ctx.owner_id.clone().into(), attachment_id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(RecordKind::Attachment, attachment_id))?;
        let text: String = get(&row, "attachment")?;
        let mut attachment: Attachment =
            serde_json::from_str(&text).map_err(|error| corrupt("attachment", error))?;
        let metadata: Option<String> = get(&row, "metadata")?;
        attachment.base_mut().metadata = metadata
            .map(|text| serde_json::from_str::<Map<String, Json>>(&text))
            .transpose()
            .map_err(|error| corrupt("attachment metadata", error))?;
        Ok(attachment)
    }

    #[tracing::instrument(name = "store.delete_attachment", skip_all, fields(attachment.id = %attachment_id))]
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        self.delete_one(
            "DELETE FROM attachments WHERE owner_id = $1 AND id = $2",
            vec![ctx.owner_id.clone().into(), attachment_id.into()],
            RecordKind::Attachment,
            attachment_id,
        )
        .await
    }

    #[tracing::instrument(name = "store.save_feedback", skip_all, fields(thread.id = %thread_id, item.count = item_ids.len()))]
    async fn save_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_feedback_items(item_ids)?;
        let ids: BTreeSet<&str> = item_ids.iter().map(String::as_str).collect();
        let _guard = self.lock_writes().await;
        let txn = self.db.begin().await.map_err(map_db_err)?;
        if self
            .query_one(
                &txn,
                "SELECT 1 AS found FROM conversations WHERE owner_id = $1 AND id = $2",
                vec![ctx.owner_id.clone().into(), thread_id.into()],
            )
            .await?
            .is_none()
        {
            return Err(StoreError::not_found(RecordKind::Thread, thread_id));
        }
        let mut values: Vec<Value> = vec![ctx.owner_id.clone().into(), thread_id.into()];
        values.extend(ids.iter().map(|id| Value::from(*id)));
        let sql = format!(
            "SELECT id FROM messages WHERE owner_id = $1 AND conversation_id = $2 AND id IN ({})",
            placeholders(3, ids.len())
        );
        let found: BTreeSet<String> = self
            .query_all(&txn, &sql, values)
            .await?
            .iter()
            .map(|row| get::<String>(row, "id"))
            .collect::<Result<_, _>>()?;
        if let Some(missing) = ids.iter().find(|id| !found.contains(**id)) {
            return Err(StoreError::not_found(RecordKind::Item, *missing));
        }
        let now = chatkit_protocol::time::now();
        let mut rows = Vec::with_capacity(ids.len());
        let mut values: Vec<Value> = vec![
            ctx.owner_id.clone().into(),
            thread_id.into(),
            feedback_name(kind).into(),
            now.into(),
        ];
        for id in &ids {
            values.push((*id).into());
            rows.push(format!("($1, $2, ${}, $3, $4)", values.len()));
        }
        let sql = format!(
            "INSERT INTO feedback (owner_id, conversation_id, message_id, kind, created_at)
             VALUES {}
             ON CONFLICT (owner_id, conversation_id, message_id)
             DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at",
            rows.join(", ")
        );
        match self.execute(&txn, &sql, values).await {
            Ok(_) => {}
            // An item was deleted after we looked: report it like any missing item.
            Err(error) if is_foreign_key_violation(&error) => {
                return Err(StoreError::not_found(RecordKind::Item, item_ids.join(", ")));
            }
            Err(error) => return Err(map_db_err(error)),
        }
        txn.commit().await.map_err(map_db_err)
    }

    #[tracing::instrument(name = "store.load_feedback", skip_all, fields(thread.id = %thread_id, item.id = %item_id))]
    async fn load_feedback(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<Option<FeedbackKind>, StoreError> {
        let row = self
            .read_one(
                "SELECT feedback.kind AS kind FROM messages
                 LEFT JOIN feedback ON feedback.owner_id = messages.owner_id
                    AND feedback.conversation_id = messages.conversation_id
                    AND feedback.message_id = messages.id
                 WHERE messages.owner_id = $1 AND messages.conversation_id = $2
                    AND messages.id = $3",
                vec![
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    item_id.into(),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(RecordKind::Item, item_id))?;
        let kind: Option<String> = get(&row, "kind")?;
        kind.as_deref().map(parse_feedback).transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .ping()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }
}
