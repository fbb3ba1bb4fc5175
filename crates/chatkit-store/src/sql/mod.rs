//! The SQL store: one implementation for SQLite and PostgreSQL, on SeaORM.
//!
//! Statements are written by hand (with `$n` placeholders, which both sqlx drivers accept) so
//! that each read is exactly the indexed query the contract's cost promise needs.
//!
//! This file opens the connection and runs statements; `rows` maps values to and from rows,
//! `store_impl` is the [`Store`](crate::Store) implementation, `import` the bulk imports, and
//! `rate_limit` the shared rate-limit buckets.

mod config;
mod import;
mod rate_limit;
mod rows;
mod store_impl;

use std::sync::Arc;

use sea_orm::sqlx::SqliteConnection;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    RuntimeErr, Statement, Value,
};
use tokio::sync::{Mutex, MutexGuard};

pub use config::StoreConfig;

use self::rows::{is_connection_lost, map_db_err};
use crate::StoreError;
use crate::connection_health::ConnectionHealth;

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

/// A [`Store`](crate::Store) on SQLite or PostgreSQL. Threads are rows of `conversations`, items rows of
/// `messages` (kind, role and plain text in columns so that SQL users and the legacy chat API can
/// read them, the full item as JSON), plus `attachments` and `feedback`; see the
/// `chatkit-migration` crate for the schema.
///
/// Item positions come from a per-conversation counter incremented in the same statement (or
/// transaction) as the insert, and that statement also checks ownership. On SQLite, writes are
/// serialized in process so that concurrent writers queue on a mutex instead of sleeping in
/// SQLite's busy handler, and they run on one connection the store keeps for them.
#[derive(Debug)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    backend: SqlBackend,
    /// Held around every SQLite write; `None` on PostgreSQL, which has row locks.
    sqlite_writer: Option<Mutex<SqliteWriter>>,
    /// Whether pooled connections are suspect (one was just found dead).
    health: Arc<ConnectionHealth>,
}

impl SeaOrmStore {
    /// Connects (and migrates, when `config.run_migrations`) to the database `config.url`
    /// names. Unreachable databases give [`StoreError::Unavailable`].
    #[tracing::instrument(name = "store.connect", skip_all)]
    pub async fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let url = config.url.as_str();
        // One connection, never closed, for an in-memory SQLite database: another connection
        // would open another, empty, database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
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
        // Pings only connections that sat idle, or all of them for a while after one was found
        // dead (ADR 0013); not every checkout, which cost a round trip per statement.
        let health = Arc::new(ConnectionHealth::default());
        let ping_when_idle_for = config.ping_when_idle_for;
        options.test_before_acquire(false);
        match backend {
            SqlBackend::Sqlite => {
                let health = Arc::clone(&health);
                options.map_sqlx_sqlite_before_acquire(move |connection, meta| {
                    health.before_acquire(connection, meta, ping_when_idle_for)
                });
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
                if in_memory {
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None);
                }
            }
            SqlBackend::Postgres => {
                let health = Arc::clone(&health);
                options.map_sqlx_postgres_before_acquire(move |connection, meta| {
                    health.before_acquire(connection, meta, ping_when_idle_for)
                });
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
            sqlite_writer: (backend == SqlBackend::Sqlite).then(|| {
                Mutex::new(SqliteWriter {
                    hold: !in_memory,
                    held: None,
                    unsettled: false,
                })
            }),
            health,
        })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> SqlBackend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned, and the held writer.
    pub async fn close(self) -> Result<(), StoreError> {
        if let Some(writer) = &self.sqlite_writer
            && let Some(connection) = writer.lock().await.held.take()
        {
            use sea_orm::sqlx::Connection;
            connection.close().await.map_err(|error| {
                StoreError::Backend(format!("closing the SQLite writer: {error}"))
            })?;
        }
        self.db.close().await.map_err(map_db_err)
    }

    pub(super) fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = match self.backend {
            SqlBackend::Sqlite => DbBackend::Sqlite,
            SqlBackend::Postgres => DbBackend::Postgres,
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Takes SQLite's write lock (nothing on PostgreSQL). Writes that go through
    /// [`SeaOrmStore::write`] with the guard run on the held writer.
    ///
    /// A transaction a given-up call may have left open on the held writer is rolled back here,
    /// before the guard is handed out, so that writes that do not run on the held writer (the
    /// pool's transactions of imports and feedback) never wait behind its lock.
    pub(super) async fn lock_writes(&self) -> WriteGuard<'_> {
        match &self.sqlite_writer {
            Some(lock) => {
                let mut writer = lock.lock().await;
                writer.settle_if_unsettled().await;
                WriteGuard(Some(writer))
            }
            None => WriteGuard(None),
        }
    }

    /// Runs a read on SQLite's held writer when it is free at this moment (never waiting for
    /// it, and never ahead of a writer waiting for it), else on the pool. The writer's page cache
    /// is the one connection that its own commits do not invalidate, and a statement on it skips
    /// the pool's checkout and return ping. SQLite reads on the pool go to sqlx directly, binding
    /// as sea-orm does: sea-orm's own path moves a future of about 15 kB into a box per
    /// statement (callgrind: 3 % of an agent turn's instructions in that copy).
    pub(super) async fn read_all(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        match self.idle_writer() {
            Some(mut writer) => writer.fetch_all(&self.db, sql, values).await,
            None if self.backend == SqlBackend::Sqlite => {
                let mut connection = self.pooled_sqlite().await?;
                all_rows(sqlite_query(sql, values), &mut connection)
                    .await
                    .map_err(query_error)
            }
            None => self.query_all(&self.db, sql, values).await,
        }
    }

    /// As [`SeaOrmStore::read_all`], for at most one row.
    pub(super) async fn read_one(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>, StoreError> {
        match self.idle_writer() {
            Some(mut writer) => writer.fetch_optional(&self.db, sql, values).await,
            None if self.backend == SqlBackend::Sqlite => {
                let mut connection = self.pooled_sqlite().await?;
                Ok(sqlite_query(sql, values)
                    .fetch_optional(&mut *connection)
                    .await
                    .map_err(query_error)?
                    .map(QueryResult::from))
            }
            None => self.query_one(&self.db, sql, values).await,
        }
    }

    /// A SQLite connection from the pool. Any failure to get one is `Unavailable`, as sea-orm
    /// reports it.
    async fn pooled_sqlite(
        &self,
    ) -> Result<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Sqlite>, StoreError> {
        self.db
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    /// SQLite's held writer, if there is one and nobody holds or waits for the write lock.
    fn idle_writer(&self) -> Option<MutexGuard<'_, SqliteWriter>> {
        let writer = self.sqlite_writer.as_ref()?.try_lock().ok()?;
        writer.hold.then_some(writer)
    }

    /// Runs a write statement under `guard`: on SQLite's held writer when there is one, else as
    /// [`SeaOrmStore::execute`] on the pool.
    pub(super) async fn write(
        &self,
        guard: &mut WriteGuard<'_>,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<u64, DbErr> {
        match guard.held() {
            Some(writer) => writer.execute(&self.db, sql, values).await,
            None => self.execute(&self.db, sql, values).await,
        }
    }

    /// Runs `sql`, several statements of which the first is `BEGIN IMMEDIATE` and the last
    /// `COMMIT`, on SQLite's held writer in one call to its driver thread, and returns the rows
    /// they returned. Only with a guard whose [`WriteGuard::holds_writer`] is true.
    ///
    /// Whatever happens, no transaction stays open on the writer: a failed statement is followed
    /// by a `ROLLBACK`, and a call given up halfway (its future dropped while the driver ran the
    /// statements) leaves a mark that makes the writer's next user roll back first.
    pub(super) async fn write_transaction(
        &self,
        guard: &mut WriteGuard<'_>,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let Some(writer) = guard.held() else {
            return Err(DbErr::Custom(
                "a transaction in one call needs SQLite's held writer".to_owned(),
            ));
        };
        let result = writer
            .run(&self.db, sql, values, true, all_rows)
            .await
            .map_err(|error| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error))));
        if result.is_err() {
            writer.settle().await;
        }
        writer.unsettled = false;
        result
    }

    /// As [`SeaOrmStore::write`], for a write that returns a row (`RETURNING`).
    pub(super) async fn write_returning(
        &self,
        guard: &mut WriteGuard<'_>,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>, StoreError> {
        match guard.held() {
            Some(writer) => writer.fetch_optional(&self.db, sql, values).await,
            None => self.query_one(&self.db, sql, values).await,
        }
    }

    /// Notes a statement that failed because its connection was lost: checkouts ping for a while,
    /// and the caller retries the statement once. A retry is safe for this store's statements:
    /// a lost session did not commit what it was running, and the rare statement that committed
    /// just before the loss is keyed by id, so its retry updates the same row or reports the
    /// conflict the engine already treats as "already saved".
    fn lost_connection(&self, error: &DbErr) -> bool {
        if !is_connection_lost(error) {
            return false;
        }
        self.health.mark_suspect();
        tracing::warn!(
            store.backend = self.backend.name(),
            error = %error,
            "a database connection was lost; retrying the statement on another"
        );
        true
    }

    /// Runs `statement`, and once more on another connection when its connection was lost
    /// (PostgreSQL only). SQLite's connections are a file opened in this process: there is no
    /// session to lose between statements, so the copy a retry needs (the values include an
    /// item's JSON) is not made there.
    async fn run_retrying_lost<T, Run, Ran>(
        &self,
        statement: Statement,
        run: Run,
    ) -> Result<T, DbErr>
    where
        Run: Fn(Statement) -> Ran,
        Ran: std::future::Future<Output = Result<T, DbErr>>,
    {
        if self.backend == SqlBackend::Sqlite {
            return run(statement).await;
        }
        match run(statement.clone()).await {
            Err(error) if self.lost_connection(&error) => run(statement).await,
            other => other,
        }
    }

    pub(super) async fn query_one(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>, StoreError> {
        self.run_retrying_lost(self.statement(sql, values), |statement| {
            db.query_one_raw(statement)
        })
        .await
        .map_err(map_db_err)
    }

    pub(super) async fn query_all(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.run_retrying_lost(self.statement(sql, values), |statement| {
            db.query_all_raw(statement)
        })
        .await
        .map_err(map_db_err)
    }

    pub(super) async fn execute(
        &self,
        db: &impl ConnectionTrait,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<u64, DbErr> {
        self.run_retrying_lost(self.statement(sql, values), |statement| {
            db.execute_raw(statement)
        })
        .await
        .map(|result| result.rows_affected())
    }
}

/// SQLite's write lock and what it guards.
#[derive(Debug)]
struct SqliteWriter {
    /// Whether writes run on a held connection: not for in-memory databases, where a connection
    /// taken out of the pool would let the pool open a new one onto a new, empty database.
    hold: bool,
    /// A connection taken out of the pool for writes: they then skip the pool's checkout and the
    /// ping sqlx sends on every connection given back to it (a hop to the driver's thread each).
    /// `None` before the first write and after a failure that was not the statement's own.
    held: Option<SqliteConnection>,
    /// Set while [`SeaOrmStore::write_transaction`] runs: if it is still set when the writer is
    /// next used, that call was given up halfway and may have left its transaction open.
    unsettled: bool,
}

/// What [`SeaOrmStore::lock_writes`] gives: SQLite's write lock, or nothing on PostgreSQL.
pub(super) struct WriteGuard<'a>(Option<MutexGuard<'a, SqliteWriter>>);

type SqliteQuery<'q> =
    sea_orm::sqlx::query::Query<'q, sea_orm::sqlx::Sqlite, sea_query_sqlx::SqlxValues>;

impl WriteGuard<'_> {
    /// The held writer, when this guard is SQLite's and writes run on one.
    fn held(&mut self) -> Option<&mut SqliteWriter> {
        self.0.as_deref_mut().filter(|writer| writer.hold)
    }

    /// Whether writes under this guard run on SQLite's held writer (not on PostgreSQL, nor on
    /// an in-memory SQLite database).
    pub(super) fn holds_writer(&self) -> bool {
        self.0.as_deref().is_some_and(|writer| writer.hold)
    }
}

impl SqliteWriter {
    /// Runs one statement on the held connection, taking one out of the pool first if needed.
    /// With `opens_transaction`, `sql` is a whole transaction: the writer stays marked
    /// [`unsettled`](SqliteWriter::unsettled) until the caller clears the mark, after it
    /// has seen the result (and rolled back a failure).
    async fn run<T>(
        &mut self,
        db: &DatabaseConnection,
        sql: &str,
        values: Vec<Value>,
        opens_transaction: bool,
        run: impl for<'c> FnOnce(
            SqliteQuery<'c>,
            &'c mut SqliteConnection,
        )
            -> futures::future::BoxFuture<'c, Result<T, sea_orm::sqlx::Error>>,
    ) -> Result<T, sea_orm::sqlx::Error> {
        self.settle_if_unsettled().await;
        let connection = match self.held.take() {
            Some(connection) => connection,
            None => db.get_sqlite_connection_pool().acquire().await?.detach(),
        };
        let connection = self.held.insert(connection);
        // Set only now: the settling above must not clear the mark of this call's own transaction.
        self.unsettled = opens_transaction;
        let result = run(sqlite_query(sql, values), connection).await;
        // A database error (a constraint, say) is the statement's; anything else may have left
        // the connection unusable, so the next write takes a fresh one.
        if let Err(error) = &result
            && !matches!(error, sea_orm::sqlx::Error::Database(_))
        {
            self.held = None;
        }
        result
    }

    /// Rolls back what a call given up halfway may have left open (see
    /// [`unsettled`](SqliteWriter::unsettled)).
    async fn settle_if_unsettled(&mut self) {
        if self.unsettled {
            self.settle().await;
            self.unsettled = false;
        }
    }

    /// Rolls back whatever transaction may be open on the held connection. SQLite refusing
    /// because none is open is the expected answer after a transaction that failed at its
    /// `BEGIN` or committed; any other failure drops the connection, which ends its transaction.
    async fn settle(&mut self) {
        let Some(connection) = self.held.as_mut() else {
            return;
        };
        let rolled_back = sea_orm::sqlx::query("ROLLBACK")
            .execute(&mut *connection)
            .await;
        let none_open = |error: &sea_orm::sqlx::Error| match error {
            sea_orm::sqlx::Error::Database(error) => {
                error.message().contains("no transaction is active")
            }
            _ => false,
        };
        if let Err(error) = rolled_back
            && !none_open(&error)
        {
            tracing::warn!(error = %error, "rolling back on the SQLite writer failed; it is replaced");
            self.held = None;
        }
    }

    async fn execute(
        &mut self,
        db: &DatabaseConnection,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<u64, DbErr> {
        self.run(db, sql, values, false, |query, connection| {
            Box::pin(async move { Ok(query.execute(connection).await?.rows_affected()) })
        })
        .await
        .map_err(|error| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error))))
    }

    async fn fetch_all(
        &mut self,
        db: &DatabaseConnection,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.run(db, sql, values, false, all_rows)
            .await
            .map_err(query_error)
    }

    async fn fetch_optional(
        &mut self,
        db: &DatabaseConnection,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>, StoreError> {
        self.run(db, sql, values, false, |query, connection| {
            Box::pin(async move {
                Ok(query
                    .fetch_optional(connection)
                    .await?
                    .map(QueryResult::from))
            })
        })
        .await
        .map_err(query_error)
    }
}

/// A SQLite statement with sea-orm's values bound as sea-orm binds them.
fn sqlite_query(sql: &str, values: Vec<Value>) -> SqliteQuery<'_> {
    sea_orm::sqlx::query_with(
        sea_orm::sqlx::AssertSqlSafe(sql),
        sea_query_sqlx::SqlxValues(sea_orm::sea_query::Values(values)),
    )
}

/// Every row `query` returns on `connection`.
fn all_rows<'c>(
    query: SqliteQuery<'c>,
    connection: &'c mut SqliteConnection,
) -> futures::future::BoxFuture<'c, Result<Vec<QueryResult>, sea_orm::sqlx::Error>> {
    Box::pin(async move {
        let rows = query.fetch_all(connection).await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    })
}

fn query_error(error: sea_orm::sqlx::Error) -> StoreError {
    map_db_err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(error))))
}
