//! The one error type of the crate.

use std::fmt;

/// What kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// A thread (`conversations` row).
    Thread,
    /// A thread item (`messages` row).
    Item,
    /// Attachment metadata or bytes.
    Attachment,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RecordKind::Thread => "thread",
            RecordKind::Item => "item",
            RecordKind::Attachment => "attachment",
        })
    }
}

/// Everything a [`Store`](crate::Store) or [`AttachmentStore`](crate::AttachmentStore) can fail
/// with. The variants say what a caller can act on: a server maps `NotFound` to 404,
/// `InvalidCursor` and `InvalidInput` to 400, `Conflict` and `Busy` to 409 and `Unavailable` to 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist, or belongs to another owner (the two are indistinguishable).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// The kind of record.
        what: RecordKind,
        /// The id that was asked for.
        id: String,
    },
    /// The `after` cursor does not name a record of this listing.
    #[error("cursor `{cursor}` does not name a record of this listing")]
    InvalidCursor {
        /// The cursor that was given.
        cursor: String,
    },
    /// A record with this id already exists where a new one was required.
    #[error("{what} `{id}` already exists")]
    Conflict {
        /// The kind of record.
        what: RecordKind,
        /// The id that is taken.
        id: String,
    },
    /// The request itself is malformed (a zero page size, an item of another thread...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database cannot be reached, or the pool timed out; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The record is held by someone else (another stream of the thread, on this instance or
    /// another) and did not come free within the wait allowed; retrying later may succeed. A
    /// server maps it to 409.
    #[error("{what} `{id}` is busy")]
    Busy {
        /// The kind of record.
        what: RecordKind,
        /// The id of the busy record.
        id: String,
    },
    /// The backend does not offer this optional capability (for example signed download URLs
    /// on local disk); the caller falls back to another way.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Any other failure of the backend, including stored data that no longer decodes.
    #[error("store backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Shorthand for [`StoreError::NotFound`].
    pub fn not_found(what: RecordKind, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            what,
            id: id.into(),
        }
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}
