//! Per-thread locks: at most one response streams on a thread at a time.
//!
//! Policy (see adr/0003): a second streaming request on a busy thread waits in line for up to
//! [`crate::EngineConfig::thread_busy_timeout`], then fails with `thread_busy` (HTTP 409) before its
//! stream starts. Queueing keeps two browser tabs from interleaving items, and it is what makes
//! cancellation safe: the cancelled stream stores its "user cancelled" note while it still holds
//! the lock, so the note can never land after the next message (a defect of the reference).
//! The locks are per process; instances behind a load balancer rely on sticky routing per thread
//! or on the store's ordering guarantees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::EngineError;

/// The lock table.
#[derive(Debug, Default)]
pub(crate) struct ThreadLocks {
    table: parking_lot::Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Holds a thread's lock; releasing it removes the table entry when nobody else waits.
#[derive(Debug)]
pub(crate) struct ThreadGuard {
    guard: Option<OwnedMutexGuard<()>>,
    thread_id: String,
    locks: Arc<ThreadLocks>,
}

impl ThreadLocks {
    /// Waits for the thread's lock for at most `timeout`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        thread_id: &str,
        timeout: Duration,
    ) -> Result<ThreadGuard, EngineError> {
        let lock = self
            .table
            .lock()
            .entry(thread_id.to_owned())
            .or_default()
            .clone();
        match tokio::time::timeout(timeout, lock.lock_owned()).await {
            Ok(guard) => Ok(ThreadGuard {
                guard: Some(guard),
                thread_id: thread_id.to_owned(),
                locks: Arc::clone(self),
            }),
            Err(_) => {
                self.forget_if_unused(thread_id);
                Err(EngineError::ThreadBusy(thread_id.to_owned()))
            }
        }
    }

    /// Removes the entry when only the table holds it. Clones happen under the table's lock, so
    /// the count read here cannot race with a new waiter.
    fn forget_if_unused(&self, thread_id: &str) {
        let mut table = self.table.lock();
        if table
            .get(thread_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            table.remove(thread_id);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().len()
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.locks.forget_if_unused(&self.thread_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_then_times_out_and_the_table_empties() {
        let locks = Arc::new(ThreadLocks::default());
        let first = locks
            .acquire("thr_1", Duration::from_secs(1))
            .await
            .expect("free");
        let busy = locks.acquire("thr_1", Duration::from_millis(20)).await;
        assert!(matches!(busy, Err(EngineError::ThreadBusy(_))));
        let other = locks
            .acquire("thr_2", Duration::from_millis(20))
            .await
            .expect("other thread is free");
        drop(other);
        drop(first);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_the_holder_releases_it() {
        let locks = Arc::new(ThreadLocks::default());
        let first = locks
            .acquire("thr_1", Duration::from_secs(1))
            .await
            .expect("free");
        let waiter = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                locks
                    .acquire("thr_1", Duration::from_secs(5))
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
