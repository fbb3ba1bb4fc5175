//! The crate's error type.

use std::time::Duration;

use agent_runtime::ToolError;

/// What can go wrong talking to an MCP server. Every variant names the server (by its configured
/// name, never by URL or command line, which may carry secrets).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The configuration is unusable; fix it and restart.
    #[error("MCP server {server:?}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The server's configured name.
        server: String,
        /// What is wrong.
        reason: String,
    },
    /// Two servers share one name.
    #[error("MCP server name {0:?} is configured twice")]
    DuplicateServer(String),
    /// No server of that name is configured.
    #[error("no MCP server named {0:?}")]
    UnknownServer(String),
    /// The server process could not be started.
    #[error("MCP server {server:?}: could not start the process: {source}")]
    Spawn {
        /// The server's configured name.
        server: String,
        /// Why spawning failed.
        #[source]
        source: std::io::Error,
    },
    /// The server was started but the MCP handshake failed.
    #[error("MCP server {server:?}: connection failed: {reason}")]
    Connect {
        /// The server's configured name.
        server: String,
        /// Why the handshake failed.
        reason: String,
    },
    /// The server failed recently and is waiting out its restart backoff.
    #[error("MCP server {server:?} is unavailable; next restart attempt in {retry_in:?}")]
    Unavailable {
        /// The server's configured name.
        server: String,
        /// How long until the next attempt.
        retry_in: Duration,
    },
    /// The call (or listing) did not finish within the configured timeout.
    #[error("MCP server {server:?} did not answer within {timeout:?}")]
    Timeout {
        /// The server's configured name.
        server: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// Several calls in a row timed out, so the server is taken for hung: its connection was
    /// recycled and it is restarted on next use (after the backoff), as after a crash.
    #[error(
        "MCP server {server:?} timed out {timeouts} times in a row; its connection was recycled"
    )]
    Hung {
        /// The server's configured name.
        server: String,
        /// How many consecutive timeouts it took.
        timeouts: u32,
    },
    /// The connection broke (process exited, HTTP errors); the server is restarted on next use.
    #[error("MCP server {server:?}: connection lost: {reason}")]
    Transport {
        /// The server's configured name.
        server: String,
        /// What the transport reported.
        reason: String,
    },
    /// The server answered with a JSON-RPC error (unknown tool, invalid params...).
    #[error("MCP server {server:?} returned an error: {message}")]
    Server {
        /// The server's configured name.
        server: String,
        /// JSON-RPC error code.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("MCP server {server:?}: unexpected response: {reason}")]
    Protocol {
        /// The server's configured name.
        server: String,
        /// What was unexpected.
        reason: String,
    },
}

impl From<McpError> for ToolError {
    fn from(error: McpError) -> Self {
        match error {
            McpError::Timeout { .. } => ToolError::Timeout,
            other => ToolError::Backend(other.to_string()),
        }
    }
}
