//! [`RateLimiter`] on the SQL store: one row per bucket in `rate_limits`, updated by a single
//! upsert so that concurrent instances on one database cannot both take the last token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::rows::get;
use super::{SeaOrmStore, SqlBackend};
use crate::StoreError;
use crate::rate_limit::{RateLimiter, retry_after};

/// The statement for a backend. `$1` is the key, `$2` the burst, `$3` tokens per microsecond and,
/// on SQLite only, `$4` the current time in microseconds.
///
/// A new key starts with `burst - 1` tokens (it was full, and this call took one). For an existing
/// key the refilled amount is computed from the old row, and the row lock the upsert takes orders
/// concurrent callers, so each sees the tokens its predecessor left. A clock that goes backwards
/// (another instance's, or a caller that waited on the lock) counts as no time passed, and the
/// bucket's time never moves back. `granted` tells the caller which branch was taken, since
/// `RETURNING` sees only the new row.
fn acquire_sql(backend: SqlBackend) -> String {
    let (least, greatest, now) = match backend {
        // The database's clock: every instance reads the same one, so skew between hosts
        // cannot mint tokens.
        SqlBackend::Postgres => (
            "LEAST",
            "GREATEST",
            "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
        ),
        // One SQLite file lives on one host, whose clock every process shares.
        SqlBackend::Sqlite => ("MIN", "MAX", "$4"),
    };
    let refilled = format!(
        "{least}($2, rate_limits.tokens + \
         {greatest}(0, excluded.updated_at_us - rate_limits.updated_at_us) * $3)"
    );
    format!(
        "INSERT INTO rate_limits (key, tokens, updated_at_us, granted)
        VALUES ($1, $2 - 1, {now}, 1)
        ON CONFLICT (key) DO UPDATE SET
            tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END,
            updated_at_us = {greatest}(rate_limits.updated_at_us, excluded.updated_at_us),
            granted = CASE WHEN {refilled} >= 1 THEN 1 ELSE 0 END
        RETURNING tokens, granted"
    )
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
}

/// Shares buckets between every store connected to the same database (or PostgreSQL schema):
/// that is what makes several server instances enforce one limit. Each call is one statement,
/// a round trip to the database.
#[async_trait]
impl RateLimiter for SeaOrmStore {
    #[tracing::instrument(name = "store.rate_limit.acquire", skip_all, fields(store.backend = self.backend.name()))]
    async fn acquire(
        &self,
        key: &str,
        rate_per_minute: u32,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        if rate_per_minute == 0 {
            return Ok(None);
        }
        let per_second = f64::from(rate_per_minute) / 60.0;
        let mut values = vec![
            key.into(),
            f64::from(burst.max(1)).into(),
            (per_second / 1_000_000.0).into(),
        ];
        if self.backend == SqlBackend::Sqlite {
            values.push(now_micros().into());
        }
        let mut guard = self.lock_writes().await;
        let row = self
            .write_returning(&mut guard, &acquire_sql(self.backend), values)
            .await?
            .ok_or_else(|| StoreError::Backend("rate limit upsert returned no row".to_owned()))?;
        let granted: i32 = get(&row, "granted")?;
        if granted == 1 {
            return Ok(None);
        }
        let tokens: f64 = get(&row, "tokens")?;
        Ok(Some(retry_after(tokens, per_second)))
    }
}
