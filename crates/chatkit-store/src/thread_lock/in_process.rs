//! The thread lock of a single instance (SQLite, memory): a fair async mutex per thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{HeldThreadLock, ThreadLock, ThreadLockGuard, busy, lock_key};
use crate::{StoreContext, StoreError};

type Registry = Arc<StdMutex<HashMap<i64, Weak<Mutex<()>>>>>;

/// A [`ThreadLock`] that holds inside this process only: right for SQLite and the memory store,
/// whose data is not shared with another instance anyway. Clones share their locks.
///
/// Waiters are served in arrival order (Tokio's mutex is fair). An entry lives only while
/// someone holds or waits for the thread, so the table does not grow with the number of
/// threads ever streamed.
#[derive(Debug, Clone, Default)]
pub struct InProcessThreadLock {
    registry: Registry,
}

impl InProcessThreadLock {
    /// A lock table of its own.
    pub fn new() -> Self {
        Self::default()
    }

    fn mutex_for(&self, key: i64) -> Arc<Mutex<()>> {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mutex) = registry.get(&key).and_then(Weak::upgrade) {
            return mutex;
        }
        let mutex = Arc::new(Mutex::new(()));
        registry.insert(key, Arc::downgrade(&mutex));
        mutex
    }
}

/// A held (or, after a failed wait, merely wanted) entry of the table.
struct InProcessHeld {
    guard: Option<OwnedMutexGuard<()>>,
    mutex: Arc<Mutex<()>>,
    key: i64,
    registry: Registry,
    let_go: bool,
}

impl InProcessHeld {
    fn let_go(&mut self) {
        if std::mem::replace(&mut self.let_go, true) {
            return;
        }
        drop(self.guard.take());
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Waiters hold clones of the `Arc`, so a count of one (ours) means nobody else wants
        // this thread; new acquirers upgrade under the same registry lock, so this cannot race.
        // The entry is removed only if it is still ours, never a successor's.
        let ours = registry
            .get(&self.key)
            .is_some_and(|entry| entry.as_ptr() == Arc::as_ptr(&self.mutex));
        if ours && Arc::strong_count(&self.mutex) == 1 {
            registry.remove(&self.key);
        }
    }
}

impl Drop for InProcessHeld {
    fn drop(&mut self) {
        self.let_go();
    }
}

impl HeldThreadLock for InProcessHeld {
    fn release(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        self.let_go();
        Box::pin(async {})
    }
}

#[async_trait]
impl ThreadLock for InProcessThreadLock {
    async fn acquire(
        &self,
        thread_id: &str,
        ctx: &StoreContext,
        wait: Duration,
    ) -> Result<ThreadLockGuard, StoreError> {
        let key = lock_key("", thread_id, ctx);
        let mutex = self.mutex_for(key);
        let guard = if wait.is_zero() {
            mutex.clone().try_lock_owned().ok()
        } else {
            tokio::time::timeout(wait, mutex.clone().lock_owned())
                .await
                .ok()
        };
        let held = InProcessHeld {
            guard,
            mutex,
            key,
            registry: self.registry.clone(),
            let_go: false,
        };
        if held.guard.is_none() {
            // Dropping `held` prunes the registry entry if nobody else wants it.
            return Err(busy(thread_id));
        }
        Ok(ThreadLockGuard::new(thread_id, Box::new(held)))
    }
}
