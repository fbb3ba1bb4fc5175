//! All configured MCP servers behind one handle: their tools, their health, their changes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::{DynTool, ToolSource};
use async_trait::async_trait;
use tokio::sync::watch;

use crate::McpError;
use crate::config::McpServerConfig;
use crate::connection::{McpServerState, McpServerStatus, ServerConnection};

/// The MCP servers an agent may use.
///
/// Servers start lazily (on the first [`McpManager::tools`] or tool call) or eagerly with
/// [`McpManager::connect_all`]. A server that fails is restarted on next use, with backoff; its
/// failure is logged and shown by [`McpManager::status`]. Cheap to clone.
#[derive(Clone)]
pub struct McpManager {
    servers: Arc<Vec<Arc<ServerConnection>>>,
    changes: watch::Sender<u64>,
    /// The background task of [`McpManager::supervise`], if started.
    supervisor: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for McpManager {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.servers.iter().map(|server| server.name()).collect();
        formatter
            .debug_struct("McpManager")
            .field("servers", &names)
            .finish()
    }
}

impl McpManager {
    /// A manager for `configs`, after validating them. Starts nothing.
    pub fn new(configs: impl IntoIterator<Item = McpServerConfig>) -> Result<Self, McpError> {
        let (changes, _) = watch::channel(0);
        let mut names = HashSet::new();
        let mut servers = Vec::new();
        for config in configs {
            config.validate()?;
            if !names.insert(config.name.clone()) {
                return Err(McpError::DuplicateServer(config.name));
            }
            servers.push(Arc::new(ServerConnection::new(config, changes.clone())));
        }
        Ok(Self {
            servers: Arc::new(servers),
            changes,
            supervisor: Arc::default(),
        })
    }

    /// Starts every server and lists its tools, so that failures show at startup rather than in
    /// the first conversation. Returns the failures; the servers that failed are retried on use.
    pub async fn connect_all(&self) -> Vec<McpError> {
        let mut failures = Vec::new();
        for server in self.servers.iter() {
            if let Err(error) = server.tools().await {
                failures.push(error);
            }
        }
        failures
    }

    /// The tools of every server, in configuration order, each server's sorted by name.
    ///
    /// Lists come from a cache that is refreshed when a server sends
    /// `notifications/tools/list_changed` or is restarted. A server that cannot be reached
    /// contributes no tools (the failure is logged and in [`McpManager::status`]); a tool whose
    /// name another server already uses is left out with a warning.
    pub async fn tools(&self) -> Vec<DynTool> {
        let mut names = HashSet::new();
        let mut tools = Vec::new();
        for server in self.servers.iter() {
            let listed = match server.tools().await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::warn!(server.name = %server.name(), error = %error, "MCP server tools unavailable");
                    continue;
                }
            };
            for tool in listed {
                let name = tool.definition().name;
                if names.insert(name.clone()) {
                    tools.push(tool);
                } else {
                    tracing::warn!(
                        server.name = %server.name(),
                        tool.name = %name,
                        "another MCP server already offers a tool of this name; set tool_prefix"
                    );
                }
            }
        }
        tools
    }

    /// The tools of the server named `server` only.
    pub async fn server_tools(&self, server: &str) -> Result<Vec<DynTool>, McpError> {
        let connection = self
            .servers
            .iter()
            .find(|connection| connection.name() == server)
            .ok_or_else(|| McpError::UnknownServer(server.to_owned()))?;
        connection.tools().await
    }

    /// Health of every server, in configuration order, for logs and readiness endpoints.
    pub fn status(&self) -> Vec<McpServerStatus> {
        self.servers.iter().map(|server| server.status()).collect()
    }

    /// True when no server is down (servers not started yet count as fine: they start on use).
    pub fn is_healthy(&self) -> bool {
        self.status()
            .iter()
            .all(|status| status.state != McpServerState::Down)
    }

    /// A receiver whose value changes whenever a server announces a new tool list, so that a
    /// caller holding tools can fetch them again with [`McpManager::tools`].
    pub fn tool_list_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Starts a background task that keeps every server connected and its tool list current:
    /// a server that was down at start-up (or crashed, or was recycled because it hung) is
    /// started again as soon as its backoff allows, and a server that announced
    /// `notifications/tools/list_changed` is listed again at once. Whenever a server's tools
    /// change this way, [`tool_list_changes`](Self::tool_list_changes) ticks, and the next
    /// [`tools`](Self::tools) (so the next agent run, see the [`ToolSource`] impl) has them.
    ///
    /// `poll_interval` bounds how long a server that died while idle goes unnoticed. The task
    /// runs until [`shutdown`](Self::shutdown); calling this again replaces it. Needs a Tokio
    /// runtime.
    pub fn supervise(&self, poll_interval: Duration) {
        let manager = self.clone();
        let mut changes = self.changes.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let mut next_check = poll_interval;
                for server in manager.servers.iter() {
                    if !server.needs_attention().await {
                        continue;
                    }
                    if let Some(remaining) = server.backoff_remaining() {
                        next_check = next_check.min(remaining);
                        continue;
                    }
                    let before = server.cached_tool_names().await;
                    match server.tools().await {
                        Ok(tools) => {
                            let after: Vec<String> =
                                tools.iter().map(|tool| tool.definition().name).collect();
                            if after != before {
                                tracing::info!(
                                    server.name = %server.name(),
                                    tool_count = after.len(),
                                    "MCP server tools are on offer"
                                );
                                manager.changes.send_modify(|changes| *changes += 1);
                            }
                        }
                        Err(error) => {
                            tracing::debug!(server.name = %server.name(), error = %error, "MCP server still unavailable");
                            if let Some(remaining) = server.backoff_remaining() {
                                next_check = next_check.min(remaining);
                            }
                        }
                    }
                }
                // The change watch also wakes us for a server's own list_changed. Waking on our
                // own tick is harmless: the next pass finds nothing to do.
                changes.mark_unchanged();
                tokio::select! {
                    () = tokio::time::sleep(next_check.max(Duration::from_millis(10))) => {}
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        if let Some(previous) = self.supervisor.lock().replace(task) {
            previous.abort();
        }
    }

    /// Stops every server (ends child processes, closes HTTP sessions).
    pub async fn shutdown(&self) {
        if let Some(task) = self.supervisor.lock().take() {
            task.abort();
        }
        for server in self.servers.iter() {
            server.shutdown().await;
        }
    }
}

/// Every run of an agent built with `Agent::with_tool_source(manager)` asks for the current
/// tools, so servers that came up later and `tools/list_changed` reach the model on the next run.
#[async_trait]
impl ToolSource for McpManager {
    async fn tools(&self) -> Vec<DynTool> {
        McpManager::tools(self).await
    }
}
