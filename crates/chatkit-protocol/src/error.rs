//! The protocol crate's error type.

/// What can go wrong turning bytes into protocol values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body is not valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The JSON does not describe a valid request; the message names the field.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ProtocolError {
    pub(crate) fn from_path_error(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ProtocolError::MalformedJson(inner.to_string());
        }
        if path.is_empty() || path == "." {
            ProtocolError::InvalidRequest(inner.to_string())
        } else {
            ProtocolError::InvalidRequest(format!("{path}: {inner}"))
        }
    }
}
