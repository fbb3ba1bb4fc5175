//! `todo-mcp-server`: the todo MCP server as a process, over stdio or streamable HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use todo_mcp::{FaultInjection, HttpOptions, TaskStore, TodoServer, TodoServerOptions};
use tracing_subscriber::EnvFilter;

/// Per-user todo tasks in SQLite, served as MCP tools.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Serve one session over stdin/stdout (the client spawns this process).
    #[arg(long, conflicts_with = "http", required_unless_present = "http")]
    stdio: bool,
    /// Serve streamable HTTP at `http://ADDRESS/mcp` (port 0 picks a free port; the bound address
    /// is printed on stdout as `listening on http://...`).
    #[arg(long, value_name = "ADDRESS")]
    http: Option<SocketAddr>,
    /// SQLite database file, created when missing.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Require `Authorization: Bearer <token>` on HTTP requests.
    #[arg(long, env = "TODO_MCP_BEARER_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// Fault injection for tests: calling this tool ends the process before it answers.
    #[arg(long, value_name = "TOOL")]
    crash_on: Option<String>,
    /// Fault injection for tests: offer the `debug_sleep` and `debug_enable_task_stats` tools.
    #[arg(long)]
    test_tools: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr: on stdio, stdout carries the protocol.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let store = TaskStore::open(&cli.db)
        .await
        .with_context(|| format!("opening {}", cli.db.display()))?;
    let options = TodoServerOptions {
        fault_injection: FaultInjection {
            crash_on_tool: cli.crash_on,
            test_tools: cli.test_tools,
        },
    };
    let server = TodoServer::new(store, options);
    match cli.http {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding {address}"))?;
            println!(
                "listening on http://{}{}",
                listener.local_addr()?,
                todo_mcp::MCP_PATH
            );
            let http_options = HttpOptions {
                bearer_token: cli.bearer_token,
            };
            let shutdown = async {
                // Without a signal handler there is nothing to wait for but the end of time.
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            server.serve_http(listener, http_options, shutdown).await?;
        }
        None => server.serve_stdio().await?,
    }
    Ok(())
}
