//! Who is asking, and what their request said about where they are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
/// thread object.
#[derive(Debug, Clone)]
pub struct ThreadHandle {
    inner: Arc<Mutex<ThreadMetadata>>,
    version: Arc<AtomicU64>,
}

impl ThreadHandle {
    /// Wraps thread metadata.
    pub fn new(thread: ThreadMetadata) -> Self {
        Self {
            inner: Arc::new(Mutex::new(thread)),
            version: Arc::new(AtomicU64::new(0)),
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

    /// Changes the thread; the engine persists and announces the change.
    pub fn update(&self, change: impl FnOnce(&mut ThreadMetadata)) {
        let mut thread = self.inner.lock();
        change(&mut thread);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Changes the thread without announcing it: for integration metadata, which the reference
    /// never returns to clients, so a `thread.updated` would tell the client nothing. The engine
    /// does not save such a change by itself; the caller saves the thread (any later announced
    /// change saves it too, since it saves the whole thread).
    pub fn update_quietly(&self, change: impl FnOnce(&mut ThreadMetadata)) {
        change(&mut self.inner.lock());
    }

    /// How many times the thread was changed.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}
