//! Composition: settings in, a running server out.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_service::ServiceFactoryExt as _;
use actix_web::{App, web};
use agent_runtime::{
    Agent, DemoModel, DemoTranscriber, Instructions, ModelProvider,
    ModelSettings as RuntimeModelSettings, OpenAiChatProvider, OpenAiConfig,
    OpenAiResponsesProvider, OpenAiTranscriber, Transcriber,
};
use anyhow::Context;
use auth::{
    AnonymousAuthenticator, Authenticator, JwtAuthenticator, JwtConfig, KeySource, Principal,
};
use chatkit_engine::{
    AgentServer, AgentServerConfig, CancelPolicy, Engine, EngineConfig, ToolDisplay,
    TranscriptionLimits,
};
use chatkit_store::{
    AttachmentStore, LocalDiskAttachmentStore, LocalDiskConfig, MemoryRateLimiter, PgThreadLock,
    PgThreadLockConfig, RateLimiter, S3AttachmentStore, S3Config, SeaOrmStore, Store, StoreConfig,
};
use tokio_util::sync::CancellationToken;

use crate::http::{self, AppState};
use crate::settings::{ActionSettings, AttachmentBackend, AuthMode, ModelProviderKind, Settings};

/// The parts the server is made of, built from settings.
pub struct Components {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Attachment bytes.
    pub attachments: Arc<dyn AttachmentStore>,
    /// Who is calling.
    pub authenticator: Arc<dyn Authenticator>,
    /// MCP servers, when configured.
    pub mcp: Option<Arc<mcp_client::McpManager>>,
    /// The engine.
    pub engine: Engine,
    /// Metrics, fed by the HTTP layer and the agent server.
    pub metrics: Arc<http::metrics::Metrics>,
    /// The per-user rate limit on the chat endpoints; `None`: no limit.
    pub rate_limiter: Option<Arc<http::ratelimit::RateLimiter>>,
}

/// Opens the store (running migrations when configured).
pub async fn open_store(settings: &Settings) -> anyhow::Result<SeaOrmStore> {
    let config = StoreConfig {
        url: settings.database.url.clone(),
        max_connections: settings.database.max_connections,
        run_migrations: settings.database.migrate_on_start,
        postgres_schema: settings.database.schema.clone(),
        ping_when_idle_for: Duration::from_secs(settings.database.ping_when_idle_secs),
        ..StoreConfig::default()
    };
    SeaOrmStore::connect(config).await.with_context(|| {
        format!(
            "opening the database {}",
            crate::settings::redact_url(&settings.database.url)
        )
    })
}

/// Builds the authenticator the settings describe, with every configured key source; also what
/// `check-config` runs so an unusable key fails there and not on the first request.
pub fn authenticator(settings: &Settings) -> anyhow::Result<Arc<dyn Authenticator>> {
    let auth = &settings.auth;
    if auth.effective_mode() == AuthMode::Anonymous {
        tracing::warn!(
            user.id = %auth.anonymous_user_id,
            "AUTHENTICATION IS OFF: anonymous development mode, every request is the same local user. \
             Configure auth.jwks_url or auth.shared_secret before exposing this server."
        );
        return Ok(Arc::new(AnonymousAuthenticator::new(Principal::new(
            auth.anonymous_user_id.clone(),
        ))));
    }
    // Every configured source is used: during a migration (Better Auth's EdDSA keys next to a
    // legacy HS256 secret) both kinds of token must pass, and a configured secret that silently
    // did nothing would be a trap.
    let mut sources = Vec::new();
    if let Some(url) = &auth.jwks_url {
        sources.push(KeySource::jwks(url.clone()));
    }
    if let Some(secret) = &auth.shared_secret {
        sources.push(KeySource::shared_secret(secret.clone()));
    }
    if !auth.public_keys.is_empty() {
        let mut keys = Vec::new();
        for key in &auth.public_keys {
            let algorithm = auth::Algorithm::from_name(&key.algorithm).with_context(|| {
                format!("auth.public_keys: unknown algorithm `{}`", key.algorithm)
            })?;
            let pem = std::fs::read_to_string(&key.pem_file)
                .with_context(|| format!("reading {}", key.pem_file.display()))?;
            let mut static_key = auth::StaticKey::from_pem(algorithm, pem);
            if let Some(kid) = &key.kid {
                static_key = static_key.with_kid(kid.clone());
            }
            keys.push(static_key);
        }
        sources.push(KeySource::StaticKeys(keys));
    }
    let mut config = JwtConfig::default().with_leeway(Duration::from_secs(auth.leeway_secs));
    if let Some(issuer) = &auth.issuer {
        config = config.with_issuer(issuer.clone());
    }
    if let Some(audience) = &auth.audience {
        config = config.with_audience(audience.clone());
    }
    Ok(Arc::new(
        JwtAuthenticator::with_sources(sources, config)
            .context("configuring JWT authentication")?,
    ))
}

fn model(settings: &Settings) -> anyhow::Result<Arc<dyn ModelProvider>> {
    let model = &settings.model;
    let openai_config = || {
        let mut config = OpenAiConfig::new(
            model
                .base_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            model.model.clone(),
        );
        if let Some(key) = &model.api_key {
            config = config.with_api_key(key.clone());
        }
        config.idle_timeout = Duration::from_secs(model.idle_timeout_secs);
        config
    };
    Ok(match model.effective_provider() {
        ModelProviderKind::Openai => Arc::new(OpenAiChatProvider::new(openai_config())?),
        ModelProviderKind::OpenaiResponses => {
            Arc::new(OpenAiResponsesProvider::new(openai_config())?)
        }
        ModelProviderKind::Demo | ModelProviderKind::Auto => {
            tracing::warn!(
                "NO MODEL CONFIGURED: answering with the built-in DEMO model (canned replies, no network). \
                 Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL) to use a real model."
            );
            Arc::new(DemoModel::new(Duration::from_millis(30)))
        }
    })
}

/// The transcriber for `input.transcribe`, if dictation is on: the model provider's endpoint, or
/// a labelled demo transcriber when the server runs the demo model.
fn transcriber(
    settings: &Settings,
) -> anyhow::Result<Option<(Arc<dyn Transcriber>, TranscriptionLimits)>> {
    if !settings.transcription_enabled() {
        return Ok(None);
    }
    let transcription = &settings.transcription;
    let mut limits = TranscriptionLimits {
        max_bytes: transcription.max_bytes,
        ..TranscriptionLimits::default()
    };
    if !transcription.allowed_types.is_empty() {
        limits.allowed_media_types = transcription.allowed_types.clone();
    }
    let transcriber: Arc<dyn Transcriber> = match settings.model.effective_provider() {
        ModelProviderKind::Demo | ModelProviderKind::Auto => Arc::new(DemoTranscriber),
        ModelProviderKind::Openai | ModelProviderKind::OpenaiResponses => {
            let base_url = transcription
                .base_url
                .clone()
                .or_else(|| settings.model.base_url.clone())
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
            let mut config = OpenAiConfig::new(base_url, transcription.model.clone());
            if let Some(key) = &settings.model.api_key {
                config = config.with_api_key(key.clone());
            }
            config.idle_timeout = Duration::from_secs(transcription.timeout_secs);
            Arc::new(OpenAiTranscriber::new(&config).context("configuring transcription")?)
        }
    };
    Ok(Some((transcriber, limits)))
}

/// Builds every component from settings.
pub async fn compose(settings: &Settings) -> anyhow::Result<Components> {
    let sql_store = Arc::new(open_store(settings).await?);
    let store: Arc<dyn Store> = sql_store.clone();
    let buckets: Arc<dyn RateLimiter> = if settings.rate_limit.shared {
        // In the database, so that every instance on it takes from the same bucket.
        sql_store
    } else {
        Arc::new(MemoryRateLimiter::new())
    };
    let rate_limiter = http::ratelimit::RateLimiter::new(
        buckets,
        settings.rate_limit.requests_per_minute,
        settings.rate_limit.burst,
    )
    .map(Arc::new);
    let public_url = settings
        .attachments
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.server.bind));
    let attachments: Arc<dyn AttachmentStore> = match settings.attachments.backend {
        AttachmentBackend::Local => Arc::new(LocalDiskAttachmentStore::new(LocalDiskConfig {
            root: settings.attachments.dir.clone(),
            upload_base_url: format!("{public_url}/attachments"),
            preview_base_url: format!("{public_url}/attachments"),
            max_bytes: settings.attachments.max_bytes,
        })),
        AttachmentBackend::S3 => {
            let s3 = &settings.attachments.s3;
            Arc::new(
                S3AttachmentStore::new(S3Config {
                    bucket: s3.bucket.clone(),
                    prefix: s3.prefix.clone(),
                    region: s3.region.clone(),
                    endpoint: s3.endpoint.clone(),
                    access_key_id: s3.access_key_id.clone(),
                    secret_access_key: s3.secret_access_key.clone(),
                    session_token: s3.session_token.clone(),
                    allow_http: s3.allow_http,
                    upload_url_ttl: Duration::from_secs(s3.upload_url_ttl_secs),
                    download_url_ttl: Duration::from_secs(s3.download_url_ttl_secs),
                    max_bytes: settings.attachments.max_bytes,
                    // Previews go through this server, which redirects to a fresh presigned URL.
                    preview_base_url: format!("{public_url}/attachments"),
                    ..S3Config::default()
                })
                .context("configuring attachments in object storage")?,
            )
        }
    };
    let authenticator = authenticator(settings)?;

    let agent_settings = &settings.agent;
    let mut template = Instructions::template(agent_settings.persona.clone());
    for question in &agent_settings.questions {
        template = template.question(question.clone());
    }
    for principle in &agent_settings.principles {
        template = template.principle(principle.clone());
    }
    if agent_settings.include_user_info {
        template = template.with_user_info();
    }
    template = template.with_page_context(agent_settings.page_context_keys.clone());
    let model = model(settings)?;
    let mut shared_tools = crate::agents::SharedTools {
        fixed: Vec::new(),
        sources: Vec::new(),
    };
    let mut agent = Agent::new(agent_settings.name.clone(), model.clone())
        .with_instructions(template.build())
        .with_max_turns(agent_settings.max_turns)
        .with_settings(runtime_model_settings(&settings.model));

    match &settings.retrieval {
        Some(retrieval) if retrieval.enabled => {
            let search = crate::retrieval::search_tool(settings, retrieval).await?;
            shared_tools.fixed.push(search.clone());
            agent = agent.with_tool(search);
        }
        Some(_) => {}
        None if settings.model.effective_provider() == ModelProviderKind::Demo => {
            // The demo is a convenience: if its documentation cannot be indexed (a read-only
            // working directory), the server still starts, without the search.
            match crate::demo_corpus::search_tool(settings).await {
                Ok(search) => {
                    shared_tools.fixed.push(search.clone());
                    agent = agent.with_tool(search);
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "demo: the documentation search is off, its index could not be built"
                ),
            }
        }
        None => {}
    }

    let mcp_is_demo = settings.mcp_servers.is_empty();
    let mcp_servers = if mcp_is_demo {
        demo_tools(settings)?.into_iter().collect()
    } else {
        settings.mcp_servers.clone()
    };
    let mcp = if mcp_servers.is_empty() {
        None
    } else {
        let manager = Arc::new(mcp_client::McpManager::new(mcp_servers)?);
        for failure in manager.connect_all().await {
            tracing::warn!(error = %failure, "an MCP server is not available yet; it will be retried");
        }
        // Asked per run, and kept current in the background: a server that was down at start-up
        // or restarted, and a `tools/list_changed`, reach the model on the next run.
        manager.supervise(Duration::from_secs(5));
        agent = agent.with_tool_source(manager.clone());
        shared_tools.sources.push(manager.clone());
        Some(manager)
    };
    if !settings.agents.is_empty() {
        // `[[agents]]` replaces the single agent; the tools above are theirs to share.
        agent = crate::agents::build(settings, &model, &shared_tools)?;
        tracing::info!(agent.name = %agent.name(), agents = settings.agents.len(), "several agents configured");
    }

    let metrics = Arc::new(http::metrics::Metrics::default());
    let server = AgentServer::new(
        agent,
        AgentServerConfig {
            history_items: agent_settings.history_items,
            tool_display: match agent_settings.tool_display.as_str() {
                "progress" => ToolDisplay::Progress,
                "hidden" => ToolDisplay::Hidden,
                _ => ToolDisplay::Workflow,
            },
            generate_titles: settings.generate_titles(),
            allowed_models: settings.model.allowed_models.clone(),
            citation_markers: settings
                .retrieval
                .as_ref()
                .map(crate::retrieval::RetrievalSettings::markers)
                .unwrap_or_default(),
            ..AgentServerConfig::default()
        },
    )
    .with_attachment_store(Arc::clone(&attachments))
    .with_observer(metrics.clone());
    let tools = mcp
        .clone()
        .map(|manager| manager as Arc<dyn crate::actions::ToolLookup>);
    let mut server = server;
    for action in configured_actions(settings, mcp_is_demo) {
        tracing::info!(action.kind = %action.kind, "widget action configured");
        let kind = action.kind.clone();
        server = server.with_action(
            kind,
            Arc::new(crate::actions::ConfiguredAction::new(action, tools.clone())),
        );
    }
    let server = match transcriber(settings)? {
        Some((transcriber, limits)) => server.with_transcriber(transcriber, limits),
        None => server,
    };
    let engine_config = EngineConfig {
        cancel_policy: if agent_settings.on_disconnect == "finish" {
            CancelPolicy::FinishInBackground
        } else {
            CancelPolicy::StopAndSavePartial
        },
        send_timeout: Duration::from_secs(settings.server.stream_write_timeout_secs),
        max_attachment_bytes: settings.attachments.max_bytes,
        allowed_attachment_types: settings.attachments.allowed_types.clone(),
        ..EngineConfig::default()
    };
    let mut engine = Engine::with_attachments(
        Arc::clone(&store),
        Arc::clone(&attachments),
        Arc::new(server),
        engine_config,
    );
    if settings.database.url.starts_with("postgres") {
        // Instances sharing the database take turns on a thread through it (ADR 0007), so no
        // sticky routing is needed.
        let lock = PgThreadLock::connect(PgThreadLockConfig {
            url: settings.database.url.clone(),
            namespace: settings
                .database
                .schema
                .clone()
                .unwrap_or_else(|| "public".to_owned()),
            max_connections: settings.database.thread_lock_connections,
            ping_when_idle_for: Duration::from_secs(settings.database.ping_when_idle_secs),
            ..PgThreadLockConfig::default()
        })
        .await
        .with_context(|| {
            format!(
                "opening the thread lock pool on {}",
                crate::settings::redact_url(&settings.database.url)
            )
        })?;
        engine = engine.with_thread_lock(Arc::new(lock));
    }
    Ok(Components {
        store,
        attachments,
        authenticator,
        mcp,
        engine,
        metrics,
        rate_limiter,
    })
}

/// The configured widget actions; with the demo's bundled todo tools and none configured, the
/// todo list widget's "complete" checkbox, so the demo's widget works out of the box.
fn configured_actions(settings: &Settings, mcp_is_demo: bool) -> Vec<ActionSettings> {
    if !settings.actions.is_empty() {
        return settings.actions.clone();
    }
    let demo_todo = mcp_is_demo
        && settings.demo.todo_tools
        && settings.model.effective_provider() == ModelProviderKind::Demo;
    if !demo_todo {
        return Vec::new();
    }
    vec![ActionSettings {
        kind: todo_mcp::COMPLETE_TASK_ACTION.to_owned(),
        tool: Some("complete_task".to_owned()),
        forward_to_model: false,
    }]
}

/// The demo's tool source: with the demo model and no configured MCP servers, this very binary's
/// `todo-mcp` subcommand as a stdio MCP server, so a newcomer sees a real tool call. The user id
/// argument is filled from the authenticated user, never by the model.
fn demo_tools(settings: &Settings) -> anyhow::Result<Option<mcp_client::McpServerConfig>> {
    if !settings.demo.todo_tools || settings.model.effective_provider() != ModelProviderKind::Demo {
        return Ok(None);
    }
    let program = std::env::current_exe().context("finding this program for the demo tools")?;
    tracing::info!(
        todo.db = %settings.demo.todo_db.display(),
        "demo: the bundled todo MCP server provides the tools (demo.todo_tools = false turns this off)"
    );
    Ok(Some(
        mcp_client::McpServerConfig::stdio(
            "todo",
            program.to_string_lossy().into_owned(),
            [
                "todo-mcp".to_owned(),
                "--db".to_owned(),
                settings.demo.todo_db.to_string_lossy().into_owned(),
            ],
        )
        .user_id_arguments(["user_id"]),
    ))
}

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    engine: Engine,
    mcp: Option<Arc<mcp_client::McpManager>>,
    grace: Duration,
    /// Tells open keep-alive connections to close when shutdown starts.
    closing: CancellationToken,
}

impl Application {
    /// Composes the server and binds its listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let components = compose(&settings).await?;
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("binding {}", settings.server.bind))?;
        Self::with_components(settings, components, listener)
    }

    /// Runs given components on a bound listener.
    pub fn with_components(
        settings: Settings,
        components: Components,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        if settings.metrics.enabled
            && settings.metrics_access() == crate::settings::MetricsAccess::Off
        {
            tracing::warn!(
                "/metrics is not served on a non-loopback bind without metrics.bearer_token \
                 (or metrics.allow_unauthenticated = true)"
            );
        }
        let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
        let state = web::Data::new(AppState {
            engine: components.engine.clone(),
            authenticator: Arc::clone(&components.authenticator),
            mcp: components.mcp.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            keep_alive: Duration::from_secs(settings.server.keep_alive_secs.max(1)),
            cors_origins: settings.server.cors_origins.clone(),
            metrics: Arc::clone(&components.metrics),
            metrics_access: settings.metrics_access(),
            rate_limiter: components.rate_limiter.clone(),
        });
        let path = settings.server.path.clone();
        // Built from actix's parts rather than `HttpServer` so that every connection is wrapped
        // in `JsonRefusals`: the refusals actix-http writes itself (431, 400, 408) must carry the
        // same JSON error body as every other refusal.
        let local_addr = listener.local_addr()?;
        let closing = CancellationToken::new();
        let connection_closing = closing.clone();
        let factory = move || {
            let app = App::new()
                .app_data(state.clone())
                .wrap_fn(http::observe)
                .configure(|cfg| http::configure(cfg, &path))
                .default_service(web::to(http::not_found));
            let closing = connection_closing.clone();
            actix_web::dev::fn_service(|stream: actix_web::rt::net::TcpStream| async move {
                // Streaming needs every frame on the wire at once; Nagle's algorithm delays
                // small writes behind the client's delayed ACK (measured: 44 ms instead of
                // 0.3 ms per first delta).
                let _ = stream.set_nodelay(true);
                let peer = stream.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    http::refusals::JsonRefusals::new(stream),
                    peer,
                ))
            })
            .and_then(
                actix_http::HttpService::build()
                    .local_addr(local_addr)
                    .graceful_shutdown_signal(move || closing.clone().cancelled_owned())
                    .h1(actix_service::map_config(app, |_| {
                        actix_web::dev::AppConfig::default()
                    })),
            )
        };
        let mut builder = actix_server::Server::build()
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_grace_secs + 10);
        if settings.server.workers > 0 {
            builder = builder.workers(settings.server.workers);
        }
        let server = builder.listen("chatkit", listener, factory)?.run();
        Ok(Self {
            port,
            server,
            engine: components.engine,
            mcp: components.mcp,
            grace,
            closing,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The engine (for tests and embedding).
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `stop` resolves, then shuts down gracefully: no new streams, running streams get
    /// the grace period to finish, then are cancelled (their partial output persisted).
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            result = &mut server => return Ok(result??),
            () = stop => {}
        }
        tracing::info!(
            streams.running = self.engine.running_streams(),
            "shutting down"
        );
        self.engine.close();
        self.closing.cancel();
        let stopping = tokio::spawn(handle.stop(true));
        if tokio::time::timeout(self.grace, self.engine.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                streams.running = self.engine.running_streams(),
                "grace period over: cancelling streams"
            );
            self.engine.shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(10), self.engine.wait_idle()).await;
        }
        let _ = stopping.await;
        server.await??;
        if let Some(mcp) = self.mcp {
            mcp.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The runtime's model settings from `[model]`.
pub(crate) fn runtime_model_settings(
    model: &crate::settings::ModelSettings,
) -> RuntimeModelSettings {
    let reasoning = (model.reasoning_effort.is_some() || model.reasoning_summary.is_some())
        .then_some(agent_runtime::ReasoningSettings {
            effort: model.reasoning_effort,
            summary: model.reasoning_summary,
        });
    RuntimeModelSettings {
        temperature: model.temperature,
        max_tokens: model.max_tokens,
        reasoning,
        top_p: model.top_p,
        seed: model.seed,
        stop: model.stop.clone(),
        store: model.store,
        include: model.include.clone(),
        metadata: model.metadata.clone(),
        extra_body: model.extra_body.clone(),
        hosted_tools: model.hosted_tools.tools(),
        ..RuntimeModelSettings::default()
    }
}
