//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while indexing or retrieving.
///
/// Variants say what a caller can act on: a bad query is the caller's (or the model's) fault, a
/// timeout or an unavailable service may pass, a broken index needs a rebuild.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetrievalError {
    /// The query cannot be run (blank text, `k` out of range...).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The configuration is unusable (a bad base URL, a chunk size of zero...).
    #[error("invalid retrieval configuration: {0}")]
    Config(String),
    /// A file or folder could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The on-disk index is missing, from another version, or broken.
    #[error("search index error: {0}")]
    Index(String),
    /// The remote service did not answer in time.
    #[error("the retrieval service timed out")]
    Timeout,
    /// The remote service could not be reached.
    #[error("the retrieval service is unreachable: {0}")]
    Unreachable(String),
    /// The remote service answered with an error status.
    #[error("the retrieval service answered {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for the log (never shown to end users as is).
        body: String,
    },
    /// The remote service's answer did not have the configured shape.
    #[error("the retrieval service sent a malformed response: {0}")]
    MalformedResponse(String),
    /// The embeddings endpoint failed or answered something unusable.
    #[error("embeddings failed: {0}")]
    Embeddings(String),
}

impl RetrievalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<tantivy::TantivyError> for RetrievalError {
    fn from(error: tantivy::TantivyError) -> Self {
        Self::Index(error.to_string())
    }
}
