//! The thread lock of instances sharing a PostgreSQL database: a session-level advisory lock,
//! held on a dedicated connection for as long as the guard lives.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::{self, PgPool, Postgres};

use super::{HeldThreadLock, ThreadLock, ThreadLockGuard, busy, lock_key};
use crate::connection_health::{ConnectionHealth, is_connection_lost};
use crate::{StoreContext, StoreError};

/// PostgreSQL's SQLSTATE for `lock_timeout` expiring (`lock_not_available`).
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Settings of a [`PgThreadLock`].
#[derive(Clone, PartialEq, Eq)]
pub struct PgThreadLockConfig {
    /// `postgres://user:password@host:5432/database`: the database the instances share.
    pub url: String,
    /// Folded into every lock key, so that deployments sharing one database (in separate
    /// schemas, say) never wait for each other. Every instance of one deployment must use the
    /// same value; the schema name is a good choice.
    pub namespace: String,
    /// Connections of the lock pool. Each thread being streamed, and each request waiting for a
    /// busy thread, occupies one connection of its instance for that time, so this bounds the
    /// streams (plus waiters) one instance can run at once; past it, `acquire` waits for a
    /// connection and then fails with [`StoreError::Unavailable`]. Mind PostgreSQL's
    /// `max_connections` across all instances.
    pub max_connections: u32,
    /// How long opening a connection (or waiting for a free one when the caller's wait is
    /// shorter) may take before failing with [`StoreError::Unavailable`].
    pub connect_timeout: Duration,
    /// `application_name` of the lock connections, so that operators can tell them apart in
    /// `pg_stat_activity` (they sit idle while a stream runs, holding the lock).
    pub application_name: String,
    /// A pooled lock connection idle for at least this long is pinged before use, as the store's
    /// (`StoreConfig::ping_when_idle_for`, ADR 0013). `Duration::ZERO` pings on every checkout.
    pub ping_when_idle_for: Duration,
}

impl Default for PgThreadLockConfig {
    fn default() -> Self {
        Self {
            url: "postgres://localhost/chatkit".to_owned(),
            namespace: "chatkit".to_owned(),
            max_connections: 64,
            connect_timeout: Duration::from_secs(5),
            application_name: "chatkit-thread-lock".to_owned(),
            ping_when_idle_for: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for PgThreadLockConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        formatter
            .debug_struct("PgThreadLockConfig")
            .field("url", &"<redacted>")
            .field("namespace", &self.namespace)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("ping_when_idle_for", &self.ping_when_idle_for)
            .finish()
    }
}

/// A [`ThreadLock`] for instances that share a PostgreSQL database.
///
/// `acquire` takes a connection from a pool of its own and calls `pg_advisory_lock` on a key
/// derived from the namespace, owner and thread, with `lock_timeout` set to the caller's wait;
/// PostgreSQL queues the waiters and answers `lock_not_available` when the wait is over, which
/// becomes [`StoreError::Busy`]. The connection stays with the guard: the lock belongs to the
/// session, so releasing it is `pg_advisory_unlock` on the same connection, and if the instance
/// dies (or the connection is cut) PostgreSQL ends the session and the lock is free.
///
/// A connection is returned to the pool only when it is known to hold no lock; one whose state
/// is unknown (a wait abandoned half-way, a failed unlock) is closed instead, which releases
/// whatever it held. See ADR 0007 for the choice over lease rows.
#[derive(Clone)]
pub struct PgThreadLock {
    pool: PgPool,
    namespace: String,
    connect_timeout: Duration,
    /// Whether the pool's connections are suspect (one was just found dead).
    health: Arc<ConnectionHealth>,
}

impl fmt::Debug for PgThreadLock {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PgThreadLock")
            .field("namespace", &self.namespace)
            .field("connections", &self.pool.size())
            .finish()
    }
}

fn unavailable(what: &str, error: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("thread lock: {what}: {error}"))
}

impl PgThreadLock {
    /// Opens the lock pool and checks that the database answers.
    #[tracing::instrument(name = "thread_lock.connect", skip_all)]
    pub async fn connect(config: PgThreadLockConfig) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|error| {
                StoreError::InvalidInput(format!("thread lock database URL: {error}"))
            })?
            .application_name(&config.application_name);
        let health = Arc::new(ConnectionHealth::default());
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(config.connect_timeout)
            // A held lock's connection is idle for the whole stream; it must not be reaped.
            .idle_timeout(Some(Duration::from_secs(600)))
            // Ping only connections that sat idle long enough to have been dropped by the
            // server or a proxy, not every checkout: a turn takes this lock once (ADR 0013).
            .test_before_acquire(false)
            .before_acquire({
                let health = Arc::clone(&health);
                let ping_when_idle_for = config.ping_when_idle_for;
                move |connection, meta| health.before_acquire(connection, meta, ping_when_idle_for)
            })
            .connect_with(options)
            .await
            .map_err(|error| unavailable("connecting", error))?;
        Ok(Self {
            pool,
            namespace: config.namespace,
            connect_timeout: config.connect_timeout,
            health,
        })
    }

    /// Closes the pool: waits for the guards' connections to come back, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What a lock connection is known to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// Holds no lock: safe to return to the pool.
    Clean,
    /// Holds the thread's lock.
    Held,
    /// A lock call was under way or failed: the session may hold the lock.
    Unknown,
}

struct PgHeld {
    connection: Option<PoolConnection<Postgres>>,
    key: i64,
    state: SessionState,
}

impl Drop for PgHeld {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.as_mut()
            && self.state != SessionState::Clean
        {
            // Closing ends the session, and PostgreSQL frees its advisory locks with it; a
            // connection that may hold a lock must never go back to the pool.
            connection.close_on_drop();
        }
    }
}

impl PgHeld {
    async fn unlock(mut self) {
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .fetch_one(&mut **connection)
            .await;
        match unlocked {
            Ok(true) => self.state = SessionState::Clean,
            Ok(false) => {
                // The session did not hold the lock: it was cut and replaced (which already
                // freed the lock). Closing is the safe answer either way.
                tracing::warn!("thread lock was no longer held at release");
            }
            Err(error) => {
                tracing::warn!(error = %error, "thread lock release failed; closing its connection");
            }
        }
        // `Drop` returns a clean connection to the pool and closes any other.
    }
}

impl HeldThreadLock for PgHeld {
    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin((*self).unlock())
    }
}

#[async_trait]
impl ThreadLock for PgThreadLock {
    #[tracing::instrument(name = "thread_lock.acquire", skip_all, fields(thread.id = %thread_id))]
    async fn acquire(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
        wait: Duration,
    ) -> Result<ThreadLockGuard, StoreError> {
        let started = Instant::now();
        match self.acquire_once(thread_id, ctx, wait, started).await {
            // The connection died under the lock call (see `crate::connection_health`): it was
            // closed, it held nothing, and another one is asked for once.
            Err(Attempt::ConnectionLost(error)) => {
                self.health.mark_suspect();
                tracing::warn!(error = %error, "a thread lock connection was lost; retrying on another");
                self.acquire_once(thread_id, ctx, wait, started)
                    .await
                    .map_err(Attempt::into_error)
            }
            other => other.map_err(Attempt::into_error),
        }
    }
}

/// Why one attempt at the lock failed.
enum Attempt {
    /// The connection was lost during the lock call.
    ConnectionLost(StoreError),
    /// Anything else: busy, the pool, the database.
    Failed(StoreError),
}

impl Attempt {
    fn into_error(self) -> StoreError {
        match self {
            Attempt::ConnectionLost(error) | Attempt::Failed(error) => error,
        }
    }

    fn from_sqlx(what: &str, error: sqlx::Error) -> Self {
        if is_connection_lost(&error) {
            Attempt::ConnectionLost(unavailable(what, error))
        } else {
            Attempt::Failed(unavailable(what, error))
        }
    }
}

impl PgThreadLock {
    async fn acquire_once(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
        wait: Duration,
        started: Instant,
    ) -> Result<ThreadLockGuard, Attempt> {
        let key = lock_key(&self.namespace, thread_id, ctx);
        let connection = tokio::time::timeout(wait.max(self.connect_timeout), self.pool.acquire())
            .await
            .map_err(|_| Attempt::Failed(unavailable("no free lock connection", "timed out")))?
            .map_err(|error| Attempt::Failed(unavailable("no free lock connection", error)))?;
        let mut held = PgHeld {
            connection: Some(connection),
            key,
            state: SessionState::Unknown,
        };
        let remaining = wait.saturating_sub(started.elapsed());
        let acquired = {
            let connection = held
                .connection
                .as_mut()
                .ok_or_else(|| Attempt::Failed(unavailable("lock connection", "missing")))?;
            if remaining.is_zero() {
                sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut **connection)
                    .await
                    .map_err(|error| Attempt::from_sqlx("pg_try_advisory_lock", error))?
            } else {
                // `lock_timeout` bounds the wait inside PostgreSQL, which keeps the queue
                // there (fair, and nothing to poll); zero would mean "forever", hence at
                // least one millisecond.
                // Rounded up: rounding down gave up to a millisecond less than the caller's wait.
                let millis = remaining
                    .as_micros()
                    .div_ceil(1000)
                    .clamp(1, i32::MAX as u128);
                // One round trip for both statements (the simple-query protocol takes several);
                // both values are integers we formatted, so nothing foreign reaches the SQL.
                // The key is a quoted literal cast to bigint because a bare `-9223372036854775808`
                // is read as minus a number too large for bigint.
                let statements = format!(
                    "SET lock_timeout = '{millis}ms'; SELECT pg_advisory_lock('{key}'::bigint)"
                );
                match sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
                    .execute(&mut **connection)
                    .await
                {
                    Ok(_) => true,
                    Err(sqlx::Error::Database(error))
                        if error.code().as_deref() == Some(LOCK_NOT_AVAILABLE) =>
                    {
                        false
                    }
                    Err(error) => return Err(Attempt::from_sqlx("pg_advisory_lock", error)),
                }
            }
        };
        tracing::debug!(
            duration_ms = started.elapsed().as_millis() as u64,
            thread_lock.acquired = acquired,
            "thread lock wait over"
        );
        if !acquired {
            // The wait ended without the lock: the session holds nothing.
            held.state = SessionState::Clean;
            return Err(Attempt::Failed(busy(thread_id)));
        }
        held.state = SessionState::Held;
        Ok(ThreadLockGuard::new(thread_id, Box::new(held)))
    }
}
