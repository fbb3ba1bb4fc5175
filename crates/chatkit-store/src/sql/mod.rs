//! The SQL store: one implementation for SQLite and PostgreSQL, on SeaORM.
//!
//! Statements are written by hand (with `$n` placeholders, which both sqlx drivers accept) so
//! that each read is exactly the indexed query the contract's cost promise needs.

mod config;
mod rate_limit;

use std::collections::BTreeSet;
use std::time::Instant;

use async_trait::async_trait;
use chatkit_protocol::{
    Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata, ThreadStatus,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    SqlErr, Statement, TransactionTrait, Value,
};
use serde_json::{Map, Value as Json};
use tokio::sync::Mutex;

pub use config::StoreConfig;

use crate::store::{check_item_thread, check_limit};
use crate::{RecordKind, Store, StoreContext, StoreError};

/// Rows per multi-row `INSERT` of the bulk imports: 10 columns x 500 rows stays far below both
/// databases' limits on bound parameters.
const IMPORT_BATCH_ROWS: usize = 500;

/// Which database a [`SeaOrmStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlBackend {
    /// SQLite (a file, tuned for a server: WAL, busy timeout, foreign keys).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl SqlBackend {
    /// A stable name for logs and metrics (`sqlite`, `postgres`).
    pub fn name(self) -> &'static str {
        match self {
            SqlBackend::Sqlite => "sqlite",
            SqlBackend::Postgres => "postgres",
        }
    }
}

/// A [`Store`] on SQLite or PostgreSQL. Threads are rows of `conversations`, items rows of
/// `messages` (kind, role and plain text in columns so that SQL users and the legacy chat API can
/// read them, the full item as JSON), plus `attachments` and `feedback`; see the
/// `chatkit-migration` crate for the schema.
///
/// Item positions come from a per-conversation counter incremented in the same statement (or
/// transaction) as the insert, and that statement also checks ownership. On SQLite, writes are
/// serialized in process so that concurrent writers queue on a mutex instead of sleeping in
/// SQLite's busy handler.
#[derive(Debug)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    backend: SqlBackend,
    /// Held around every SQLite write; `None` on PostgreSQL, which has row locks.
    sqlite_write_lock: Option<Mutex<()>>,
}

fn map_db_err(error: DbErr) -> StoreError {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(error.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn is_foreign_key_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not decode: {error}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, StoreError> {
    row.try_get::<T>("", column)
        .map_err(|error| corrupt(column, error))
}

fn json_value<T: serde::Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value)
        .map(Value::from)
        .map_err(|error| StoreError::InvalidInput(format!("cannot serialize: {error}")))
}

fn null_json() -> Value {
    Value::Json(None)
}

fn micros(ts: &DateTime<Utc>) -> i64 {
    ts.timestamp_micros()
}

fn status_columns(status: &ThreadStatus) -> (&'static str, Option<String>) {
    match status {
        ThreadStatus::Active => ("active", None),
        ThreadStatus::Locked { reason } => ("locked", reason.clone()),
        ThreadStatus::Closed { reason } => ("closed", reason.clone()),
    }
}

fn feedback_name(kind: FeedbackKind) -> &'static str {
    kind.as_str()
}

fn parse_feedback(name: &str) -> Result<FeedbackKind, StoreError> {
    match name {
        "positive" => Ok(FeedbackKind::Positive),
        "negative" => Ok(FeedbackKind::Negative),
        other => Err(corrupt("feedback kind", other)),
    }
}

/// Placeholders `$first, $first+1, ...` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a `messages` row that are derived from the item.
struct ItemColumns {
    kind: &'static str,
    role: Option<&'static str>,
    content: Option<String>,
    item: Value,
    created_at: DateTime<Utc>,
}

impl ItemColumns {
    fn of(item: &ThreadItem) -> Result<Self, StoreError> {
        Ok(Self {
            kind: item.kind(),
            role: item.role(),
            content: item.plain_text(),
            item: json_value(item)?,
            created_at: item.created_at(),
        })
    }
}

impl SeaOrmStore {
    /// Connects (and migrates, when `config.run_migrations`) to the database `config.url`
    /// names. Unreachable databases give [`StoreError::Unavailable`].
    #[tracing::instrument(name = "store.connect", skip_all)]
    pub async fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let url = config.url.as_str();
        let backend = if url.starts_with("sqlite:") {
            SqlBackend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            SqlBackend::Postgres
        } else {
            return Err(StoreError::InvalidInput(
                "database URL must start with sqlite: or postgres://".to_owned(),
            ));
        };
        let mut options = ConnectOptions::new(config.url.clone());
        options
            .max_connections(config.max_connections.max(1))
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .sqlx_logging(false);
        match backend {
            SqlBackend::Sqlite => {
                let busy_timeout = config.sqlite_busy_timeout;
                options.map_sqlx_sqlite_opts(move |sqlite| {
                    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                    // WAL lets readers run beside the writer; NORMAL is durable in WAL mode
                    // except for the last transactions before a power loss.
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(busy_timeout)
                        .foreign_keys(true)
                });
                if url.contains(":memory:") || url.contains("mode=memory") {
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None);
                }
            }
            SqlBackend::Postgres => {
                if let Some(schema) = &config.postgres_schema {
                    let valid = !schema.is_empty()
                        && schema
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        return Err(StoreError::InvalidInput(format!(
                            "PostgreSQL schema `{schema}` must be letters, digits and `_`"
                        )));
                    }
                    options.set_schema_search_path(schema.clone());
                }
                if !config.postgres_synchronous_commit {
                    options.map_sqlx_postgres_opts(|postgres| {
                        postgres.options([("synchronous_commit", "off")])
                    });
                }
            }
        }
        let db = Database::connect(options)
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        if config.run_migrations {
            chatkit_migration::apply_pending_migrations(&db)
                .await
                .map_err(map_db_err)?;
        }
        tracing::info!(store.backend = backend.name(), "store connected");
        Ok(Self {
            db,
            backend,
            sqlite_write_lock: (backend == SqlBackend::Sqlite).then(|| Mutex::new(())),
        })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> SqlBackend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(map_db_err)
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = match self.backend {
            SqlBackend::Sqlite => DbBackend::Sqlite,
            SqlBackend::Postgres => DbBackend::Postgres,
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// How a JSON column is selected: PostgreSQL's JSONB is read back as text, so both backends
    /// decode the same way.
    fn json_column(&self, column: &str) -> String {
        match self.backend {
            SqlBackend::Sqlite => column.to_owned(),
            SqlBackend::Postgres => format!("{column}::text AS {column}"),
        }
    }

    async fn lock_writes(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    async fn query_one(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>, StoreError> {
        db.query_one_raw(self.statement(sql, values))
            .await
            .map_err(map_db_err)
    }

    async fn query_all(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        db.query_all_raw(self.statement(sql, values))
            .await
            .map_err(map_db_err)
    }

    async fn execute(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<u64, DbErr> {
        db.execute_raw(self.statement(sql, values))
            .await
            .map(|result| result.rows_affected())
    }

    async fn thread_exists(&self, thread_id: &str, ctx: &StoreContext) -> Result<bool, StoreError> {
        Ok(self
            .query_one(
                &self.db,
                "SELECT 1 AS found FROM conversations WHERE owner_id = $1 AND id = $2",
                vec![ctx.owner_id.clone().into(), thread_id.into()],
            )
            .await?
            .is_some())
    }

    fn thread_from_row(&self, row: &QueryResult) -> Result<ThreadMetadata, StoreError> {
        let status_name: String = get(row, "status")?;
        let reason: Option<String> = get(row, "status_reason")?;
        let status = match status_name.as_str() {
            "active" => ThreadStatus::Active,
            "locked" => ThreadStatus::Locked { reason },
            "closed" => ThreadStatus::Closed { reason },
            other => return Err(corrupt("thread status", other)),
        };
        let domains: Option<String> = get(row, "allowed_image_domains")?;
        let allowed_image_domains = domains
            .map(|text| serde_json::from_str::<Vec<String>>(&text))
            .transpose()
            .map_err(|error| corrupt("allowed_image_domains", error))?;
        let metadata_text: String = get(row, "metadata")?;
        let metadata: Map<String, Json> =
            serde_json::from_str(&metadata_text).map_err(|error| corrupt("metadata", error))?;
        let created_at_us: i64 = get(row, "created_at_us")?;
        let created_at = DateTime::from_timestamp_micros(created_at_us)
            .ok_or_else(|| corrupt("created_at_us", created_at_us))?;
        Ok(ThreadMetadata {
            title: get(row, "title")?,
            id: get(row, "id")?,
            created_at,
            status,
            allowed_image_domains,
            metadata,
        })
    }

    fn thread_columns(&self) -> String {
        format!(
            "id, title, status, status_reason, {}, {}, created_at_us",
            self.json_column("allowed_image_domains"),
            self.json_column("metadata")
        )
    }

    fn item_from_row(row: &QueryResult) -> Result<ThreadItem, StoreError> {
        let text: String = get(row, "item")?;
        serde_json::from_str(&text).map_err(|error| corrupt("item", error))
    }

    /// Appends an item at the next position. The caller holds the SQLite write lock.
    async fn append_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let columns = ItemColumns::of(item)?;
        let now = chatkit_protocol::time::now();
        let conflict = || StoreError::Conflict {
            what: RecordKind::Item,
            id: item.id().to_owned(),
        };
        let values = vec![
            ctx.owner_id.clone().into(),
            thread_id.into(),
            item.id().into(),
            columns.kind.into(),
            columns.role.map(str::to_owned).into(),
            columns.content.into(),
            columns.item,
            columns.created_at.into(),
            now.into(),
        ];
        match self.backend {
            SqlBackend::Postgres => {
                // One statement: the counter's row lock orders concurrent writers, the insert
                // takes the position it returned, and a failed insert undoes the increment.
                let sql = "WITH counter AS (
                        UPDATE conversations SET next_position = next_position + 1, updated_at = $9
                        WHERE owner_id = $1 AND id = $2
                        RETURNING next_position)
                    INSERT INTO messages (owner_id, conversation_id, id, position, kind, role,
                        content, item, created_at, updated_at)
                    SELECT $1, $2, $3, counter.next_position, $4, $5, $6, $7, $8, $9 FROM counter";
                match self.execute(&self.db, sql, values).await {
                    Ok(0) => Err(StoreError::not_found(RecordKind::Thread, thread_id)),
                    Ok(_) => Ok(()),
                    Err(error) if is_unique_violation(&error) => Err(conflict()),
                    Err(error) => Err(map_db_err(error)),
                }
            }
            SqlBackend::Sqlite => {
                // One statement, so SQLite runs the read of the counter, the insert and the
                // migration's trigger (which advances the counter) as one atomic write.
                let sql = "INSERT INTO messages (owner_id, conversation_id, id, position, kind,
                        role, content, item, created_at, updated_at)
                    SELECT $1, $2, $3, next_position + 1, $4, $5, $6, $7, $8, $9
                    FROM conversations WHERE owner_id = $1 AND id = $2";
                match self.execute(&self.db, sql, values).await {
                    Ok(0) => Err(StoreError::not_found(RecordKind::Thread, thread_id)),
                    Ok(_) => Ok(()),
                    Err(error) if is_unique_violation(&error) => Err(conflict()),
                    Err(error) => Err(map_db_err(error)),
                }
            }
        }
    }

    /// Replaces an existing item in place; false when the thread has no item with this id.
    async fn replace_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<bool, StoreError> {
        let columns = ItemColumns::of(item)?;
        let rows = self
            .execute(
                &self.db,
                "UPDATE messages SET kind = $4, role = $5, content = $6, item = $7,
                    created_at = $8, updated_at = $9
                 WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
                vec![
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    item.id().into(),
                    columns.kind.into(),
                    columns.role.map(str::to_owned).into(),
                    columns.content.into(),
                    columns.item,
                    columns.created_at.into(),
                    chatkit_protocol::time::now().into(),
                ],
            )
            .await
            .map_err(map_db_err)?;
        Ok(rows > 0)
    }

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
        for batch in threads.chunks(IMPORT_BATCH_ROWS) {
            let mut rows = Vec::with_capacity(batch.len());
            let mut values = Vec::with_capacity(batch.len() * 10);
            for thread in batch {
                rows.push(format!("({})", placeholders(values.len() + 1, 10)));
                values.extend(self.thread_values(thread, ctx, now)?);
            }
            let sql = format!(
                "INSERT INTO conversations (owner_id, id, title, status, status_reason,
                    allowed_image_domains, metadata, created_at, created_at_us, updated_at)
                 VALUES {}",
                rows.join(", ")
            );
            match self.execute(&txn, &sql, values).await {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => {
                    return Err(StoreError::Conflict {
                        what: RecordKind::Thread,
                        id: "(one of the imported threads)".to_owned(),
                    });
                }
                Err(error) => return Err(map_db_err(error)),
            }
        }
        txn.commit().await.map_err(map_db_err)?;
        self.refresh_statistics("conversations").await
    }

    /// Appends many items to one thread at once, in order, in multi-row `INSERT`s inside one
    /// transaction: for imports (and benchmarks), where adding a million items one by one would
    /// take minutes. Same rules as [`Store::add_thread_item`]; on any error nothing is added.
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
        for batch in items.chunks(IMPORT_BATCH_ROWS) {
            let mut rows = Vec::with_capacity(batch.len());
            let mut values = Vec::with_capacity(batch.len() * 10);
            for item in batch {
                position += 1;
                let columns = ItemColumns::of(item)?;
                rows.push(format!("({})", placeholders(values.len() + 1, 10)));
                values.extend([
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    item.id().into(),
                    position.into(),
                    columns.kind.into(),
                    columns.role.map(str::to_owned).into(),
                    columns.content.into(),
                    columns.item,
                    columns.created_at.into(),
                    now.into(),
                ]);
            }
            let sql = format!(
                "INSERT INTO messages (owner_id, conversation_id, id, position, kind, role,
                    content, item, created_at, updated_at)
                 VALUES {}",
                rows.join(", ")
            );
            match self.execute(&txn, &sql, values).await {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => {
                    return Err(StoreError::Conflict {
                        what: RecordKind::Item,
                        id: "(one of the imported items)".to_owned(),
                    });
                }
                Err(error) => return Err(map_db_err(error)),
            }
        }
        txn.commit().await.map_err(map_db_err)?;
        self.refresh_statistics("messages").await
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

    fn thread_values(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<Value>, StoreError> {
        let (status, reason) = status_columns(&thread.status);
        let domains = match &thread.allowed_image_domains {
            Some(domains) => json_value(domains)?,
            None => null_json(),
        };
        Ok(vec![
            ctx.owner_id.clone().into(),
            thread.id.clone().into(),
            thread.title.clone().into(),
            status.into(),
            reason.into(),
            domains,
            json_value(&thread.metadata)?,
            thread.created_at.into(),
            micros(&thread.created_at).into(),
            now.into(),
        ])
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
            .query_one(
                &self.db,
                &sql,
                vec![ctx.owner_id.clone().into(), thread_id.into()],
            )
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
        let _guard = self.lock_writes().await;
        self.execute(
            &self.db,
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
                .query_one(
                    &self.db,
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
        let rows = self.query_all(&self.db, &sql, values).await?;
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
                .query_one(
                    &self.db,
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
        let rows = self.query_all(&self.db, &sql, values).await?;
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
        let _guard = self.lock_writes().await;
        self.append_item(thread_id, item, ctx).await
    }

    #[tracing::instrument(name = "store.save_item", skip_all, fields(thread.id = %thread_id, item.id = %item.id()))]
    async fn save_item(
        &self,
        thread_id: &str,
        item: &ThreadItem,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        check_item_thread(thread_id, item)?;
        let _guard = self.lock_writes().await;
        if self.replace_item(thread_id, item, ctx).await? {
            return Ok(());
        }
        match self.append_item(thread_id, item, ctx).await {
            // Another writer inserted the same id between our update and our insert (possible on
            // PostgreSQL only): the item exists now, so replacing it is the upsert's answer.
            Err(StoreError::Conflict { .. }) => {
                if self.replace_item(thread_id, item, ctx).await? {
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
            .query_one(
                &self.db,
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
        let _guard = self.lock_writes().await;
        // Items and feedback go with it through ON DELETE CASCADE.
        let rows = self
            .execute(
                &self.db,
                "DELETE FROM conversations WHERE owner_id = $1 AND id = $2",
                vec![ctx.owner_id.clone().into(), thread_id.into()],
            )
            .await
            .map_err(map_db_err)?;
        if rows == 0 {
            return Err(StoreError::not_found(RecordKind::Thread, thread_id));
        }
        Ok(())
    }

    #[tracing::instrument(name = "store.delete_thread_item", skip_all, fields(thread.id = %thread_id, item.id = %item_id))]
    async fn delete_thread_item(
        &self,
        thread_id: &str,
        item_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let _guard = self.lock_writes().await;
        let rows = self
            .execute(
                &self.db,
                "DELETE FROM messages WHERE owner_id = $1 AND conversation_id = $2 AND id = $3",
                vec![
                    ctx.owner_id.clone().into(),
                    thread_id.into(),
                    item_id.into(),
                ],
            )
            .await
            .map_err(map_db_err)?;
        if rows == 0 {
            return Err(StoreError::not_found(RecordKind::Item, item_id));
        }
        Ok(())
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
        let _guard = self.lock_writes().await;
        self.execute(
            &self.db,
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
            .query_one(
                &self.db,
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
        let _guard = self.lock_writes().await;
        let rows = self
            .execute(
                &self.db,
                "DELETE FROM attachments WHERE owner_id = $1 AND id = $2",
                vec![ctx.owner_id.clone().into(), attachment_id.into()],
            )
            .await
            .map_err(map_db_err)?;
        if rows == 0 {
            return Err(StoreError::not_found(RecordKind::Attachment, attachment_id));
        }
        Ok(())
    }

    #[tracing::instrument(name = "store.save_feedback", skip_all, fields(thread.id = %thread_id, item.count = item_ids.len()))]
    async fn save_feedback(
        &self,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        if item_ids.is_empty() {
            return Err(StoreError::InvalidInput(
                "feedback needs at least one item id".to_owned(),
            ));
        }
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
            .query_one(
                &self.db,
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
