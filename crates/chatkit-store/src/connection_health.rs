//! Noticing that pooled database connections died, for the store's pool and the thread lock's.
//!
//! Pooled connections are pinged before use only when they sat idle (ADR 0013). A connection that
//! was killed while in steady use (the database restarted, an operator or a proxy ended the
//! session) is found dead by the statement that uses it. That statement is retried once, and for
//! a while every checkout pings, so that the other connections the pool still holds from before
//! are replaced instead of failing requests one by one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use sea_orm::sqlx;
use sea_orm::sqlx::pool::PoolConnectionMetadata;

/// Whether a pool's connections are suspect, and so pinged on every checkout.
#[derive(Debug, Default)]
pub(crate) struct ConnectionHealth {
    /// Milliseconds since the Unix epoch until which connections are suspect.
    suspect_until_ms: AtomicU64,
}

impl ConnectionHealth {
    /// How long checkouts ping after a lost connection.
    const SUSPECT_FOR: Duration = Duration::from_secs(10);

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    }

    /// A connection was found dead: ping every checkout for a while.
    pub(crate) fn mark_suspect(&self) {
        let until = Self::now_ms().saturating_add(Self::SUSPECT_FOR.as_millis() as u64);
        self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` should be pinged before it is handed out.
    pub(crate) fn should_ping(&self, idle_for: Duration, ping_when_idle_for: Duration) -> bool {
        idle_for >= ping_when_idle_for
            || Self::now_ms() < self.suspect_until_ms.load(Ordering::Relaxed)
    }

    /// The pools' `before_acquire` hook: pings `connection` when [`Self::should_ping`] says so.
    /// A failed ping makes sqlx discard the connection and hand out another.
    pub(crate) fn before_acquire<'c, C: sqlx::Connection>(
        &self,
        connection: &'c mut C,
        meta: PoolConnectionMetadata,
        ping_when_idle_for: Duration,
    ) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        let ping = self.should_ping(meta.idle_for, ping_when_idle_for);
        Box::pin(async move {
            if ping {
                connection.ping().await?;
            }
            Ok(true)
        })
    }
}

/// True when a statement failed because its connection went away, not because of the statement:
/// the socket broke, or PostgreSQL ended the session (`57P01` admin shutdown, `57P02` crash,
/// `57P03` cannot connect now, class `08` connection exceptions). A session that was lost did not
/// commit what it was running.
pub(crate) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connections_are_pinged_and_all_of_them_for_a_while_after_a_loss() {
        let health = ConnectionHealth::default();
        let threshold = Duration::from_secs(5);
        assert!(!health.should_ping(Duration::from_millis(10), threshold));
        assert!(health.should_ping(Duration::from_secs(6), threshold));
        health.mark_suspect();
        assert!(health.should_ping(Duration::from_millis(10), threshold));
    }

    #[test]
    fn a_broken_socket_is_a_lost_connection_and_a_bad_statement_is_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_connection_lost(&io));
        assert!(!is_connection_lost(&sqlx::Error::RowNotFound));
        assert!(!is_connection_lost(&sqlx::Error::Protocol("bad".into())));
    }
}
