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
    /// A widget node is not an object with a string `type`; the message says which.
    #[error("invalid widget: {0}")]
    InvalidWidget(String),
    /// A widget update names a streaming text node that the previous version did not have. The
    /// reference requires every node with an id to persist across updates.
    #[error(
        "widget node `{id}` was not present when the widget was first rendered; nodes with an id must persist across updates"
    )]
    WidgetNodeAdded {
        /// The node's id.
        id: String,
    },
    /// A streaming text node's new value does not extend its old one: widget updates must be
    /// cumulative.
    #[error(
        "widget node `{id}` got a value that does not extend its previous value; widget updates must be cumulative"
    )]
    WidgetUpdateNotCumulative {
        /// The node's id.
        id: String,
    },
    /// A widget update names a node the widget does not have.
    #[error("widget has no node with id `{id}`")]
    WidgetNodeMissing {
        /// The id looked for.
        id: String,
    },
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
