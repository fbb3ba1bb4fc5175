//! The engine's configuration and the state every part of it shares.
//!
//! This sits apart from [`crate::Engine`] so that the streaming pipeline reads the same state
//! without importing the request dispatch: the arrows go engine → pipeline → shared, never back.

use std::sync::Arc;
use std::time::Duration;

use chatkit_store::{AttachmentStore, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::locks::ThreadLocks;
use crate::server::ChatKitServer;

/// What happens to a response whose client went away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CancelPolicy {
    /// The reference's behaviour: stop the run, keep non-empty partial assistant text, and store
    /// a hidden note that the user cancelled.
    #[default]
    StopAndSavePartial,
    /// Let the run finish and persist its answer although nobody listens, so that a reload shows
    /// the whole reply (mobile clients drop connections).
    FinishInBackground,
}

/// Engine settings. Every field has a sensible default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Page size when a listing names none (the reference's 20).
    pub default_page_size: usize,
    /// Largest page size a listing may ask for.
    pub max_page_size: usize,
    /// What a client disconnect does.
    pub cancel_policy: CancelPolicy,
    /// Events buffered between the responder and a slow client: the whole send buffer of one
    /// stream inside the engine, so a client that stops reading costs at most this many events.
    pub channel_capacity: usize,
    /// How long one event may wait for room in that buffer. A client that reads nothing for this
    /// long is treated as gone: the [`CancelPolicy`] applies as for a disconnect, instead of the
    /// response (and the thread's lock) waiting on it forever. Default: 30 seconds.
    pub send_timeout: Duration,
    /// How long a streaming request waits for another response on the same thread.
    pub thread_busy_timeout: Duration,
    /// Longest thread title accepted, in characters.
    pub max_title_chars: usize,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// MIME types accepted for attachments: exact types or prefixes ending in `/`. Empty: any.
    pub allowed_attachment_types: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_page_size: 20,
            max_page_size: 1000,
            cancel_policy: CancelPolicy::default(),
            channel_capacity: 64,
            send_timeout: Duration::from_secs(30),
            thread_busy_timeout: Duration::from_secs(30),
            max_title_chars: 1000,
            max_attachment_bytes: 20 * 1024 * 1024,
            allowed_attachment_types: vec![
                "image/".to_owned(),
                "text/".to_owned(),
                "application/pdf".to_owned(),
                "application/json".to_owned(),
            ],
        }
    }
}

/// Everything an engine and its running streams share. One per [`crate::Engine`] (its clones
/// point at the same one).
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) attachments: Option<Arc<dyn AttachmentStore>>,
    pub(crate) server: Arc<dyn ChatKitServer>,
    pub(crate) config: EngineConfig,
    pub(crate) locks: Arc<ThreadLocks>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}
