//! Per-user rate limits: a token bucket per authenticated user.
//!
//! The buckets live behind a [`chatkit_store::RateLimiter`]. By default that is the SQL store, so
//! several instances on one database share each user's bucket and enforce the configured limit
//! together; `rate_limit.shared = false` keeps them in this process instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::RETRY_AFTER;
use serde_json::json;

use crate::http::AppState;

/// The configured limit, applied through a [`chatkit_store::RateLimiter`].
pub struct RateLimiter {
    buckets: Arc<dyn chatkit_store::RateLimiter>,
    per_minute: u32,
    burst: u32,
}

impl RateLimiter {
    /// A limit of `per_minute` requests a minute with bursts of `burst` kept in `buckets`, or
    /// `None` when `per_minute` is 0 (no limit). A `burst` of 0 counts as 1.
    pub fn new(
        buckets: Arc<dyn chatkit_store::RateLimiter>,
        per_minute: u32,
        burst: u32,
    ) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            buckets,
            per_minute,
            burst: burst.max(1),
        })
    }

    /// Takes a token for `key`; `Some` holds how long until one is available.
    ///
    /// A limiter that cannot decide (the database is down) lets the request through: refusing
    /// every request because the limiter's store failed would turn a degraded dependency into a
    /// full outage, and the request itself will meet the same store and fail properly if it
    /// needs it.
    pub async fn check(&self, key: &str) -> Option<Duration> {
        let started = Instant::now();
        match self.buckets.acquire(key, self.per_minute, self.burst).await {
            Ok(wait) => wait,
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "rate limiter unavailable; letting the request through"
                );
                None
            }
        }
    }
}

/// The 429 answer for a user over the limit, or `None` when the request may go on. Called by the
/// chat handlers right after authentication, so the bucket is the verified user's.
pub async fn refuse_if_limited(state: &AppState, user_id: &str) -> Option<HttpResponse> {
    let limiter = state.rate_limiter.as_ref()?;
    let wait = limiter.check(user_id).await?;
    state.metrics.rate_limited();
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::info!(retry_after_secs = seconds, "rate limited");
    Some(
        HttpResponse::TooManyRequests()
            .insert_header((RETRY_AFTER, seconds.to_string()))
            .json(json!({"error": {
                "code": "rate_limited",
                "message": format!("too many requests; try again in {seconds} seconds"),
            }})),
    )
}

#[cfg(test)]
mod tests {
    use chatkit_store::{MemoryRateLimiter, SeaOrmStore, StoreConfig};

    use super::*;

    #[tokio::test]
    async fn the_configured_limit_is_applied_per_key() {
        assert!(RateLimiter::new(Arc::new(MemoryRateLimiter::new()), 0, 10).is_none());
        let limiter = RateLimiter::new(Arc::new(MemoryRateLimiter::new()), 60, 2).expect("enabled");
        assert_eq!(limiter.check("alice").await, None);
        assert_eq!(limiter.check("alice").await, None);
        let wait = limiter.check("alice").await.expect("over the burst");
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limiter.check("bob").await, None);
    }

    #[tokio::test]
    async fn a_failing_store_lets_requests_through() {
        // A real store whose schema was never migrated: every acquire fails on the missing table.
        let store = SeaOrmStore::connect(StoreConfig {
            run_migrations: false,
            ..StoreConfig::with_url("sqlite::memory:")
        })
        .await
        .expect("in-memory SQLite");
        let store = Arc::new(store);
        assert!(
            chatkit_store::RateLimiter::acquire(store.as_ref(), "alice", 60, 1)
                .await
                .is_err(),
            "the store cannot decide"
        );
        let limiter = RateLimiter::new(store, 60, 1).expect("enabled");
        for _ in 0..3 {
            assert_eq!(limiter.check("alice").await, None);
        }
    }
}
