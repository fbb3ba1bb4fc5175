//! Per-thread locks: at most one response streams on a thread at a time.
//!
//! Policy (see adr/0003): a second streaming request on a busy thread waits in line for up to
//! [`crate::EngineConfig::thread_busy_timeout`], then fails with `thread_busy` (HTTP 409) before its
//! stream starts. Queueing keeps two browser tabs from interleaving items, and it is what makes
//! cancellation safe: the cancelled stream stores its "user cancelled" note while it still holds
//! the lock, so the note can never land after the next message (a defect of the reference).
//!
//! The in-process table is the fast path. Instances that share a database add a cross-instance
//! [`ThreadLock`] behind it (`Engine::with_thread_lock`, ADR 0007): a request first queues in its
//! own process, then takes the database's lock with what is left of its wait, so requests that
//! meet on one instance take one database lock between them, in turn.
//!
//! Locks are per owner and thread, as the cross-instance lock's keys are: a request for a thread
//! id its owner does not hold queues behind nobody's stream, so the engine can take the lock
//! before it reads the thread and read it once, under the lock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chatkit_store::{StoreContext, ThreadLock, ThreadLockGuard};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::EngineError;

/// The lock table, and the cross-instance lock behind it when there is one.
#[derive(Debug, Default)]
pub(crate) struct ThreadLocks {
    table: parking_lot::Mutex<HashMap<LockKey, Arc<AsyncMutex<()>>>>,
    cross_instance: OnceLock<Arc<dyn ThreadLock>>,
}

/// Owner id, then thread id.
type LockKey = (String, String);

/// Holds a thread's lock; releasing it removes the table entry when nobody else waits.
#[derive(Debug)]
pub(crate) struct ThreadGuard {
    /// Declared first so it drops first: the database lock is let go (in the background) before
    /// the next local waiter is woken, which then queues for it in the database.
    cross_instance: Option<ThreadLockGuard>,
    guard: Option<OwnedMutexGuard<()>>,
    key: LockKey,
    locks: Arc<ThreadLocks>,
}

impl ThreadLocks {
    /// Puts a cross-instance lock behind the table. Only the first call counts: streams already
    /// running hold locks of the first.
    pub(crate) fn set_cross_instance(&self, lock: Arc<dyn ThreadLock>) -> bool {
        self.cross_instance.set(lock).is_ok()
    }

    /// Waits for the thread's lock for at most `timeout` in all: the in-process queue first,
    /// then the cross-instance lock with the time left.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        thread_id: &str,
        sctx: &StoreContext,
        timeout: Duration,
    ) -> Result<ThreadGuard, EngineError> {
        let started = Instant::now();
        let key = (sctx.owner_id.clone(), thread_id.to_owned());
        let lock = self.table.lock().entry(key.clone()).or_default().clone();
        let mut guard = match tokio::time::timeout(timeout, lock.lock_owned()).await {
            Ok(guard) => ThreadGuard {
                cross_instance: None,
                guard: Some(guard),
                key,
                locks: Arc::clone(self),
            },
            Err(_) => {
                self.forget_if_unused(&key);
                return Err(EngineError::ThreadBusy(thread_id.to_owned()));
            }
        };
        if let Some(cross_instance) = self.cross_instance.get() {
            let left = timeout.saturating_sub(started.elapsed());
            // On failure `guard` drops and wakes the next local waiter, which tries in turn.
            let held = cross_instance.acquire(thread_id, sctx, left).await?;
            guard.cross_instance = Some(held);
        }
        Ok(guard)
    }

    /// Removes the entry when only the table holds it. Clones happen under the table's lock, so
    /// the count read here cannot race with a new waiter.
    fn forget_if_unused(&self, key: &LockKey) {
        let mut table = self.table.lock();
        if table
            .get(key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            table.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().len()
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        drop(self.cross_instance.take());
        drop(self.guard.take());
        self.locks.forget_if_unused(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> StoreContext {
        StoreContext::new("alice")
    }

    #[tokio::test]
    async fn a_second_holder_waits_then_times_out_and_the_table_empties() {
        let locks = Arc::new(ThreadLocks::default());
        let first = locks
            .acquire("thr_1", &ctx(), Duration::from_secs(1))
            .await
            .expect("free");
        let busy = locks
            .acquire("thr_1", &ctx(), Duration::from_millis(20))
            .await;
        assert!(matches!(busy, Err(EngineError::ThreadBusy(_))));
        let other = locks
            .acquire("thr_2", &ctx(), Duration::from_millis(20))
            .await
            .expect("other thread is free");
        drop(other);
        drop(first);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn owners_do_not_share_a_thread_ids_lock() {
        let locks = Arc::new(ThreadLocks::default());
        let alices = locks
            .acquire("thr_1", &ctx(), Duration::from_secs(1))
            .await
            .expect("free");
        let bobs = locks
            .acquire(
                "thr_1",
                &StoreContext::new("bob"),
                Duration::from_millis(20),
            )
            .await
            .expect("another owner's thr_1 is another lock");
        assert!(matches!(
            locks
                .acquire("thr_1", &ctx(), Duration::from_millis(20))
                .await,
            Err(EngineError::ThreadBusy(_))
        ));
        drop(bobs);
        drop(alices);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_the_holder_releases_it() {
        let locks = Arc::new(ThreadLocks::default());
        let first = locks
            .acquire("thr_1", &ctx(), Duration::from_secs(1))
            .await
            .expect("free");
        let waiter = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                locks
                    .acquire("thr_1", &ctx(), Duration::from_secs(5))
                    .await
                    .map(drop)
            })
        };
        tokio::task::yield_now().await;
        drop(first);
        waiter
            .await
            .expect("joins")
            .expect("acquired after release");
        assert_eq!(locks.len(), 0);
    }
}
