#![doc = include_str!("../README.md")]

#[cfg(feature = "test-utils")]
pub mod attachment_conformance;
mod attachments;
#[cfg(feature = "test-utils")]
pub mod conformance;
mod connection_health;
mod context;
mod error;
mod ids;
mod memory;
#[cfg(feature = "s3")]
mod object_storage;
mod rate_limit;
mod sql;
mod store;
pub mod thread_lock;

pub use attachments::{
    AttachmentByteStream, AttachmentStore, LocalDiskAttachmentStore, LocalDiskConfig,
    PresignedDownload,
};
pub use context::StoreContext;
pub use error::{RecordKind, StoreError};
pub use ids::{ID_RANDOM_CHARS, ItemIdKind, generate_id};
pub use memory::MemoryStore;
#[cfg(feature = "s3")]
pub use object_storage::{S3AttachmentStore, S3Config};
pub use rate_limit::{MemoryRateLimiter, RateLimiter};
pub use sql::{SeaOrmStore, SqlBackend, StoreConfig};
pub use store::Store;
pub use thread_lock::{
    InProcessThreadLock, PgThreadLock, PgThreadLockConfig, ThreadLock, ThreadLockGuard,
};
