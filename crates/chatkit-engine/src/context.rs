//! Who is asking, and what their request said about where they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use agent_runtime::{RunContext, UserInfo};
use chatkit_protocol::ThreadMetadata;
use chatkit_store::StoreContext;
use parking_lot::Mutex;
use serde_json::{Map, Value};

/// The context of one request: the authenticated user and the request's metadata.
///
/// The transport builds it from the verified credential; the engine fills `metadata` from the
/// request body. The store sees only the owner id; the agent sees the user and the metadata.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The authenticated user. Their id owns every thread, item and attachment they create.
    pub user: UserInfo,
    /// The request's `metadata` object (page context and other integration data). Untrusted.
    pub metadata: Map<String, Value>,
    /// A request id for log correlation, when the transport has one.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// A context for `user` with no metadata.
    pub fn new(user: UserInfo) -> Self {
        Self {
            user,
            metadata: Map::new(),
            request_id: None,
        }
    }

    /// The store's view of the context: the owner.
    pub fn store(&self) -> StoreContext {
        StoreContext::new(self.user.id.clone())
    }

    /// The agent runtime's view of the context, for a run on `thread_id`.
    pub fn run_context(&self, thread_id: &str) -> RunContext {
        RunContext {
            user: self.user.clone(),
            metadata: self.metadata.clone(),
            thread_id: Some(thread_id.to_owned()),
            tool_call: None,
            run_state: Default::default(),
        }
    }
}

/// The thread a response is about, shared between the engine and the responder.
///
/// A responder may change the title, status or metadata through [`ThreadHandle::update`]; the
/// engine notices (by a version counter, so the check is free on every event), saves the thread
/// and announces it with `thread.updated`, as the reference does when a responder mutates its
/// thread object. A change made with [`ThreadHandle::update_quietly`] is saved, not announced.
#[derive(Debug, Clone)]
pub struct ThreadHandle {
    inner: Arc<Mutex<ThreadMetadata>>,
    version: Arc<AtomicU64>,
    /// Whether a quiet change is not saved yet.
    unsaved: Arc<AtomicBool>,
}

impl ThreadHandle {
    /// Wraps thread metadata.
    pub fn new(thread: ThreadMetadata) -> Self {
        Self {
            inner: Arc::new(Mutex::new(thread)),
            version: Arc::new(AtomicU64::new(0)),
            unsaved: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The thread's id.
    pub fn id(&self) -> String {
        self.inner.lock().id.clone()
    }

    /// A copy of the thread as it is now.
    pub fn snapshot(&self) -> ThreadMetadata {
        self.inner.lock().clone()
    }

    /// Reads the thread without copying it.
    pub fn read<T>(&self, read: impl FnOnce(&ThreadMetadata) -> T) -> T {
        read(&self.inner.lock())
    }

    /// Changes the thread; the engine persists and announces the change.
    pub fn update(&self, change: impl FnOnce(&mut ThreadMetadata)) {
        let mut thread = self.inner.lock();
        change(&mut thread);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Changes the thread without announcing it: for integration metadata, which the reference
    /// never returns to clients, so a `thread.updated` would tell the client nothing. The engine
    /// saves the change with the next item the response stores (in the same write), or with the
    /// next announced change; a responder that needs it saved before either saves the thread
    /// itself, with [`ThreadHandle::take_unsaved`].
    pub fn update_quietly(&self, change: impl FnOnce(&mut ThreadMetadata)) {
        change(&mut self.inner.lock());
        self.unsaved.store(true, Ordering::Release);
    }

    /// The thread to save, when a quiet change is not saved yet; the change then counts as
    /// saved (the caller saves the copy).
    pub fn take_unsaved(&self) -> Option<ThreadMetadata> {
        let thread = self.inner.lock();
        self.unsaved
            .swap(false, Ordering::AcqRel)
            .then(|| thread.clone())
    }

    /// A copy of the thread to save whole: any quiet change counts as saved with it.
    pub fn snapshot_to_save(&self) -> ThreadMetadata {
        let thread = self.inner.lock();
        self.unsaved.store(false, Ordering::Release);
        thread.clone()
    }

    /// How many times the thread was changed.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}
