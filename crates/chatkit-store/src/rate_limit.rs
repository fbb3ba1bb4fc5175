//! Token buckets for request rate limits, kept where every instance of a service can see them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::StoreError;

/// A token bucket per key: `burst` requests at once, refilled at `rate_per_minute` a minute.
///
/// A server holds one as `Arc<dyn RateLimiter>` and asks it before serving each request, with
/// the caller's identity as the key. Implementations keep the buckets in process memory
/// ([`MemoryRateLimiter`]) or in the database ([`SeaOrmStore`](crate::SeaOrmStore)), where
/// several instances of a server on one database share them and so enforce one limit together.
///
/// # Contract
///
/// - A key nobody has used yet starts with a full bucket of `burst` tokens (a `burst` of 0
///   counts as 1, so a limit always lets at least one request through).
/// - Each call takes one token and returns `Ok(None)` when the bucket holds at least one;
///   otherwise it takes nothing and returns `Ok(Some(retry_after))`, the time until the bucket
///   refills to one token at the current rate.
/// - Buckets refill continuously at `rate_per_minute / 60` tokens a second, never beyond
///   `burst`.
/// - A `rate_per_minute` of 0 means no limit: every call returns `Ok(None)` and no state is kept.
/// - Keys are independent: taking from one bucket never changes another.
/// - Taking a token is atomic: however many callers (threads, or processes sharing the same
///   backing store) race for the last token of a bucket, exactly one gets it.
/// - The limit parameters belong to the call, not to the bucket: callers are expected to pass
///   the same values for a key every time; a changed `burst` applies from the next call on.
/// - An `Err` means the limiter could not decide (the database is unreachable, say); the caller
///   chooses whether to fail open or closed.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes a token from `key`'s bucket: `None` when one was taken, `Some(retry_after)` when
    /// the bucket is empty.
    async fn acquire(
        &self,
        key: &str,
        rate_per_minute: u32,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError>;
}

/// How many buckets may pile up before idle (full) ones are swept away.
const SWEEP_AT: usize = 4096;

/// One key's bucket in memory.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of a [`MemoryRateLimiter`], behind its mutex.
#[derive(Debug)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    sweep_at: usize,
}

/// A [`RateLimiter`] whose buckets live in this process: exact and fast, but each process has
/// its own, so N instances behind a load balancer allow up to N times the rate. It is the
/// reference implementation of the contract and the choice for a single instance.
///
/// Full buckets are indistinguishable from missing ones, so once many keys pile up the ones that
/// have refilled are forgotten; memory stays proportional to the recently active keys.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    state: Mutex<Buckets>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// An empty limiter: every key starts with a full bucket.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(Buckets {
                by_key: HashMap::new(),
                sweep_at: SWEEP_AT,
            }),
        }
    }

    /// [`RateLimiter::acquire`] at a given instant, so that tests can move the clock instead of
    /// sleeping. Instants before a bucket's last update count as no time passed.
    pub fn acquire_at(
        &self,
        key: &str,
        rate_per_minute: u32,
        burst: u32,
        now: Instant,
    ) -> Option<Duration> {
        if rate_per_minute == 0 {
            return None;
        }
        let per_second = f64::from(rate_per_minute) / 60.0;
        let burst = f64::from(burst.max(1));
        // A poisoned lock only means another caller panicked mid-update; the buckets are plain
        // numbers that stay meaningful, so keep limiting rather than propagating the panic.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.by_key.len() >= state.sweep_at {
            // A full bucket is the same as no bucket: forget the keys that have been idle.
            state.by_key.retain(|_, bucket| {
                let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
                bucket.tokens + elapsed * per_second < burst
            });
            state.sweep_at = (state.by_key.len() * 2).max(SWEEP_AT);
        }
        let bucket = state.by_key.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = bucket.updated.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(retry_after(bucket.tokens, per_second))
        }
    }

    /// How many buckets are held (for tests of the sweep).
    pub fn bucket_count(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_key
            .len()
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        rate_per_minute: u32,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        Ok(self.acquire_at(key, rate_per_minute, burst, Instant::now()))
    }
}

/// The time until a bucket holding `tokens` (less than one) refills to one token.
pub(crate) fn retry_after(tokens: f64, per_second: f64) -> Duration {
    let seconds = (1.0 - tokens).max(0.0) / per_second;
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_with_the_wait_until_the_next_token() {
        let limiter = MemoryRateLimiter::new();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.acquire_at("alice", 60, 3, start), None);
        }
        let wait = limiter
            .acquire_at("alice", 60, 3, start)
            .expect("over the burst");
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Another key has its own bucket.
        assert_eq!(limiter.acquire_at("bob", 60, 3, start), None);
        // Half a token later, still refused, with half the wait.
        let half = start + Duration::from_millis(500);
        let wait = limiter
            .acquire_at("alice", 60, 3, half)
            .expect("half a token");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(
            limiter.acquire_at("alice", 60, 3, start + Duration::from_secs(1)),
            None
        );
        // A long pause refills to the burst, never beyond.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.acquire_at("alice", 60, 3, later), None);
        }
        assert!(limiter.acquire_at("alice", 60, 3, later).is_some());
    }

    #[test]
    fn a_zero_rate_is_no_limit_and_a_zero_burst_counts_as_one() {
        let limiter = MemoryRateLimiter::new();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(limiter.acquire_at("alice", 0, 0, now), None);
        }
        assert_eq!(limiter.bucket_count(), 0, "no state for an unlimited key");
        assert_eq!(limiter.acquire_at("bob", 60, 0, now), None);
        assert!(limiter.acquire_at("bob", 60, 0, now).is_some());
    }

    #[test]
    fn idle_buckets_are_swept() {
        let limiter = MemoryRateLimiter::new();
        let start = Instant::now();
        for user in 0..SWEEP_AT {
            assert_eq!(
                limiter.acquire_at(&format!("user-{user}"), 60, 1, start),
                None
            );
        }
        assert_eq!(
            limiter.acquire_at("late", 60, 1, start + Duration::from_secs(10)),
            None
        );
        assert_eq!(
            limiter.bucket_count(),
            1,
            "the refilled buckets were forgotten"
        );
    }
}
