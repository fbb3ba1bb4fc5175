//! Per-user rate limits: a token bucket per authenticated user.
//!
//! The buckets live in this process. Several instances behind a load balancer each allow the full
//! rate, so the effective limit is the configured one times the number of instances; a shared
//! limit needs a shared store (or a limit at the proxy), which this server does not provide.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::RETRY_AFTER;
use parking_lot::Mutex;
use serde_json::json;

use crate::http::AppState;

/// How many buckets may pile up before idle (full) ones are swept away.
const SWEEP_AT: usize = 4096;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per key: `burst` requests at once, refilled at `per_minute` a minute.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<Buckets>,
}

struct Buckets {
    by_key: HashMap<String, Bucket>,
    sweep_at: usize,
}

impl RateLimiter {
    /// A limiter, or `None` when `per_minute` is 0 (no limit). A `burst` of 0 counts as 1.
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            state: Mutex::new(Buckets {
                by_key: HashMap::new(),
                sweep_at: SWEEP_AT,
            }),
        })
    }

    /// Takes a token for `key` now; `Err` holds how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Takes a token for `key` at `now` (for tests that control the clock).
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock();
        if state.by_key.len() >= state.sweep_at {
            // A full bucket is the same as no bucket: forget the users who have been idle.
            let (per_second, burst) = (self.per_second, self.burst);
            state.by_key.retain(|_, bucket| {
                let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
                bucket.tokens + elapsed * per_second < burst
            });
            state.sweep_at = (state.by_key.len() * 2).max(SWEEP_AT);
        }
        let bucket = state.by_key.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// The 429 answer for a user over the limit, or `None` when the request may go on. Called by the
/// chat handlers right after authentication, so the bucket is the verified user's.
pub fn refuse_if_limited(state: &AppState, user_id: &str) -> Option<HttpResponse> {
    let limiter = state.rate_limiter.as_ref()?;
    let wait = limiter.check(user_id).err()?;
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
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_with_the_wait_until_the_next_token() {
        let limiter = RateLimiter::new(60, 3).expect("enabled");
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at("alice", start), Ok(()));
        }
        let wait = limiter
            .check_at("alice", start)
            .expect_err("over the burst");
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Another user has their own bucket.
        assert_eq!(limiter.check_at("bob", start), Ok(()));
        // Half a token later, still refused, with half the wait.
        let half = start + Duration::from_millis(500);
        let wait = limiter.check_at("alice", half).expect_err("half a token");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(
            limiter.check_at("alice", start + Duration::from_secs(1)),
            Ok(())
        );
        // A long pause refills to the burst, never beyond.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.check_at("alice", later), Ok(()));
        }
        assert!(limiter.check_at("alice", later).is_err());
    }

    #[test]
    fn zero_disables_and_idle_buckets_are_swept() {
        assert!(RateLimiter::new(0, 10).is_none());
        let limiter = RateLimiter::new(60, 1).expect("enabled");
        let start = Instant::now();
        for user in 0..SWEEP_AT {
            limiter
                .check_at(&format!("user-{user}"), start)
                .expect("first request");
        }
        limiter
            .check_at("late", start + Duration::from_secs(10))
            .expect("first request");
        let state = limiter.state.lock();
        assert_eq!(state.by_key.len(), 1, "the refilled buckets were forgotten");
    }
}
