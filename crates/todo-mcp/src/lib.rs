#![doc = include_str!("../README.md")]

mod http;
mod server;
mod store;
mod widget;

use std::future::Future;

pub use http::{HttpOptions, MCP_PATH};
pub use server::{CRASH_EXIT_CODE, FaultInjection, TodoServer, TodoServerOptions};
pub use store::{StatusFilter, Task, TaskStore, TaskUpdate};
pub use widget::{
    COMPLETE_TASK_ACTION, WIDGET_COPY_TEXT_META_KEY, WIDGET_META_KEY, task_list_text,
    task_list_widget,
};

use rmcp::ServiceExt;
use tokio::net::TcpListener;

/// Everything that can go wrong while opening the database or serving MCP.
#[derive(Debug, thiserror::Error)]
pub enum TodoMcpError {
    /// The SQLite database could not be opened or queried.
    #[error("task database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The MCP session could not be started (the client never completed initialization).
    #[error("MCP session failed to start: {0}")]
    Session(String),
    /// Reading from or writing to the transport failed.
    #[error("transport failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves one MCP session over this process's stdin and stdout until the client disconnects.
pub async fn serve_stdio(store: TaskStore) -> Result<(), TodoMcpError> {
    TodoServer::new(store, TodoServerOptions::default())
        .serve_stdio()
        .await
}

/// Serves MCP over streamable HTTP at [`MCP_PATH`] on `listener` until `shutdown` completes.
pub async fn serve_http(
    listener: TcpListener,
    store: TaskStore,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TodoMcpError> {
    TodoServer::new(store, TodoServerOptions::default())
        .serve_http(listener, HttpOptions::default(), shutdown)
        .await
}

impl TodoServer {
    /// Serves one MCP session over this process's stdin and stdout until the client disconnects.
    pub async fn serve_stdio(self) -> Result<(), TodoMcpError> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|error| TodoMcpError::Session(error.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|error| TodoMcpError::Session(error.to_string()))?;
        Ok(())
    }
}
