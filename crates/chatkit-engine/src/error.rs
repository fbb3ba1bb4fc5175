//! The engine's error type: what went wrong, in terms a transport can turn into a status.

use chatkit_protocol::ErrorCode;
use chatkit_store::{RecordKind, StoreError};

/// Everything the engine (and a [`crate::ChatKitServer`] implementation) can fail with.
///
/// Before a stream starts, a transport maps these to HTTP statuses with [`EngineError::status`]
/// and a JSON body with [`EngineError::code`] and the display text (never for
/// [`EngineError::Internal`] and [`EngineError::Store`] backend failures, whose text stays in the
/// log). Inside a stream they become ChatKit `error` events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The request is malformed or names something in the wrong state; the text says what.
    #[error("{0}")]
    BadRequest(String),
    /// A thread, item or attachment that does not exist or is not the caller's.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What kind of record.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// Another stream holds the thread and did not finish in time.
    #[error("thread {0} is busy with another response; try again when it finishes")]
    ThreadBusy(String),
    /// A size limit was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// The server does not implement this request (actions, transcription...).
    #[error("{0} is not supported by this server")]
    Unsupported(&'static str),
    /// A user-facing error with its own message; becomes a `custom` error event.
    #[error("{message}")]
    Custom {
        /// Message shown to the user.
        message: String,
        /// Whether the client may offer a retry.
        allow_retry: bool,
    },
    /// An error with a ChatKit error code (localized by the client).
    #[error("stream error {}", code.as_str())]
    Stream {
        /// The code.
        code: ErrorCode,
        /// Whether the client may offer a retry.
        allow_retry: bool,
    },
    /// A turn run to its end for a non-streaming caller ([`crate::Engine::chat`]) failed inside
    /// its stream; the text is what the user may be told.
    #[error("{0}")]
    TurnFailed(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A store failure that is not the caller's fault.
    #[error("store failure: {0}")]
    Store(StoreError),
    /// Anything else that is not the caller's fault (a model provider failing, a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what, id } => EngineError::NotFound {
                what: record_name(what),
                id,
            },
            StoreError::InvalidCursor { cursor } => EngineError::BadRequest(format!(
                "params.after: unknown pagination cursor `{cursor}`"
            )),
            StoreError::InvalidInput(message) => EngineError::BadRequest(message),
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    /// The HTTP status a transport should answer with, when the error happens before a stream
    /// starts.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::BadRequest(_) => 400,
            EngineError::NotFound { .. } => 404,
            EngineError::ThreadBusy(_) => 409,
            EngineError::TooLarge(_) => 413,
            EngineError::Unsupported(_) => 501,
            EngineError::Custom { .. } | EngineError::Stream { .. } => 400,
            EngineError::TurnFailed(_) => 502,
            EngineError::ShuttingDown => 503,
            EngineError::Store(StoreError::Unavailable(_)) => 503,
            EngineError::Store(_) | EngineError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::BadRequest(_) => "bad_request",
            EngineError::NotFound { .. } => "not_found",
            EngineError::ThreadBusy(_) => "thread_busy",
            EngineError::TooLarge(_) => "too_large",
            EngineError::Unsupported(_) => "not_supported",
            EngineError::Custom { .. } => "custom",
            EngineError::Stream { .. } | EngineError::TurnFailed(_) => "stream_error",
            EngineError::ShuttingDown => "shutting_down",
            EngineError::Store(StoreError::Unavailable(_)) => "unavailable",
            EngineError::Store(_) | EngineError::Internal(_) => "internal",
        }
    }

    /// True when the display text may be shown to the caller. Internal failures are logged, and
    /// the caller gets a generic message.
    pub fn is_public(&self) -> bool {
        !matches!(self, EngineError::Store(_) | EngineError::Internal(_))
    }

    /// The text to show the caller.
    pub fn public_message(&self) -> String {
        if self.is_public() {
            self.to_string()
        } else if self.status() == 503 {
            "a dependency of the server is unavailable".to_owned()
        } else {
            "internal server error".to_owned()
        }
    }
}

fn record_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Thread => "thread",
        RecordKind::Item => "item",
        RecordKind::Attachment => "attachment",
        _ => "record",
    }
}
