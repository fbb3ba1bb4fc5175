//! Runs the chatkit-store migrations on their own, so that an operator can migrate a database
//! before rolling out a server (which may also run them at start-up).

use std::process::ExitCode;

use chatkit_migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectOptions, Database};

const USAGE: &str =
    "usage: chatkit-migration [--database-url URL] [--schema NAME] <up|down|status|fresh>

  --database-url URL  database to migrate (default: $CHATKIT_DATABASE_URL, then $DATABASE_URL),
                      e.g. sqlite://chatkit.db?mode=rwc or postgres://user@host/db
  --schema NAME       PostgreSQL schema to migrate (sets the search_path)
  up                  apply every pending migration
  down                roll back the last applied migration
  status              list migrations and whether they are applied
  fresh               drop every table and apply all migrations (destroys data)";

struct Arguments {
    database_url: String,
    schema: Option<String>,
    command: String,
}

fn parse_arguments() -> Result<Arguments, String> {
    let mut database_url = None;
    let mut schema = None;
    let mut command = None;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--database-url" => database_url = arguments.next(),
            "--schema" => schema = arguments.next(),
            "-h" | "--help" => return Err(String::new()),
            other if command.is_none() && !other.starts_with('-') => {
                command = Some(other.to_owned())
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let database_url = database_url
        .or_else(|| std::env::var("CHATKIT_DATABASE_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("no database: pass --database-url or set CHATKIT_DATABASE_URL")?;
    Ok(Arguments {
        database_url,
        schema,
        command: command.ok_or("no command given")?,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut options = ConnectOptions::new(arguments.database_url);
    options.sqlx_logging(false);
    if let Some(schema) = &arguments.schema {
        options.set_schema_search_path(schema.clone());
    }
    let connection = match Database::connect(options).await {
        Ok(connection) => connection,
        Err(error) => {
            eprintln!("error: cannot connect to the database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match arguments.command.as_str() {
        "up" => chatkit_migration::apply_pending_migrations(&connection).await,
        "down" => Migrator::down(&connection, Some(1)).await,
        "status" => Migrator::status(&connection).await,
        "fresh" => Migrator::fresh(&connection).await,
        other => {
            eprintln!("error: unknown command `{other}`\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
