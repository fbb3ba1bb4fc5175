//! Typed configuration of the MCP servers an agent may use, loadable from TOML or JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use crate::McpError;

/// A string that must not appear in logs or `Debug` output (tokens, API keys), overwritten with
/// zeros when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// One MCP server: how to reach it and which of its tools the model may use, and how.
///
/// In TOML:
///
/// ```toml
/// name = "todo"
/// tool_prefix = "todo_"
/// user_id_arguments = ["user_id"]
/// deny_tools = ["delete_task"]
/// call_timeout_ms = 10000
///
/// [transport]
/// type = "stdio"
/// command = "todo-mcp-server"
/// args = ["--stdio", "--db", "tasks.db"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Name of the server in logs, errors and the status API; unique within one manager.
    pub name: String,
    /// How to reach the server.
    pub transport: McpTransportConfig,
    /// Prepended to every tool name the model sees (e.g. `todo_`), to keep the tools of several
    /// servers apart. The server is still called with its own names.
    #[serde(default)]
    pub tool_prefix: Option<String>,
    /// When set, only these tools (server-side names) are offered to the model.
    #[serde(default)]
    pub allow_tools: Option<Vec<String>>,
    /// Tools (server-side names) never offered to the model, even when allowed.
    #[serde(default)]
    pub deny_tools: Vec<String>,
    /// Argument names that carry the acting user's id. They are removed from the schemas the
    /// model sees and always filled from the authenticated user at call time, overriding any
    /// value the model sends.
    #[serde(default)]
    pub user_id_arguments: Vec<String>,
    /// How long one tool call may take before it fails with a timeout.
    #[serde(
        default = "default_call_timeout",
        rename = "call_timeout_ms",
        deserialize_with = "millis"
    )]
    pub call_timeout: Duration,
    /// How long starting the server and the MCP handshake (or one tool listing) may take.
    #[serde(
        default = "default_connect_timeout",
        rename = "connect_timeout_ms",
        deserialize_with = "millis"
    )]
    pub connect_timeout: Duration,
    /// How quickly a failed server is restarted.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// After this many calls or listings in a row time out, the server is taken for hung: its
    /// connection is recycled (the process is stopped) and it is restarted like a crashed one,
    /// with the same backoff. A single slow call is not enough, hence the default of 3.
    #[serde(default = "default_max_consecutive_timeouts")]
    pub max_consecutive_timeouts: u32,
}

/// How to reach an MCP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum McpTransportConfig {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio(StdioTransportConfig),
    /// A server speaking MCP's streamable HTTP transport.
    Http(HttpTransportConfig),
}

/// A child process speaking MCP on its stdin and stdout. Its stderr goes to the `debug` log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdioTransportConfig {
    /// The program to run (a path, or a name looked up in `PATH`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables added to the inherited environment.
    #[serde(default)]
    pub env: BTreeMap<String, SecretString>,
    /// Working directory; the current one when absent.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

/// A server speaking MCP's streamable HTTP transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTransportConfig {
    /// The MCP endpoint, e.g. `http://127.0.0.1:8765/mcp`. `https://` needs the crate's `https`
    /// feature.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` with every request.
    #[serde(default)]
    pub bearer_token: Option<SecretString>,
    /// Extra headers sent with every request (values are treated as secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
}

/// Backoff between restarts of a failing server.
///
/// The first restart after a failure happens on the next use, immediately; each further
/// consecutive failure doubles the wait, starting at `initial_backoff` and capped at
/// `max_backoff`. A successful call or tool listing resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Wait after the second consecutive failure.
    #[serde(
        default = "default_initial_backoff",
        rename = "initial_backoff_ms",
        deserialize_with = "millis"
    )]
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    #[serde(
        default = "default_max_backoff",
        rename = "max_backoff_ms",
        deserialize_with = "millis"
    )]
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl RestartPolicy {
    /// How long to wait before the next attempt after `consecutive_failures` failures in a row.
    pub fn delay_after(&self, consecutive_failures: u32) -> Duration {
        match consecutive_failures {
            0 | 1 => Duration::ZERO,
            failures => {
                let doublings = (failures - 2).min(31);
                self.initial_backoff
                    .saturating_mul(1u32 << doublings)
                    .min(self.max_backoff)
            }
        }
    }
}

fn default_call_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_consecutive_timeouts() -> u32 {
    3
}

fn default_initial_backoff() -> Duration {
    Duration::from_millis(500)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

impl McpServerConfig {
    /// A server run as a child process, with default options.
    pub fn stdio(
        name: impl Into<String>,
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::with_transport(
            name,
            McpTransportConfig::Stdio(StdioTransportConfig {
                command: command.into(),
                args: args.into_iter().map(Into::into).collect(),
                ..StdioTransportConfig::default()
            }),
        )
    }

    /// A server reached over streamable HTTP at `url`, with default options.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::with_transport(
            name,
            McpTransportConfig::Http(HttpTransportConfig {
                url: url.into(),
                bearer_token: None,
                headers: BTreeMap::new(),
            }),
        )
    }

    /// A server reached through `transport`, with default options.
    pub fn with_transport(name: impl Into<String>, transport: McpTransportConfig) -> Self {
        Self {
            name: name.into(),
            transport,
            tool_prefix: None,
            allow_tools: None,
            deny_tools: Vec::new(),
            user_id_arguments: Vec::new(),
            call_timeout: default_call_timeout(),
            connect_timeout: default_connect_timeout(),
            restart: RestartPolicy::default(),
            max_consecutive_timeouts: default_max_consecutive_timeouts(),
        }
    }

    /// Sets the argument names filled from the authenticated user's id.
    pub fn user_id_arguments(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.user_id_arguments = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the prefix of the tool names the model sees.
    pub fn tool_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tool_prefix = Some(prefix.into());
        self
    }

    /// Sets the per-call timeout.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets how many timeouts in a row recycle the connection.
    pub fn max_consecutive_timeouts(mut self, timeouts: u32) -> Self {
        self.max_consecutive_timeouts = timeouts;
        self
    }

    /// Sets the restart backoff.
    pub fn restart(mut self, restart: RestartPolicy) -> Self {
        self.restart = restart;
        self
    }

    /// Whether the model may see the server-side tool `name`.
    pub fn is_tool_allowed(&self, name: &str) -> bool {
        let allowed = self
            .allow_tools
            .as_ref()
            .is_none_or(|allow| allow.iter().any(|allowed| allowed == name));
        allowed && !self.deny_tools.iter().any(|denied| denied == name)
    }

    /// Checks what can be checked without starting the server.
    pub fn validate(&self) -> Result<(), McpError> {
        let invalid = |reason: String| McpError::InvalidConfig {
            server: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("the server name is empty".into()));
        }
        if let Some(prefix) = &self.tool_prefix
            && !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "tool_prefix may only contain ASCII letters, digits, '_' and '-'".into(),
            ));
        }
        if self.user_id_arguments.iter().any(|name| name.is_empty()) {
            return Err(invalid("user_id_arguments contains an empty name".into()));
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(invalid("timeouts must be greater than zero".into()));
        }
        if self.max_consecutive_timeouts == 0 {
            return Err(invalid(
                "max_consecutive_timeouts must be at least 1".into(),
            ));
        }
        match &self.transport {
            McpTransportConfig::Stdio(stdio) if stdio.command.trim().is_empty() => {
                Err(invalid("the stdio command is empty".into()))
            }
            McpTransportConfig::Stdio(_) => Ok(()),
            McpTransportConfig::Http(http) => {
                if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
                    return Err(invalid(
                        "the url must start with http:// or https://".into(),
                    ));
                }
                for (name, value) in &http.headers {
                    http::HeaderName::try_from(name.as_str())
                        .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
                    http::HeaderValue::try_from(value.expose())
                        .map_err(|_| invalid(format!("invalid value for header {name:?}")))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_from_toml_with_defaults_and_redacts_secrets() {
        let config: McpServerConfig = toml::from_str(
            r#"
            name = "todo"
            tool_prefix = "todo_"
            user_id_arguments = ["user_id"]
            deny_tools = ["delete_task"]
            call_timeout_ms = 1500

            [transport]
            type = "http"
            url = "http://127.0.0.1:9/mcp"
            bearer_token = "s3cret-token"
            headers = { "x-api-key" = "k3y" }
            "#,
        )
        .expect("valid config");
        assert_eq!(config.call_timeout, Duration::from_millis(1500));
        assert_eq!(config.connect_timeout, Duration::from_secs(30));
        assert_eq!(config.restart, RestartPolicy::default());
        assert!(config.is_tool_allowed("add_task"));
        assert!(!config.is_tool_allowed("delete_task"));
        config.validate().expect("valid");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret-token") && !debug.contains("k3y"),
            "{debug}"
        );

        let stdio: McpServerConfig = toml::from_str(
            r#"
            name = "local"
            allow_tools = ["a"]
            [transport]
            type = "stdio"
            command = "server"
            args = ["--stdio"]
            cwd = "/tmp"
            "#,
        )
        .expect("valid config");
        assert!(matches!(&stdio.transport, McpTransportConfig::Stdio(s) if s.args == ["--stdio"]));
        assert!(stdio.is_tool_allowed("a") && !stdio.is_tool_allowed("b"));
    }

    #[test]
    fn rejects_unknown_fields_and_invalid_values() {
        let unknown = toml::from_str::<McpServerConfig>(
            "name = \"x\"\nuser_id_argument = [\"user_id\"]\n[transport]\ntype = \"stdio\"\ncommand = \"s\"",
        );
        assert!(
            unknown.is_err(),
            "a misspelled field must not be ignored silently"
        );

        let bad_prefix = McpServerConfig::stdio("x", "server", ["--stdio"]).tool_prefix("to do");
        assert!(matches!(
            bad_prefix.validate(),
            Err(McpError::InvalidConfig { .. })
        ));
        let bad_url = McpServerConfig::http("x", "ftp://host/mcp");
        assert!(bad_url.validate().is_err());
        let empty_name = McpServerConfig::stdio(" ", "server", ["--stdio"]);
        assert!(empty_name.validate().is_err());
    }

    #[test]
    fn restart_backoff_is_immediate_once_then_doubles_up_to_the_cap() {
        let policy = RestartPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        let delays: Vec<u128> = (0..6).map(|n| policy.delay_after(n).as_millis()).collect();
        assert_eq!(delays, [0, 0, 100, 200, 350, 350]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_millis(350));
    }
}
