//! The real application wiring on 127.0.0.1:0 with SQLite in a temporary directory, in this
//! process or in a child process the benchmark starts from its own executable.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chatkit_engine::{ChatKitServer, Engine, EngineConfig};
use chatkit_server::{Application, Settings};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Who answers the messages.
pub enum Responder {
    /// A hand-written responder: the model is out of the picture.
    Custom(Arc<dyn ChatKitServer>),
    /// A hand-written responder persisting to the in-memory store instead of SQLite, to show
    /// what the database costs.
    CustomInMemory(Arc<dyn ChatKitServer>),
    /// The bundled agent server, with an OpenAI-compatible model at this base URL.
    Agent { base_url: String },
    /// The bundled agent server on PostgreSQL (a fresh schema of [`database_url`]).
    AgentPostgres { base_url: String, schema: String },
}

pub use crate::postgres::{database_url, drop_schema, fresh_schema};

/// An application running in this process.
pub struct InProcessApp {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    finished: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl InProcessApp {
    /// Stops the app as SIGTERM would and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.finished)
            .await
            .context("the app did not stop in time")???;
        Ok(())
    }
}

/// Builds and starts the application: the same `compose` and `Application` the binary uses, with
/// the engine's responder swapped when `responder` is a custom one.
pub async fn start(responder: Responder) -> anyhow::Result<InProcessApp> {
    let dir = tempfile::tempdir()?;
    // Through the environment mapping, so that switches this version may not have are ignored
    // rather than failing to compile: no per-user rate limit (the benchmark is one user sending
    // thousands of turns), no title generation (the reference has none, and it would be an extra
    // model call per thread), no demo tool process.
    let overrides = [
        ("CHATKIT_RATE_LIMIT_PER_MINUTE", "0"),
        ("CHATKIT_GENERATE_TITLES", "false"),
        ("CHATKIT_DEMO_TODO_TOOLS", "false"),
    ];
    let mut settings = Settings::load(None, |name| {
        overrides
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })?;
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.server.shutdown_grace_secs = 1;
    settings.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("chatkit.db").display()
    );
    settings.attachments.dir = dir.path().join("attachments");
    // An experiment's knob: the SQLite pool's size (the server's default otherwise).
    if let Some(connections) = std::env::var("CHATKIT_BENCH_SQLITE_CONNECTIONS")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        settings.database.max_connections = connections;
    }
    if let Responder::AgentPostgres { schema, .. } = &responder {
        settings.database.url = database_url();
        settings.database.schema = Some(schema.clone());
        // Each stream in progress also holds a connection of the cross-instance thread lock's
        // pool (ADR 0007): 64 of those plus 24 for the store stay under PostgreSQL's default
        // limit of 100 connections. 24 is more than two cores keep busy.
        settings.database.max_connections = 24;
    }
    // A custom responder replaces the agent server, which is still composed: pointing it at an
    // address nothing listens on keeps the demo model (and anything it brings) out.
    settings.model.base_url = Some(match &responder {
        Responder::Agent { base_url } | Responder::AgentPostgres { base_url, .. } => {
            base_url.clone()
        }
        Responder::Custom(_) | Responder::CustomInMemory(_) => "http://127.0.0.1:9/v1".to_owned(),
    });
    settings.model.model = "fake-model".to_owned();
    settings.validate()?;
    let mut components = chatkit_server::compose(&settings).await?;
    match responder {
        Responder::Custom(server) => {
            components.engine = Engine::new(
                Arc::clone(&components.store),
                server,
                EngineConfig::default(),
            );
        }
        Responder::CustomInMemory(server) => {
            components.engine = Engine::new(
                Arc::new(chatkit_store::MemoryStore::new()),
                server,
                EngineConfig::default(),
            );
        }
        Responder::Agent { .. } | Responder::AgentPostgres { .. } => {}
    }
    let listener = std::net::TcpListener::bind(&settings.server.bind)?;
    let app = Application::with_components(settings, components, listener)?;
    let address = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let (stop, stopped) = oneshot::channel();
    let finished = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Ok(InProcessApp {
        address,
        stop: Some(stop),
        finished,
        _dir: dir,
    })
}

/// The environment variable that makes the benchmark executable a server instead.
pub const ROLE_VAR: &str = "CHATKIT_BENCH_SERVER_ROLE";
/// The model base URL handed to an `agent` child.
pub const MODEL_URL_VAR: &str = "CHATKIT_BENCH_MODEL_URL";
/// The PostgreSQL schema handed to an `agent-postgres` child.
pub const SCHEMA_VAR: &str = "CHATKIT_BENCH_SCHEMA";
const PORT_LINE: &str = "CHATKIT_BENCH_PORT=";

/// A server in a child process, so that its memory and CPU are its own.
pub struct ChildApp {
    pub address: SocketAddr,
    pub pid: u32,
    child: Child,
}

impl ChildApp {
    /// Starts this executable as a server with `role` (see [`child_main`]).
    pub async fn spawn(role: &str, model_url: Option<&str>) -> anyhow::Result<Self> {
        Self::spawn_with(role, model_url, None).await
    }

    /// As [`ChildApp::spawn`], on PostgreSQL's `schema` when one is given.
    pub async fn spawn_with(
        role: &str,
        model_url: Option<&str>,
        schema: Option<&str>,
    ) -> anyhow::Result<Self> {
        // `CHATKIT_BENCH_SERVER_WRAPPER` runs the server under a profiler (`heaptrack`, say).
        let mut command = match std::env::var("CHATKIT_BENCH_SERVER_WRAPPER") {
            Ok(wrapper) => {
                let mut command = Command::new(wrapper);
                command.arg(std::env::current_exe()?);
                command
            }
            Err(_) => Command::new(std::env::current_exe()?),
        };
        if let Some(schema) = schema {
            command.env(SCHEMA_VAR, schema);
        }
        command
            .env(ROLE_VAR, role)
            .env(
                "RUST_LOG",
                std::env::var("CHATKIT_BENCH_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = model_url {
            command.env(MODEL_URL_VAR, url);
        }
        let mut child = command.spawn().context("starting the server process")?;
        let pid = child.id().context("the server process has no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(line) = lines.next_line().await? else {
                bail!("the server process ended before it listened");
            };
            if let Some(port) = line.strip_prefix(PORT_LINE) {
                break port.trim().parse::<u16>()?;
            }
        };
        // The rest is the server's log; read it so that the pipe never fills and blocks it, and
        // show its warnings and errors (a failed turn says why there).
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ERROR") || line.contains("WARN") {
                    eprintln!("server: {line}");
                }
            }
        });
        Ok(Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            pid,
            child,
        })
    }

    /// Resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib_of(self.pid)
    }

    /// User plus system CPU time the server used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.pid))
    }

    /// Ends the server: closing its stdin makes it exit; it is killed if it does not.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
pub fn rss_kib_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// CPU time from a `/proc/.../stat` file: `utime` and `stime`, in clock ticks of 1/100 s (Linux's
/// `USER_HZ` on every common architecture).
pub fn cpu_time_of(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path)?;
    // The command name may hold spaces; the fields after it are positional.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a stat line without a command")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields.get(index).context("a short stat line")?.parse()?)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The child's main: serve with `role` until stdin closes, then exit at once (open streams and
/// all: the parent is done measuring).
pub fn child_main(role: &str) -> anyhow::Result<()> {
    // As the binary does: logs to stdout at `RUST_LOG`'s level.
    chatkit_server::telemetry::init(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let responder = match role {
            "immediate" => Responder::Custom(Arc::new(crate::responders::Immediate {
                words: crate::answer_words(),
            })),
            "immediate-memory" => {
                Responder::CustomInMemory(Arc::new(crate::responders::Immediate {
                    words: crate::answer_words(),
                }))
            }
            "idle" => Responder::Custom(Arc::new(crate::responders::Idle {
                release: Arc::new(tokio::sync::Notify::new()),
            })),
            "agent" => Responder::Agent {
                base_url: std::env::var(MODEL_URL_VAR).context("no model URL")?,
            },
            "agent-postgres" => Responder::AgentPostgres {
                base_url: std::env::var(MODEL_URL_VAR).context("no model URL")?,
                schema: std::env::var(SCHEMA_VAR).context("no schema")?,
            },
            "relay" => Responder::CustomInMemory(Arc::new(crate::responders::Relay {
                client: reqwest::Client::new(),
                url: format!(
                    "{}/chat/completions",
                    std::env::var(MODEL_URL_VAR).context("no model URL")?
                ),
            })),
            other => bail!("unknown server role {other}"),
        };
        let app = start(responder).await?;
        println!("{PORT_LINE}{}", app.address.port());
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 64];
        while stdin.read(&mut buffer).await? > 0 {}
        std::process::exit(0)
    })
}
