//! One streaming response per thread across every server instance: the [`ThreadLock`] trait,
//! its PostgreSQL implementation and an in-process one for single-instance deployments.
//!
//! The engine keeps its in-process queue in front (the fast path for requests that meet on one
//! instance); behind it, a `ThreadLock` makes instances sharing a database take turns too. See
//! ADR 0007 for why PostgreSQL's session advisory locks were chosen over lease rows.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::{StoreContext, StoreError};

#[cfg(feature = "test-utils")]
pub mod conformance;
mod in_process;
mod postgres;

pub use in_process::InProcessThreadLock;
pub use postgres::{PgThreadLock, PgThreadLockConfig};

/// A lock per thread shared by everyone who can write the thread, so that at most one
/// streaming response runs in a thread at a time.
///
/// Contract, for every implementation (checked by `thread_lock::conformance`, feature
/// `test-utils`):
/// - **Exclusion.** While a [`ThreadLockGuard`] for `(owner, thread)` is alive, no other
///   `acquire` of the same pair succeeds, through this object or any other object of the same
///   implementation pointed at the same backend (another instance).
/// - **Waiting.** `acquire` waits up to `wait` for the holder to let go, then fails with
///   [`StoreError::Busy`]; `wait` of zero tries once. Waiters are served roughly in arrival
///   order, and a waiter whose future is dropped leaves the queue without ever holding the
///   lock.
/// - **Release.** Dropping the guard releases the lock (in the background, promptly);
///   [`ThreadLockGuard::release`] does the same and returns once it is done. When the holder's
///   process dies, the lock is released by the backend without any action of the holder.
/// - **Independence.** Different threads never wait for each other.
/// - **No ownership check.** The caller has checked that the thread is the owner's before it
///   waits, so a stranger can neither probe nor block a thread; the owner is part of the key
///   only to keep keys of different owners apart.
///
/// Failures other than a busy thread are [`StoreError::Unavailable`] (the backend cannot be
/// reached, or every lock connection is in use).
#[async_trait]
pub trait ThreadLock: Send + Sync + fmt::Debug {
    /// Waits up to `wait` for the thread's lock and holds it until the guard is dropped or
    /// released.
    async fn acquire(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
        wait: Duration,
    ) -> Result<ThreadLockGuard, StoreError>;
}

/// How an implementation lets go of a held lock; boxed inside a [`ThreadLockGuard`].
pub trait HeldThreadLock: Send + Sync {
    /// Releases the lock. Must not fail: an implementation that cannot release cleanly
    /// releases by force (closing its connection, say).
    fn release(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A held thread lock. Dropping it releases the lock in the background on the current Tokio
/// runtime; [`release`](ThreadLockGuard::release) releases it and waits until that is done.
#[must_use = "the thread lock is released as soon as the guard is dropped"]
pub struct ThreadLockGuard {
    held: Option<Box<dyn HeldThreadLock>>,
    thread_id: String,
}

impl ThreadLockGuard {
    /// A guard for an implementation's held lock.
    pub fn new(thread_id: impl Into<String>, held: Box<dyn HeldThreadLock>) -> Self {
        Self {
            held: Some(held),
            thread_id: thread_id.into(),
        }
    }

    /// The thread this guard holds.
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// Releases the lock and returns once the backend has let go of it, so that the next
    /// holder can start right away.
    pub async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl Drop for ThreadLockGuard {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(held.release());
            }
            // Without a runtime the release cannot run; dropping `held` makes each
            // implementation release by force (a PostgreSQL connection is closed, which ends
            // its session and so its locks).
            Err(_) => drop(held),
        }
    }
}

impl fmt::Debug for ThreadLockGuard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ThreadLockGuard")
            .field("thread_id", &self.thread_id)
            .field("held", &self.held.is_some())
            .finish()
    }
}

/// A 64-bit key for `(namespace, owner, thread)`: PostgreSQL's advisory locks take a `bigint`.
/// SHA-256 spreads the keys so that two threads collide with odds of about 2^-64 per pair (and
/// a collision would only make two threads take turns, never break anything).
pub(crate) fn lock_key(namespace: &str, thread_id: &str, ctx: &StoreContext) -> i64 {
    let mut hasher = Sha256::new();
    for part in [namespace, ctx.owner_id.as_str(), thread_id] {
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

pub(crate) fn busy(thread_id: &str) -> StoreError {
    StoreError::Busy {
        what: crate::RecordKind::Thread,
        id: thread_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_separate_namespaces_owners_and_threads() {
        let alice = StoreContext::new("alice");
        let bob = StoreContext::new("bob");
        let base = lock_key("chatkit", "thr_1", &alice);
        assert_eq!(base, lock_key("chatkit", "thr_1", &alice));
        assert_ne!(base, lock_key("chatkit", "thr_2", &alice));
        assert_ne!(base, lock_key("chatkit", "thr_1", &bob));
        assert_ne!(base, lock_key("other", "thr_1", &alice));
        assert_ne!(
            lock_key("ab", "c", &alice),
            lock_key("a", "bc", &alice),
            "parts are length-prefixed"
        );
    }
}
