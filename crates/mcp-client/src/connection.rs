//! One MCP server: its session, restarts with backoff, health, and the cached tool list.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use agent_runtime::DynTool;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceError, ServiceExt};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStderr;
use tokio::sync::watch;

use crate::McpError;
use crate::config::{
    HttpTransportConfig, McpServerConfig, McpTransportConfig, StdioTransportConfig,
};
use crate::schema::{exposed_tool_name, model_schema};
use crate::tool::McpTool;

/// Whether a server can be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum McpServerState {
    /// Never started yet (servers start on first use or on [`crate::McpManager::connect_all`]).
    NotStarted,
    /// Connected and answering.
    Ready,
    /// The last start failed or the connection broke; it is restarted on next use, after the
    /// backoff of its [`crate::RestartPolicy`].
    Down,
}

/// Health of one server, for logs and readiness endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct McpServerStatus {
    /// The server's configured name.
    pub name: String,
    /// Whether it can be used right now.
    pub state: McpServerState,
    /// Failures (start failures, crashes, broken connections) since the last success.
    pub consecutive_failures: u32,
    /// How many times the server was started again after its first start.
    pub restarts: u64,
    /// The most recent failure, when there was one.
    pub last_error: Option<String>,
    /// Tools offered to the model from the last listing, when there was one.
    pub tool_count: Option<usize>,
    /// Calls or listings in a row that timed out on the current connection; at
    /// [`McpServerConfig::max_consecutive_timeouts`] the connection is recycled.
    pub consecutive_timeouts: u32,
    /// How many times the connection was recycled because the server hung (a subset of the
    /// failures that led to [`restarts`](Self::restarts)).
    pub hung_recycles: u64,
}

/// Mutable health data, behind a std mutex because [`ServerConnection::status`] is synchronous.
#[derive(Debug, Default)]
struct Health {
    /// Number of successful starts; also the id ("epoch") of the current session.
    starts: u64,
    consecutive_failures: u32,
    last_failure_at: Option<Instant>,
    last_error: Option<String>,
    tool_count: Option<usize>,
    consecutive_timeouts: u32,
    hung_recycles: u64,
    /// The current session's peer, to see a closed connection without taking the session lock.
    peer: Option<Peer<RoleClient>>,
}

struct Session {
    service: RunningService<RoleClient, NotificationHandler>,
    epoch: u64,
}

struct ToolCache {
    epoch: u64,
    generation: u64,
    tools: Vec<DynTool>,
}

/// Receives server notifications; marks the tool list stale on `notifications/tools/list_changed`.
#[derive(Clone)]
struct NotificationHandler {
    server: Arc<str>,
    generation: Arc<AtomicU64>,
    changes: watch::Sender<u64>,
}

impl ClientHandler for NotificationHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("chatkit-rs-mcp-client", env!("CARGO_PKG_VERSION")),
        )
    }

    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changes.send_modify(|changes| *changes += 1);
        tracing::info!(server.name = %self.server, "MCP server tool list changed");
        std::future::ready(())
    }
}

/// One configured server. Shared by the manager and by every tool it produced.
pub(crate) struct ServerConnection {
    config: McpServerConfig,
    /// Serializes starts: concurrent callers wait for one start instead of spawning several.
    session: tokio::sync::Mutex<Option<Session>>,
    tool_cache: tokio::sync::Mutex<Option<ToolCache>>,
    health: Mutex<Health>,
    /// Bumped by every `tools/list_changed`; a cache from an older generation is stale.
    list_generation: Arc<AtomicU64>,
    changes: watch::Sender<u64>,
}

impl ServerConnection {
    pub(crate) fn new(config: McpServerConfig, changes: watch::Sender<u64>) -> Self {
        Self {
            config,
            session: tokio::sync::Mutex::new(None),
            tool_cache: tokio::sync::Mutex::new(None),
            health: Mutex::new(Health::default()),
            list_generation: Arc::new(AtomicU64::new(0)),
            changes,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        // A panic while holding this lock cannot leave the counters inconsistent; keep going.
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn status(&self) -> McpServerStatus {
        let health = self.health();
        let connection_closed = health.peer.as_ref().is_some_and(Peer::is_transport_closed);
        let state = if health.starts == 0 && health.consecutive_failures == 0 {
            McpServerState::NotStarted
        } else if health.peer.is_some() && !connection_closed {
            McpServerState::Ready
        } else {
            McpServerState::Down
        };
        let last_error = if connection_closed && health.last_error.is_none() {
            Some("the connection closed".to_owned())
        } else {
            health.last_error.clone()
        };
        McpServerStatus {
            name: self.config.name.clone(),
            state,
            consecutive_failures: health.consecutive_failures,
            restarts: health.starts.saturating_sub(1),
            last_error,
            tool_count: health.tool_count,
            consecutive_timeouts: health.consecutive_timeouts,
            hung_recycles: health.hung_recycles,
        }
    }

    fn record_failure(&self, error: &McpError) {
        let mut health = self.health();
        health.consecutive_failures = health.consecutive_failures.saturating_add(1);
        health.last_failure_at = Some(Instant::now());
        health.last_error = Some(error.to_string());
        health.peer = None;
        let retry_in = self.config.restart.delay_after(health.consecutive_failures);
        tracing::warn!(
            server.name = %self.config.name,
            error = %error,
            consecutive_failures = health.consecutive_failures,
            retry_in_ms = retry_in.as_millis() as u64,
            "MCP server failed; it will be restarted on next use"
        );
    }

    fn record_success(&self) {
        let mut health = self.health();
        if health.consecutive_failures > 0 {
            tracing::info!(server.name = %self.config.name, "MCP server recovered");
        }
        health.consecutive_failures = 0;
        health.consecutive_timeouts = 0;
        health.last_error = None;
    }

    /// Counts a timeout of session `epoch`; at the configured limit the server is taken for hung
    /// and its connection recycled, so the next use starts a fresh process (after the same
    /// backoff as a crash) instead of queueing behind a server that no longer answers.
    async fn record_timeout(&self, epoch: u64, timeout: Duration) -> McpError {
        let timeouts = {
            let mut health = self.health();
            health.consecutive_timeouts = health.consecutive_timeouts.saturating_add(1);
            health.consecutive_timeouts
        };
        if timeouts >= self.config.max_consecutive_timeouts {
            let hung = McpError::Hung {
                server: self.config.name.clone(),
                timeouts,
            };
            if self.discard_session(epoch, &hung).await {
                let mut health = self.health();
                health.hung_recycles += 1;
                health.consecutive_timeouts = 0;
            }
        }
        McpError::Timeout {
            server: self.config.name.clone(),
            timeout,
        }
    }

    /// Whether the background supervisor should (re)connect or relist this server: it is not
    /// connected, or it announced a new tool list since the last listing.
    pub(crate) async fn needs_attention(&self) -> bool {
        if self.status().state != McpServerState::Ready {
            return true;
        }
        let generation = self.list_generation.load(Ordering::SeqCst);
        self.tool_cache
            .lock()
            .await
            .as_ref()
            .is_none_or(|cached| cached.generation != generation)
    }

    /// The names of the tools from the last listing, to tell whether a relisting changed them.
    pub(crate) async fn cached_tool_names(&self) -> Vec<String> {
        self.tool_cache
            .lock()
            .await
            .as_ref()
            .map(|cached| {
                cached
                    .tools
                    .iter()
                    .map(|tool| tool.definition().name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How long until a restart may be attempted, or `None` when it may be attempted now.
    pub(crate) fn backoff_remaining(&self) -> Option<Duration> {
        let health = self.health();
        let failed_at = health.last_failure_at?;
        let delay = self.config.restart.delay_after(health.consecutive_failures);
        delay
            .checked_sub(failed_at.elapsed())
            .filter(|remaining| !remaining.is_zero())
    }

    /// The current session's peer and epoch, starting (or restarting) the server when needed.
    async fn peer(&self) -> Result<(Peer<RoleClient>, u64), McpError> {
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref() {
            if !current.service.peer().is_transport_closed() {
                return Ok((current.service.peer().clone(), current.epoch));
            }
            // It died while idle (process exited, HTTP session gone).
            *session = None;
            self.record_failure(&McpError::Transport {
                server: self.config.name.clone(),
                reason: "the connection closed".into(),
            });
        }
        if let Some(retry_in) = self.backoff_remaining() {
            return Err(McpError::Unavailable {
                server: self.config.name.clone(),
                retry_in,
            });
        }
        let started = Instant::now();
        let connected = tokio::time::timeout(self.config.connect_timeout, self.start()).await;
        let service = match connected {
            Ok(Ok(service)) => service,
            Ok(Err(error)) => {
                self.record_failure(&error);
                return Err(error);
            }
            Err(_) => {
                let error = McpError::Timeout {
                    server: self.config.name.clone(),
                    timeout: self.config.connect_timeout,
                };
                self.record_failure(&error);
                return Err(error);
            }
        };
        let peer = service.peer().clone();
        let epoch = {
            let mut health = self.health();
            health.starts += 1;
            health.peer = Some(peer.clone());
            health.starts
        };
        tracing::info!(
            server.name = %self.config.name,
            restart = epoch > 1,
            duration_ms = started.elapsed().as_millis() as u64,
            "MCP server connected"
        );
        *session = Some(Session { service, epoch });
        Ok((peer, epoch))
    }

    /// Drops the session `epoch` after its connection broke or hung, unless a newer one
    /// replaced it; returns whether it did. Dropping the session stops a child process.
    async fn discard_session(&self, epoch: u64, error: &McpError) -> bool {
        let taken = {
            let mut session = self.session.lock().await;
            if session
                .as_ref()
                .is_some_and(|current| current.epoch == epoch)
            {
                self.record_failure(error);
                session.take()
            } else {
                None
            }
        };
        match taken {
            Some(session) => {
                // Cancel rather than close politely: a hung server would not answer a goodbye.
                // Dropping the transport kills a child process.
                let _ = session.service.cancel().await;
                true
            }
            None => false,
        }
    }

    async fn start(&self) -> Result<RunningService<RoleClient, NotificationHandler>, McpError> {
        let handler = NotificationHandler {
            server: Arc::from(self.config.name.as_str()),
            generation: Arc::clone(&self.list_generation),
            changes: self.changes.clone(),
        };
        let connect_error = |reason: String| McpError::Connect {
            server: self.config.name.clone(),
            reason,
        };
        match &self.config.transport {
            McpTransportConfig::Stdio(stdio) => {
                let transport = self.spawn(stdio)?;
                handler
                    .serve(transport)
                    .await
                    .map_err(|error| connect_error(error.to_string()))
            }
            McpTransportConfig::Http(http) => {
                let transport = StreamableHttpClientTransport::from_config(self.http_config(http)?);
                handler
                    .serve(transport)
                    .await
                    .map_err(|error| connect_error(error.to_string()))
            }
        }
    }

    fn spawn(&self, stdio: &StdioTransportConfig) -> Result<TokioChildProcess, McpError> {
        let mut command = tokio::process::Command::new(&stdio.command);
        command
            .args(&stdio.args)
            .envs(stdio.env.iter().map(|(name, value)| (name, value.expose())));
        if let Some(cwd) = &stdio.cwd {
            command.current_dir(cwd);
        }
        let (transport, stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| McpError::Spawn {
                server: self.config.name.clone(),
                source,
            })?;
        if let Some(stderr) = stderr {
            tokio::spawn(forward_stderr(Arc::from(self.config.name.as_str()), stderr));
        }
        Ok(transport)
    }

    fn http_config(
        &self,
        http: &HttpTransportConfig,
    ) -> Result<StreamableHttpClientTransportConfig, McpError> {
        let invalid = |reason: String| McpError::InvalidConfig {
            server: self.config.name.clone(),
            reason,
        };
        let mut headers = HashMap::new();
        for (name, value) in &http.headers {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
            let mut value = http::HeaderValue::try_from(value.expose())
                .map_err(|_| invalid(format!("invalid value for header {name:?}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut config = StreamableHttpClientTransportConfig::with_uri(http.url.as_str())
            .custom_headers(headers);
        if let Some(token) = &http.bearer_token {
            config = config.auth_header(token.expose());
        }
        Ok(config)
    }

    /// Calls the server-side tool `name`, within the configured call timeout.
    pub(crate) async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, McpError> {
        let (peer, epoch) = self.peer().await?;
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        // Dropping the request on timeout sends `notifications/cancelled` to the server.
        match tokio::time::timeout(self.config.call_timeout, peer.call_tool(params)).await {
            Err(_) => Err(self.record_timeout(epoch, self.config.call_timeout).await),
            Ok(Ok(result)) => {
                self.record_success();
                Ok(result)
            }
            Ok(Err(error)) => Err(self.service_error(error, epoch).await),
        }
    }

    /// Turns an rmcp error into ours, dropping the session when the connection broke.
    async fn service_error(&self, error: ServiceError, epoch: u64) -> McpError {
        let server = self.config.name.clone();
        match error {
            ServiceError::McpError(data) => {
                // The server answered, so it is alive.
                self.record_success();
                McpError::Server {
                    server,
                    code: data.code.0,
                    message: data.message.into_owned(),
                }
            }
            ServiceError::Timeout { timeout } => McpError::Timeout { server, timeout },
            ServiceError::UnexpectedResponse => McpError::Protocol {
                server,
                reason: "the response does not match the request".into(),
            },
            other => {
                let error = McpError::Transport {
                    server,
                    reason: other.to_string(),
                };
                self.discard_session(epoch, &error).await;
                error
            }
        }
    }

    /// The server's tools as agent tools, from the cache unless the server announced a change,
    /// was restarted, or never listed them.
    pub(crate) async fn tools(self: &Arc<Self>) -> Result<Vec<DynTool>, McpError> {
        let mut cache = self.tool_cache.lock().await;
        let (peer, epoch) = match self.peer().await {
            Ok(current) => current,
            // Keep offering the last known tools while the server is down: calling one restarts
            // the server (after the backoff), and the failure is in the status meanwhile.
            Err(error) => match cache.as_ref() {
                Some(cached) => {
                    tracing::warn!(
                        server.name = %self.config.name,
                        error = %error,
                        "MCP server unavailable; offering its last known tools"
                    );
                    return Ok(cached.tools.clone());
                }
                None => return Err(error),
            },
        };
        let generation = self.list_generation.load(Ordering::SeqCst);
        if let Some(cached) = cache.as_ref()
            && cached.epoch == epoch
            && cached.generation == generation
        {
            return Ok(cached.tools.clone());
        }
        let listed =
            match tokio::time::timeout(self.config.connect_timeout, peer.list_all_tools()).await {
                Err(_) => {
                    return Err(self
                        .record_timeout(epoch, self.config.connect_timeout)
                        .await);
                }
                Ok(Err(error)) => return Err(self.service_error(error, epoch).await),
                Ok(Ok(listed)) => listed,
            };
        self.record_success();
        let tools = self.build_tools(listed);
        self.health().tool_count = Some(tools.len());
        tracing::debug!(
            server.name = %self.config.name,
            tool_count = tools.len(),
            "MCP tool list refreshed"
        );
        *cache = Some(ToolCache {
            epoch,
            generation,
            tools: tools.clone(),
        });
        Ok(tools)
    }

    fn build_tools(self: &Arc<Self>, listed: Vec<rmcp::model::Tool>) -> Vec<DynTool> {
        let mut by_name: BTreeMap<String, DynTool> = BTreeMap::new();
        for tool in listed {
            if !self.config.is_tool_allowed(&tool.name) {
                continue;
            }
            let exposed = exposed_tool_name(self.config.tool_prefix.as_deref(), &tool.name);
            if by_name.contains_key(&exposed) {
                tracing::warn!(
                    server.name = %self.config.name,
                    tool.name = %exposed,
                    "two MCP tools map to the same name; keeping the first"
                );
                continue;
            }
            let schema = model_schema(&tool.input_schema, &self.config.user_id_arguments);
            let description = tool
                .description
                .as_deref()
                .map(str::to_owned)
                .or_else(|| tool.title.clone())
                .unwrap_or_else(|| {
                    format!("The {} tool of the {} server.", tool.name, self.config.name)
                });
            let mcp_tool = McpTool::new(
                Arc::clone(self),
                tool.name.into_owned(),
                exposed.clone(),
                description,
                schema,
            );
            by_name.insert(exposed, Arc::new(mcp_tool));
        }
        by_name.into_values().collect()
    }

    /// Ends the session (stops a child process).
    pub(crate) async fn shutdown(&self) {
        let taken = self.session.lock().await.take();
        if let Some(mut session) = taken {
            let _ = session
                .service
                .close_with_timeout(Duration::from_secs(5))
                .await;
        }
        self.health().peer = None;
    }
}

/// Forwards a child's stderr to the log, line by line, until it closes.
async fn forward_stderr(server: Arc<str>, stderr: ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(server.name = %server, "{line}");
    }
}
