//! Configuration: defaults, then a TOML file, then `CHATKIT_*` environment variables, then flags.
//!
//! Only the binary reads files and the environment; the libraries get typed config structs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Everything the server can be configured with. Every field has a default, so an empty file (or
/// none) gives a working server: SQLite in the working directory, the demo model, anonymous
/// development auth.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener and limits.
    pub server: ServerSettings,
    /// The store.
    pub database: DatabaseSettings,
    /// Authentication.
    pub auth: AuthSettings,
    /// The model provider.
    pub model: ModelSettings,
    /// The agent.
    pub agent: AgentSettings,
    /// MCP servers whose tools the agent may use.
    pub mcp_servers: Vec<mcp_client::McpServerConfig>,
    /// Attachments.
    pub attachments: AttachmentSettings,
    /// Per-user request rate limits on the chat endpoints.
    pub rate_limit: RateLimitSettings,
    /// The zero-configuration demo (the demo model's bundled tools).
    pub demo: DemoSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Dictation (`input.transcribe`).
    pub transcription: TranscriptionSettings,
    /// Widget action types handled without code (`[[actions]]`).
    pub actions: Vec<ActionSettings>,
    /// A search tool over your content (`[retrieval]`); none when absent.
    pub retrieval: Option<crate::retrieval::RetrievalSettings>,
    /// Several agents that hand the conversation to each other (`[[agents]]`); when empty, the
    /// single `[agent]` answers. See [`crate::agents`].
    pub agents: Vec<crate::agents::AgentEntry>,
    /// The agent of `[[agents]]` a thread starts on (default: the first one).
    pub default_agent: Option<String>,
}

/// A widget action type the server answers by configuration: it calls a tool with the action's
/// payload as arguments (the user id injected as for the model's calls), replaces the sending
/// widget with the widget the tool's result carries, and/or hands the action to the model.
///
/// ```toml
/// [[actions]]
/// type = "todo.complete_task"   # the action's `type`, as the widget sends it
/// tool = "complete_task"        # a tool of the agent (an MCP tool, prefix included)
/// forward_to_model = false      # also tell the model, which then answers (streaming actions)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSettings {
    /// The action's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool to call.
    #[serde(default)]
    pub tool: Option<String>,
    /// Hand the action (and the tool's answer) to the model as a turn.
    #[serde(default)]
    pub forward_to_model: bool,
}

/// HTTP listener and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`CHATKIT_BIND`).
    pub bind: String,
    /// Path of the ChatKit endpoint (`CHATKIT_PATH`).
    pub path: String,
    /// Largest request body accepted on the ChatKit endpoint, in bytes.
    pub max_body_bytes: usize,
    /// Seconds between SSE keep-alive comments on a quiet stream.
    pub keep_alive_secs: u64,
    /// Seconds a stream waits for a client that stopped reading before treating it as gone (the
    /// `agent.on_disconnect` policy then applies). The events waiting for it are bounded by the
    /// engine's per-stream buffer meanwhile (`CHATKIT_STREAM_WRITE_TIMEOUT_SECS`).
    pub stream_write_timeout_secs: u64,
    /// Seconds running streams get to finish on shutdown before they are cancelled.
    pub shutdown_grace_secs: u64,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Worker threads for the HTTP server; 0: one per core.
    pub workers: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".to_owned(),
            path: "/chatkit".to_owned(),
            max_body_bytes: 1024 * 1024,
            keep_alive_secs: 15,
            stream_write_timeout_secs: 30,
            shutdown_grace_secs: 20,
            cors_origins: Vec::new(),
            workers: 0,
        }
    }
}

/// The store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://...` (`CHATKIT_DATABASE_URL`, or `DATABASE_URL`).
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Apply migrations at start-up.
    pub migrate_on_start: bool,
    /// PostgreSQL schema for the tables (`CHATKIT_DATABASE_SCHEMA`); default `public`.
    pub schema: Option<String>,
    /// On PostgreSQL, connections of the cross-instance thread lock's own pool
    /// (`CHATKIT_DATABASE_THREAD_LOCK_CONNECTIONS`): each stream in progress and each request
    /// waiting for a busy thread holds one (ADR 0007), so this bounds an instance's concurrent
    /// streams.
    pub thread_lock_connections: u32,
    /// A pooled connection idle for at least this many seconds is pinged before use
    /// (`CHATKIT_DATABASE_PING_WHEN_IDLE_SECS`); `0` pings on every checkout (ADR 0013).
    pub ping_when_idle_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://chatkit.db?mode=rwc".to_owned(),
            max_connections: 10,
            migrate_on_start: true,
            schema: None,
            thread_lock_connections: 64,
            ping_when_idle_secs: 5,
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `required` when keys are configured, `anonymous` otherwise.
    #[default]
    Auto,
    /// Every request needs a valid bearer token.
    Required,
    /// Development only: every request is the one local user.
    Anonymous,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The mode (`CHATKIT_AUTH_MODE`).
    pub mode: AuthMode,
    /// JWKS URL, e.g. `https://app.example.com/api/auth/jwks` (`CHATKIT_AUTH_JWKS_URL`).
    pub jwks_url: Option<String>,
    /// HS256 shared secret (`CHATKIT_AUTH_SHARED_SECRET`, or Better Auth's `BETTER_AUTH_SECRET`).
    pub shared_secret: Option<String>,
    /// Static public keys from PEM files.
    pub public_keys: Vec<PublicKeySetting>,
    /// Required `iss` (`CHATKIT_AUTH_ISSUER`).
    pub issuer: Option<String>,
    /// Required `aud` (`CHATKIT_AUTH_AUDIENCE`).
    pub audience: Option<String>,
    /// Clock leeway in seconds.
    pub leeway_secs: u64,
    /// The user every request is in anonymous mode.
    pub anonymous_user_id: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Auto,
            jwks_url: None,
            shared_secret: None,
            public_keys: Vec::new(),
            issuer: None,
            audience: None,
            leeway_secs: 60,
            anonymous_user_id: "local-user".to_owned(),
        }
    }
}

impl AuthSettings {
    /// True when some key source is configured.
    pub fn has_keys(&self) -> bool {
        self.jwks_url.is_some() || self.shared_secret.is_some() || !self.public_keys.is_empty()
    }

    /// The key sources in force, named but never shown (`[jwks, shared_secret, 2 public keys]`),
    /// so an operator sees that every configured source is used.
    pub fn describe_sources(&self) -> String {
        if self.effective_mode() == AuthMode::Anonymous {
            return String::new();
        }
        let mut sources = Vec::new();
        if self.jwks_url.is_some() {
            sources.push("jwks".to_owned());
        }
        if self.shared_secret.is_some() {
            sources.push("shared_secret".to_owned());
        }
        if !self.public_keys.is_empty() {
            sources.push(format!("{} public keys", self.public_keys.len()));
        }
        format!("[{}]", sources.join(", "))
    }

    /// The mode in force once `auto` is resolved.
    pub fn effective_mode(&self) -> AuthMode {
        match self.mode {
            AuthMode::Auto if self.has_keys() => AuthMode::Required,
            AuthMode::Auto => AuthMode::Anonymous,
            other => other,
        }
    }
}

/// A static public key for verifying tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeySetting {
    /// Algorithm the key verifies: `EdDSA`, `RS256`, `ES256`...
    pub algorithm: String,
    /// PEM file with the public key.
    pub pem_file: PathBuf,
    /// Key id the tokens name in their header, if any.
    pub kid: Option<String>,
}

/// Which model answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelProviderKind {
    /// `openai` when an API key or base URL is configured, `demo` otherwise.
    #[default]
    Auto,
    /// The built-in demo model: canned answers, no network. For trying the server out.
    Demo,
    /// An OpenAI-compatible Chat Completions endpoint.
    Openai,
    /// The OpenAI Responses API.
    OpenaiResponses,
}

/// Model provider settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Provider (`CHATKIT_MODEL_PROVIDER`).
    pub provider: ModelProviderKind,
    /// API root (`CHATKIT_MODEL_BASE_URL`, or `OPENAI_BASE_URL`).
    pub base_url: Option<String>,
    /// API key (`CHATKIT_MODEL_API_KEY`, or `OPENAI_API_KEY`). Never logged.
    pub api_key: Option<String>,
    /// Model name (`CHATKIT_MODEL`).
    pub model: String,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Largest answer, in tokens.
    pub max_tokens: Option<u32>,
    /// Seconds the stream may stay silent.
    pub idle_timeout_secs: u64,
    /// Models a user may pick in the composer besides `model` (`CHATKIT_ALLOWED_MODELS`,
    /// comma-separated). A pick of any other model is refused with 400.
    pub allowed_models: Vec<String>,
    /// Reasoning effort for reasoning models (`none`, `minimal`, `low`, `medium`, `high`).
    pub reasoning_effort: Option<agent_runtime::ReasoningEffort>,
    /// Reasoning summary the Responses API streams (`auto`, `concise`, `detailed`).
    pub reasoning_summary: Option<agent_runtime::ReasoningSummary>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Sampling seed (Chat Completions).
    pub seed: Option<i64>,
    /// Stop sequences (Chat Completions).
    pub stop: Vec<String>,
    /// Whether the vendor stores responses.
    pub store: Option<bool>,
    /// Extra output the Responses API includes (`include`).
    pub include: Vec<String>,
    /// Key/value pairs stored with each completion at the vendor.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Fields merged into every request body, for compatible servers' own parameters.
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    /// Tools the vendor runs itself (Responses API only).
    pub hosted_tools: HostedToolSettings,
}

/// The Responses API's hosted tools the agent may use (`[model.hosted_tools]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostedToolSettings {
    /// Web search.
    pub web_search: bool,
    /// File search over these vector stores (none: no file search).
    pub file_search_vector_store_ids: Vec<String>,
    /// Image generation.
    pub image_generation: bool,
    /// How many partial images an image generation streams (0 to 3).
    pub image_partial_images: u8,
}

impl HostedToolSettings {
    /// The configured tools.
    pub fn tools(&self) -> Vec<agent_runtime::HostedTool> {
        let mut tools = Vec::new();
        if self.web_search {
            tools.push(agent_runtime::HostedTool::web_search());
        }
        if !self.file_search_vector_store_ids.is_empty() {
            tools.push(agent_runtime::HostedTool::file_search(
                self.file_search_vector_store_ids.iter().cloned(),
            ));
        }
        if self.image_generation {
            tools.push(agent_runtime::HostedTool::image_generation(
                self.image_partial_images,
            ));
        }
        tools
    }
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            provider: ModelProviderKind::Auto,
            base_url: None,
            api_key: None,
            model: "gpt-4.1-mini".to_owned(),
            temperature: None,
            max_tokens: None,
            idle_timeout_secs: 60,
            allowed_models: Vec::new(),
            reasoning_effort: None,
            reasoning_summary: None,
            top_p: None,
            seed: None,
            stop: Vec::new(),
            store: None,
            include: Vec::new(),
            metadata: Default::default(),
            extra_body: Default::default(),
            hosted_tools: HostedToolSettings::default(),
        }
    }
}

impl ModelSettings {
    /// The provider in force once `auto` is resolved.
    pub fn effective_provider(&self) -> ModelProviderKind {
        match self.provider {
            ModelProviderKind::Auto if self.api_key.is_some() || self.base_url.is_some() => {
                ModelProviderKind::Openai
            }
            ModelProviderKind::Auto => ModelProviderKind::Demo,
            other => other,
        }
    }
}

/// The agent: instructions in the Persona / Questions / Principles pattern, and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// The agent's name.
    pub name: String,
    /// Who the assistant is.
    pub persona: String,
    /// What it should find out or keep in mind about each request.
    pub questions: Vec<String>,
    /// How it behaves.
    pub principles: Vec<String>,
    /// Put the user's id, name and e-mail into the system prompt.
    pub include_user_info: bool,
    /// Keys of the request `metadata` whose values go into the system prompt as page context.
    pub page_context_keys: Vec<String>,
    /// How many recent messages the model sees (`CHATKIT_HISTORY_ITEMS`).
    pub history_items: usize,
    /// Most model calls per response.
    pub max_turns: usize,
    /// How tool calls are shown: `workflow`, `progress` or `hidden`.
    pub tool_display: String,
    /// What a client disconnect does: `stop` (the reference's) or `finish` (finish in background).
    pub on_disconnect: String,
    /// Ask the model for a short title after a thread's first exchange (one more small model
    /// call per thread) (`CHATKIT_GENERATE_TITLES`). Unset: on for real models, off for the
    /// demo model.
    pub generate_titles: Option<bool>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            name: "assistant".to_owned(),
            persona: "You are a helpful assistant.".to_owned(),
            questions: Vec::new(),
            principles: vec!["Be concise and accurate.".to_owned()],
            include_user_info: true,
            page_context_keys: vec![
                "page".to_owned(),
                "page_context".to_owned(),
                "context".to_owned(),
            ],
            history_items: 10,
            max_turns: 10,
            tool_display: "workflow".to_owned(),
            on_disconnect: "stop".to_owned(),
            generate_titles: None,
        }
    }
}

/// Where attachment bytes live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentBackend {
    /// A folder on this machine (`attachments.dir`): one instance only.
    #[default]
    Local,
    /// S3-compatible object storage (`[attachments.s3]`): shared by every instance, with
    /// presigned uploads and downloads.
    S3,
}

/// S3-compatible object storage for attachments (`[attachments.s3]`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket (`CHATKIT_S3_BUCKET`); it must exist.
    pub bucket: String,
    /// Key prefix (`CHATKIT_S3_PREFIX`).
    pub prefix: String,
    /// Signing region (`CHATKIT_S3_REGION`, or `AWS_REGION`).
    pub region: String,
    /// Endpoint of a non-AWS service, e.g. MinIO or R2 (`CHATKIT_S3_ENDPOINT`, or
    /// `AWS_ENDPOINT_URL`); none means AWS S3.
    pub endpoint: Option<String>,
    /// Access key id (`CHATKIT_S3_ACCESS_KEY_ID`, or `AWS_ACCESS_KEY_ID`); none uses the
    /// platform's credentials.
    pub access_key_id: Option<String>,
    /// Secret access key (`CHATKIT_S3_SECRET_ACCESS_KEY`, or `AWS_SECRET_ACCESS_KEY`); prefer
    /// the environment to the file.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Allow an `http://` endpoint (`CHATKIT_S3_ALLOW_HTTP`), for a local MinIO.
    pub allow_http: bool,
    /// Lifetime of presigned upload URLs, in seconds.
    pub upload_url_ttl_secs: u64,
    /// Lifetime of presigned download URLs, in seconds.
    pub download_url_ttl_secs: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            prefix: "chatkit/attachments".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            upload_url_ttl_secs: 15 * 60,
            download_url_ttl_secs: 5 * 60,
        }
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        formatter
            .debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("upload_url_ttl_secs", &self.upload_url_ttl_secs)
            .field("download_url_ttl_secs", &self.download_url_ttl_secs)
            .finish()
    }
}

/// Attachment settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Where the bytes live (`CHATKIT_ATTACHMENTS_BACKEND`): `local` (default) or `s3`.
    pub backend: AttachmentBackend,
    /// Object storage, when `backend = "s3"`.
    pub s3: S3Settings,
    /// Folder for attachment bytes (`CHATKIT_ATTACHMENTS_DIR`).
    pub dir: PathBuf,
    /// Largest attachment, in bytes.
    pub max_bytes: u64,
    /// Accepted MIME types: exact, or prefixes ending in `/`.
    pub allowed_types: Vec<String>,
    /// Public base URL of this server, used in upload and preview URLs
    /// (`CHATKIT_PUBLIC_URL`); defaults to `http://{bind}`.
    pub public_url: Option<String>,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            backend: AttachmentBackend::Local,
            s3: S3Settings::default(),
            dir: PathBuf::from("data/attachments"),
            max_bytes: 20 * 1024 * 1024,
            allowed_types: vec![
                "image/".into(),
                "text/".into(),
                "application/pdf".into(),
                "application/json".into(),
            ],
            public_url: None,
        }
    }
}

/// Per-user rate limits: a token bucket per authenticated user on `POST {server.path}` and
/// `POST /api/chat`. By default the buckets live in the database, so several instances on one
/// database enforce one limit together.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per minute per user; 0 turns the limit off
    /// (`CHATKIT_RATE_LIMIT_PER_MINUTE`).
    pub requests_per_minute: u32,
    /// Requests a user may make at once before the sustained rate applies
    /// (`CHATKIT_RATE_LIMIT_BURST`).
    pub burst: u32,
    /// Keep the buckets in the database, shared by every instance on it (`true`), or in this
    /// process only (`false`: one database write fewer per request, but N instances allow N
    /// times the rate) (`CHATKIT_RATE_LIMIT_SHARED`).
    pub shared: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 120,
            burst: 30,
            shared: true,
        }
    }
}

/// The zero-configuration demo.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoSettings {
    /// With the demo model and no `mcp_servers`, run the bundled todo MCP server (this binary's
    /// `todo-mcp` subcommand) as a child process, so the demo shows real tool calls
    /// (`CHATKIT_DEMO_TODO_TOOLS`).
    pub todo_tools: bool,
    /// SQLite file of the demo's tasks.
    pub todo_db: PathBuf,
    /// With the demo model and no `[retrieval]`, where the documentation search keeps the
    /// embedded documents and their index (`corpus/`, `index/`).
    pub docs_dir: PathBuf,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            todo_tools: true,
            todo_db: PathBuf::from("data/todo.db"),
            docs_dir: PathBuf::from("data/demo-docs"),
        }
    }
}

/// The Prometheus endpoint.
///
/// It holds counts, route patterns and tool names, never user data, but it tells an outsider a lot
/// about the traffic, so it is not open to everyone by default: on a loopback bind it is served as
/// is; on any other bind it needs `bearer_token`, or an explicit `allow_unauthenticated = true`
/// (for a bind that only a private network reaches), or it answers 404.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` at all (`CHATKIT_METRICS_ENABLED`).
    pub enabled: bool,
    /// Scrapers must send `Authorization: Bearer <token>` (`CHATKIT_METRICS_TOKEN`).
    pub bearer_token: Option<String>,
    /// Serve `/metrics` without a token even when the server listens beyond loopback
    /// (`CHATKIT_METRICS_ALLOW_UNAUTHENTICATED`).
    pub allow_unauthenticated: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bearer_token: None,
            allow_unauthenticated: false,
        }
    }
}

/// Dictation: `input.transcribe` through an OpenAI-compatible `/audio/transcriptions` endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscriptionSettings {
    /// Answer `input.transcribe` (`CHATKIT_TRANSCRIPTION_ENABLED`). Unset: on with a real model
    /// provider (same endpoint and key as the model), and with the demo model a labelled demo
    /// transcriber that needs no network.
    pub enabled: Option<bool>,
    /// The transcription model (`CHATKIT_TRANSCRIPTION_MODEL`).
    pub model: String,
    /// API root, when it differs from `model.base_url` (`CHATKIT_TRANSCRIPTION_BASE_URL`).
    pub base_url: Option<String>,
    /// Largest audio accepted, in bytes (OpenAI's endpoint takes 25 MB).
    pub max_bytes: usize,
    /// Audio media types accepted (without parameters). Empty: the built-in list of what browsers
    /// record and the endpoint reads.
    pub allowed_types: Vec<String>,
    /// Seconds one transcription may take.
    pub timeout_secs: u64,
}

impl Default for TranscriptionSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            model: "gpt-4o-mini-transcribe".to_owned(),
            base_url: None,
            max_bytes: 25 * 1024 * 1024,
            allowed_types: Vec::new(),
            timeout_secs: 60,
        }
    }
}

/// Who may read `/metrics`, once the settings and the bind address are weighed.
#[derive(Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Not served (404, like an unknown route).
    Off,
    /// Served to anyone who reaches the port.
    Open,
    /// Served to requests bearing this token.
    Token(zeroize::Zeroizing<String>),
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            MetricsAccess::Off => "off",
            MetricsAccess::Open => "open",
            MetricsAccess::Token(_) => "bearer_token",
        })
    }
}

impl Settings {
    /// Who may read `/metrics` on `server.bind`: see [`MetricsSettings`].
    pub fn metrics_access(&self) -> MetricsAccess {
        let metrics = &self.metrics;
        if !metrics.enabled {
            return MetricsAccess::Off;
        }
        if let Some(token) = &metrics.bearer_token {
            return MetricsAccess::Token(zeroize::Zeroizing::new(token.clone()));
        }
        if metrics.allow_unauthenticated || bind_is_loopback(&self.server.bind) {
            MetricsAccess::Open
        } else {
            MetricsAccess::Off
        }
    }
}

/// Whether `bind` (`host:port`) listens on loopback only.
fn bind_is_loopback(bind: &str) -> bool {
    let host = bind.rsplit_once(':').map_or(bind, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name}: `{value}` is not true or false"),
    }
}

impl Settings {
    /// Whether thread titles are generated, once `agent.generate_titles` is resolved: on for a
    /// real model, off for the demo model (its canned answers make silly titles).
    pub fn generate_titles(&self) -> bool {
        self.agent
            .generate_titles
            .unwrap_or(self.model.effective_provider() != ModelProviderKind::Demo)
    }

    /// Whether `input.transcribe` is answered, once `transcription.enabled` is resolved: on
    /// unless switched off.
    pub fn transcription_enabled(&self) -> bool {
        self.transcription.enabled.unwrap_or(true)
    }

    /// Loads the file (if any), then applies environment overrides from `env`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| env(name).filter(|v| !v.is_empty()))
        };
        if let Some(v) = first(&["CHATKIT_BIND"]) {
            self.server.bind = v;
        }
        if let Some(v) = first(&["CHATKIT_PATH"]) {
            self.server.path = v;
        }
        if let Some(v) = first(&["CHATKIT_CORS_ORIGINS"]) {
            self.server.cors_origins = v
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = first(&["CHATKIT_DATABASE_URL", "DATABASE_URL"]) {
            self.database.url = v;
        }
        if let Some(v) = first(&["CHATKIT_DATABASE_SCHEMA"]) {
            self.database.schema = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_AUTH_MODE"]) {
            self.auth.mode = match v.as_str() {
                "auto" => AuthMode::Auto,
                "required" => AuthMode::Required,
                "anonymous" => AuthMode::Anonymous,
                other => {
                    bail!("CHATKIT_AUTH_MODE: `{other}` is not one of auto, required, anonymous")
                }
            };
        }
        if let Some(v) = first(&["CHATKIT_AUTH_JWKS_URL"]) {
            self.auth.jwks_url = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_AUTH_SHARED_SECRET", "BETTER_AUTH_SECRET"]) {
            self.auth.shared_secret = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_AUTH_ISSUER"]) {
            self.auth.issuer = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_AUTH_AUDIENCE"]) {
            self.auth.audience = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_MODEL_PROVIDER"]) {
            self.model.provider = match v.as_str() {
                "auto" => ModelProviderKind::Auto,
                "demo" => ModelProviderKind::Demo,
                "openai" => ModelProviderKind::Openai,
                "openai_responses" | "openai-responses" => ModelProviderKind::OpenaiResponses,
                other => bail!(
                    "CHATKIT_MODEL_PROVIDER: `{other}` is not one of auto, demo, openai, openai_responses"
                ),
            };
        }
        if let Some(v) = first(&["CHATKIT_MODEL_BASE_URL", "OPENAI_BASE_URL"]) {
            self.model.base_url = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_MODEL_API_KEY", "OPENAI_API_KEY"]) {
            self.model.api_key = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_MODEL"]) {
            self.model.model = v;
        }
        if let Some(v) = first(&["CHATKIT_ALLOWED_MODELS"]) {
            self.model.allowed_models = v
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
        }
        if let Some(v) = first(&["CHATKIT_TRANSCRIPTION_ENABLED"]) {
            self.transcription.enabled = Some(parse_bool("CHATKIT_TRANSCRIPTION_ENABLED", &v)?);
        }
        if let Some(v) = first(&["CHATKIT_TRANSCRIPTION_MODEL"]) {
            self.transcription.model = v;
        }
        if let Some(v) = first(&["CHATKIT_TRANSCRIPTION_BASE_URL"]) {
            self.transcription.base_url = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_HISTORY_ITEMS"]) {
            self.agent.history_items = v
                .parse()
                .with_context(|| format!("CHATKIT_HISTORY_ITEMS: `{v}` is not a number"))?;
        }
        if let Some(v) = first(&["CHATKIT_ATTACHMENTS_DIR"]) {
            self.attachments.dir = PathBuf::from(v);
        }
        if let Some(v) = first(&["CHATKIT_PUBLIC_URL"]) {
            self.attachments.public_url = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_ATTACHMENTS_BACKEND"]) {
            self.attachments.backend = match v.as_str() {
                "local" => AttachmentBackend::Local,
                "s3" => AttachmentBackend::S3,
                other => bail!("CHATKIT_ATTACHMENTS_BACKEND: `{other}` is not one of local, s3"),
            };
        }
        let s3 = &mut self.attachments.s3;
        if let Some(v) = first(&["CHATKIT_S3_BUCKET"]) {
            s3.bucket = v;
        }
        if let Some(v) = first(&["CHATKIT_S3_PREFIX"]) {
            s3.prefix = v;
        }
        if let Some(v) = first(&["CHATKIT_S3_REGION", "AWS_REGION"]) {
            s3.region = v;
        }
        if let Some(v) = first(&["CHATKIT_S3_ENDPOINT", "AWS_ENDPOINT_URL"]) {
            s3.endpoint = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]) {
            s3.access_key_id = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"]) {
            s3.secret_access_key = Some(v);
        }
        if let Some(v) = first(&["AWS_SESSION_TOKEN"]) {
            s3.session_token = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_S3_ALLOW_HTTP"]) {
            s3.allow_http = parse_bool("CHATKIT_S3_ALLOW_HTTP", &v)?;
        }
        if let Some(v) = first(&["CHATKIT_DATABASE_THREAD_LOCK_CONNECTIONS"]) {
            self.database.thread_lock_connections = v.parse().with_context(|| {
                format!("CHATKIT_DATABASE_THREAD_LOCK_CONNECTIONS: `{v}` is not a number")
            })?;
        }
        if let Some(v) = first(&["CHATKIT_DATABASE_PING_WHEN_IDLE_SECS"]) {
            self.database.ping_when_idle_secs = v.parse().with_context(|| {
                format!("CHATKIT_DATABASE_PING_WHEN_IDLE_SECS: `{v}` is not a number")
            })?;
        }
        if let Some(v) = first(&["CHATKIT_GENERATE_TITLES"]) {
            self.agent.generate_titles = Some(parse_bool("CHATKIT_GENERATE_TITLES", &v)?);
        }
        if let Some(v) = first(&["CHATKIT_RATE_LIMIT_PER_MINUTE"]) {
            self.rate_limit.requests_per_minute = v
                .parse()
                .with_context(|| format!("CHATKIT_RATE_LIMIT_PER_MINUTE: `{v}` is not a number"))?;
        }
        if let Some(v) = first(&["CHATKIT_RATE_LIMIT_BURST"]) {
            self.rate_limit.burst = v
                .parse()
                .with_context(|| format!("CHATKIT_RATE_LIMIT_BURST: `{v}` is not a number"))?;
        }
        if let Some(v) = first(&["CHATKIT_RATE_LIMIT_SHARED"]) {
            self.rate_limit.shared = parse_bool("CHATKIT_RATE_LIMIT_SHARED", &v)?;
        }
        if let Some(v) = first(&["CHATKIT_DEMO_TODO_TOOLS"]) {
            self.demo.todo_tools = parse_bool("CHATKIT_DEMO_TODO_TOOLS", &v)?;
        }
        if let Some(v) = first(&["CHATKIT_METRICS_ENABLED"]) {
            self.metrics.enabled = parse_bool("CHATKIT_METRICS_ENABLED", &v)?;
        }
        if let Some(v) = first(&["CHATKIT_STREAM_WRITE_TIMEOUT_SECS"]) {
            self.server.stream_write_timeout_secs = v.parse().with_context(|| {
                format!("CHATKIT_STREAM_WRITE_TIMEOUT_SECS: `{v}` is not a number")
            })?;
        }
        if let Some(v) = first(&["CHATKIT_METRICS_TOKEN"]) {
            self.metrics.bearer_token = Some(v);
        }
        if let Some(v) = first(&["CHATKIT_METRICS_ALLOW_UNAUTHENTICATED"]) {
            self.metrics.allow_unauthenticated =
                parse_bool("CHATKIT_METRICS_ALLOW_UNAUTHENTICATED", &v)?;
        }
        Ok(())
    }

    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.server.path.starts_with('/') {
            bail!(
                "server.path must start with `/`, got `{}`",
                self.server.path
            );
        }
        if self.server.stream_write_timeout_secs == 0 {
            bail!("server.stream_write_timeout_secs must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes must be at least 1024");
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            bail!("database.url must be a sqlite: or postgres:// URL");
        }
        if self.auth.effective_mode() == AuthMode::Required && !self.auth.has_keys() {
            bail!(
                "auth.mode is `required` but no key source is configured (jwks_url, shared_secret or public_keys)"
            );
        }
        if self.attachments.backend == AttachmentBackend::S3
            && self.attachments.s3.bucket.trim().is_empty()
        {
            bail!(
                "attachments.backend is `s3` but attachments.s3.bucket (CHATKIT_S3_BUCKET) is empty"
            );
        }
        if !self.model.hosted_tools.tools().is_empty()
            && self.model.effective_provider() != ModelProviderKind::OpenaiResponses
        {
            bail!(
                "model.hosted_tools need model.provider = \"openai_responses\" (Chat Completions and the demo model have no hosted tools)"
            );
        }
        if self.model.hosted_tools.image_partial_images > 3 {
            bail!("model.hosted_tools.image_partial_images must be 0 to 3");
        }
        if self.agent.history_items == 0 {
            bail!("agent.history_items must be at least 1");
        }
        if !["workflow", "progress", "hidden"].contains(&self.agent.tool_display.as_str()) {
            bail!("agent.tool_display must be workflow, progress or hidden");
        }
        if !["stop", "finish"].contains(&self.agent.on_disconnect.as_str()) {
            bail!("agent.on_disconnect must be stop or finish");
        }
        if self.transcription.max_bytes == 0 {
            bail!("transcription.max_bytes must be at least 1");
        }
        if self.transcription.timeout_secs == 0 {
            bail!("transcription.timeout_secs must be at least 1");
        }
        if let Some(bad) = self
            .transcription
            .allowed_types
            .iter()
            .find(|t| !t.contains('/') || t.contains(';'))
        {
            bail!(
                "transcription.allowed_types: `{bad}` is not a media type such as audio/webm (no parameters)"
            );
        }
        for action in &self.actions {
            if action.kind.trim().is_empty() {
                bail!("actions: every action needs a `type`");
            }
            if action.tool.is_none() && !action.forward_to_model {
                bail!(
                    "actions: `{}` does nothing: give it a `tool`, `forward_to_model = true`, or both",
                    action.kind
                );
            }
        }
        if self.rate_limit.requests_per_minute > 0 && self.rate_limit.burst == 0 {
            bail!("rate_limit.burst must be at least 1 when rate_limit.requests_per_minute is set");
        }
        if self.model.effective_provider() != ModelProviderKind::Demo
            && self.model.base_url.is_none()
            && self.model.api_key.is_none()
        {
            bail!("model.provider needs model.api_key (OPENAI_API_KEY) or model.base_url");
        }
        if let Some(retrieval) = &self.retrieval {
            retrieval.validate()?;
        }
        crate::agents::validate(&self.agents, self.default_agent.as_deref())?;
        Ok(())
    }

    /// A summary for the start-up log, without secrets.
    pub fn describe(&self) -> String {
        format!(
            "bind={} path={} database={} auth={:?}{} metrics={:?} model={:?}/{}",
            self.server.bind,
            self.server.path,
            redact_url(&self.database.url),
            self.auth.effective_mode(),
            self.auth.describe_sources(),
            self.metrics_access(),
            self.model.effective_provider(),
            self.model.model
        )
    }
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_and_no_env_gives_a_working_zero_configuration_server() {
        let settings = Settings::load(None, |_| None).expect("defaults are valid");
        assert_eq!(settings.auth.effective_mode(), AuthMode::Anonymous);
        assert_eq!(settings.model.effective_provider(), ModelProviderKind::Demo);
        assert!(settings.database.url.starts_with("sqlite:"));
    }

    #[test]
    fn env_overrides_and_keys_switch_auth_and_model_on() {
        let env = |name: &str| match name {
            "CHATKIT_DATABASE_URL" => Some("postgres://u:pw@db/chat".to_owned()),
            "BETTER_AUTH_SECRET" => Some("s3cret".to_owned()),
            "OPENAI_API_KEY" => Some("sk-test".to_owned()),
            "CHATKIT_HISTORY_ITEMS" => Some("4".to_owned()),
            _ => None,
        };
        let settings = Settings::load(None, env).expect("valid");
        assert_eq!(settings.auth.effective_mode(), AuthMode::Required);
        assert_eq!(
            settings.model.effective_provider(),
            ModelProviderKind::Openai
        );
        assert_eq!(settings.agent.history_items, 4);
        let described = settings.describe();
        assert!(
            !described.contains("pw")
                && !described.contains("s3cret")
                && !described.contains("sk-test"),
            "{described}"
        );
    }

    #[test]
    fn model_settings_for_reasoning_sampling_and_hosted_tools_are_read() {
        let file: Settings = toml::from_str(
            r#"
            [model]
            provider = "openai_responses"
            api_key = "sk-test"
            reasoning_effort = "high"
            reasoning_summary = "auto"
            top_p = 0.5
            store = true
            include = ["reasoning.encrypted_content"]
            metadata = { team = "support" }
            extra_body = { service_tier = "flex" }
            [model.hosted_tools]
            web_search = true
            file_search_vector_store_ids = ["vs_1"]
            image_generation = true
            image_partial_images = 2
            "#,
        )
        .expect("valid");
        file.validate().expect("consistent");
        assert_eq!(
            file.model.reasoning_effort,
            Some(agent_runtime::ReasoningEffort::High)
        );
        assert_eq!(file.model.extra_body["service_tier"], "flex");
        let kinds: Vec<agent_runtime::HostedToolKind> = file
            .model
            .hosted_tools
            .tools()
            .iter()
            .map(agent_runtime::HostedTool::kind)
            .collect();
        assert_eq!(
            kinds,
            [
                agent_runtime::HostedToolKind::WebSearch,
                agent_runtime::HostedToolKind::FileSearch,
                agent_runtime::HostedToolKind::ImageGeneration
            ]
        );

        let chat: Settings = toml::from_str(
            "[model]\nprovider = \"openai\"\n[model.hosted_tools]\nweb_search = true\n",
        )
        .expect("parses");
        let err = chat
            .validate()
            .expect_err("hosted tools need the Responses API");
        assert!(err.to_string().contains("model.hosted_tools"), "{err}");
        let bad: Result<Settings, _> = toml::from_str("[model]\nreasoning_effort = \"huge\"\n");
        assert!(bad.is_err());
    }

    #[test]
    fn nonsense_is_refused_with_a_message_that_names_the_setting() {
        let err = Settings::load(None, |name| {
            (name == "CHATKIT_AUTH_MODE").then(|| "required".to_owned())
        })
        .expect_err("no keys");
        assert!(err.to_string().contains("auth.mode"), "{err}");
        let err = Settings::load(None, |name| {
            (name == "CHATKIT_HISTORY_ITEMS").then(|| "ten".to_owned())
        })
        .expect_err("not a number");
        assert!(err.to_string().contains("CHATKIT_HISTORY_ITEMS"), "{err}");
        let bad: Result<Settings, _> = toml::from_str("[server]\nbindd = 1\n");
        assert!(bad.expect_err("unknown key").to_string().contains("bindd"));
    }

    #[test]
    fn titles_follow_the_model_unless_set_and_limits_and_demo_read_the_environment() {
        let demo = Settings::load(None, |_| None).expect("valid");
        assert!(
            !demo.generate_titles(),
            "no titles from canned demo answers"
        );
        assert!(demo.demo.todo_tools);
        assert_eq!(
            (
                demo.rate_limit.requests_per_minute,
                demo.rate_limit.burst,
                demo.rate_limit.shared
            ),
            (120, 30, true)
        );
        let env = |name: &str| {
            match name {
                "OPENAI_API_KEY" => Some("sk-test"),
                "CHATKIT_RATE_LIMIT_PER_MINUTE" => Some("0"),
                "CHATKIT_RATE_LIMIT_SHARED" => Some("false"),
                "CHATKIT_DEMO_TODO_TOOLS" => Some("off"),
                "CHATKIT_METRICS_ENABLED" => Some("false"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let real = Settings::load(None, env).expect("valid");
        assert!(real.generate_titles());
        assert_eq!(real.rate_limit.requests_per_minute, 0);
        assert!(!real.rate_limit.shared, "the in-process limiter on request");
        assert!(!real.demo.todo_tools && !real.metrics.enabled);
        let mut off = real.clone();
        off.agent.generate_titles = Some(false);
        assert!(!off.generate_titles());
        let err = Settings::load(None, |name| {
            (name == "CHATKIT_GENERATE_TITLES").then(|| "maybe".to_owned())
        })
        .expect_err("not a boolean");
        assert!(err.to_string().contains("CHATKIT_GENERATE_TITLES"), "{err}");
        let no_burst: Settings =
            toml::from_str("[rate_limit]\nrequests_per_minute = 10\nburst = 0\n").expect("parses");
        assert!(
            no_burst
                .validate()
                .expect_err("a limit without a burst")
                .to_string()
                .contains("rate_limit.burst")
        );
    }

    #[test]
    fn object_storage_and_the_thread_lock_pool_read_the_environment_and_hide_the_secret() {
        let env = |name: &str| {
            match name {
                "CHATKIT_ATTACHMENTS_BACKEND" => Some("s3"),
                "CHATKIT_S3_BUCKET" => Some("chat-files"),
                "AWS_REGION" => Some("eu-west-1"),
                "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000"),
                "AWS_ACCESS_KEY_ID" => Some("AKIAEXAMPLE"),
                "AWS_SECRET_ACCESS_KEY" => Some("super-secret-value"),
                "CHATKIT_S3_ALLOW_HTTP" => Some("true"),
                "CHATKIT_DATABASE_THREAD_LOCK_CONNECTIONS" => Some("12"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let settings = Settings::load(None, env).expect("valid");
        let s3 = &settings.attachments.s3;
        assert_eq!(settings.attachments.backend, AttachmentBackend::S3);
        assert_eq!(s3.bucket, "chat-files");
        assert_eq!(s3.region, "eu-west-1");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s3.allow_http);
        assert_eq!(settings.database.thread_lock_connections, 12);
        let printed = format!("{settings:?}");
        assert!(!printed.contains("super-secret-value"), "{printed}");

        let err = Settings::load(None, |name| {
            (name == "CHATKIT_ATTACHMENTS_BACKEND").then(|| "s3".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("attachments.s3.bucket"), "{err}");
        let err = Settings::load(None, |name| {
            (name == "CHATKIT_ATTACHMENTS_BACKEND").then(|| "ftp".to_owned())
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("CHATKIT_ATTACHMENTS_BACKEND"),
            "{err}"
        );
    }
}
