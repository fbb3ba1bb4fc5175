//! Connection settings of the SQL store.

use std::time::Duration;

/// How [`SeaOrmStore::connect`](crate::SeaOrmStore::connect) reaches its database. Only the
/// binary reads files and environment variables; it fills this struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db?mode=rwc` (creates the file) or
    /// `postgres://user:password@host:5432/database`. `sqlite::memory:` works but keeps a single
    /// connection, since every SQLite in-memory connection is a database of its own.
    pub url: String,
    /// Upper bound of the connection pool. SQLite writes are serialized in process whatever the
    /// pool size; extra connections serve concurrent reads (WAL lets them run beside a writer).
    pub max_connections: u32,
    /// Connections the pool keeps open when idle.
    pub min_connections: u32,
    /// How long a call waits for a pooled connection before failing with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    pub acquire_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// A pooled connection idle for at least this long is pinged before it is handed out, so
    /// that one dropped by the server, a proxy or a firewall is replaced instead of failing a
    /// request. Connections in steady use are handed out without the extra round trip (ADR
    /// 0013). `Duration::ZERO` pings on every checkout.
    pub ping_when_idle_for: Duration,
    /// How long SQLite waits for a lock held by another process (another server, a migration,
    /// an operator's `sqlite3` shell) before failing.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL schema to use (it becomes the connections' `search_path`); `None` uses the
    /// server's default (`public`). Letters, digits and `_` only.
    pub postgres_schema: Option<String>,
    /// PostgreSQL `synchronous_commit` for this store's sessions. `true` (the default) waits for
    /// the WAL flush at every commit, so an acknowledged item survives a crash. `false` lets
    /// PostgreSQL acknowledge before the flush: a crash may lose the last few hundred
    /// milliseconds of writes (never corrupting anything), in exchange for several times the
    /// write throughput on slow disks. An operator's choice, never a silent default.
    pub postgres_synchronous_commit: bool,
    /// Run pending migrations when connecting. Turn it off when operators migrate with the
    /// `chatkit-migration` binary before a rollout.
    pub run_migrations: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://chatkit.db?mode=rwc".to_owned(),
            max_connections: 10,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            ping_when_idle_for: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            postgres_schema: None,
            postgres_synchronous_commit: true,
            run_migrations: true,
        }
    }
}

impl StoreConfig {
    /// The defaults with another URL.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}
