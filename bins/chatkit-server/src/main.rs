//! The bundled ChatKit backend server.

use std::path::PathBuf;

use anyhow::Context;
use chatkit_server::{Application, Settings, telemetry};
use clap::{Parser, Subcommand};

/// A self-hosted ChatKit backend.
#[derive(Debug, Parser)]
#[command(name = "chatkit-server", version, about)]
struct Cli {
    /// TOML configuration file (`CHATKIT_CONFIG`).
    #[arg(long, short, global = true, env = "CHATKIT_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration.
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Database URL, overriding the configuration.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// What to do (default: serve).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the ChatKit endpoint (the default).
    Serve,
    /// Validate the configuration and say what is wrong.
    CheckConfig,
    /// Apply database migrations and exit.
    Migrate,
    /// Build or update the search index of `[retrieval]` (only changed files are read again).
    Index {
        /// Folders to index; without any, `[[retrieval.sources]]`.
        paths: Vec<PathBuf>,
    },
    /// Run the bundled todo MCP server over stdio (the demo's tool source).
    TodoMcp {
        /// SQLite file for the tasks.
        #[arg(long, default_value = "data/todo.db")]
        db: PathBuf,
    },
}

fn load(cli: &Cli) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(cli.config.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(bind) = &cli.bind {
        settings.server.bind = bind.clone();
    }
    if let Some(url) = &cli.database_url {
        settings.database.url = url.clone();
    }
    settings.validate()?;
    Ok(settings)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are for the person at the terminal: the message and its causes on one line each,
    // not a backtrace (which `anyhow` would print whenever RUST_BACKTRACE is set).
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.as_ref().unwrap_or(&Command::Serve);
    if let Command::TodoMcp { db } = command {
        // Stdout belongs to the MCP protocol here: logs go to stderr.
        if let Some(parent) = db.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let store = todo_mcp::TaskStore::open(db).await?;
        return todo_mcp::serve_stdio(store).await.map_err(Into::into);
    }
    telemetry::init(std::env::var("CHATKIT_LOG_FORMAT").is_ok_and(|format| format == "json"));
    match command {
        Command::CheckConfig => {
            let settings = load(&cli)?;
            // Build the authenticator too: a too-short secret or an unreadable PEM must fail
            // here, not on the first request.
            chatkit_server::app::authenticator(&settings)?;
            println!("configuration is valid: {}", settings.describe());
            Ok(())
        }
        Command::Index { paths } => {
            let settings = load(&cli)?;
            chatkit_server::retrieval::index_command(&settings, paths).await
        }
        Command::Migrate => {
            let mut settings = load(&cli)?;
            settings.database.migrate_on_start = true;
            chatkit_server::app::open_store(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        _ => {
            let settings = load(&cli)?;
            tracing::info!(settings = %settings.describe(), "starting");
            let host = settings
                .server
                .bind
                .rsplit_once(':')
                .map(|(host, _)| host.to_owned())
                .unwrap_or_else(|| "127.0.0.1".to_owned());
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "listening");
            // On stdout, for people and for scripts that bind port 0 and need the real port.
            println!("listening on http://{host}:{}", app.port());
            app.run_until_stopped().await
        }
    }
}
