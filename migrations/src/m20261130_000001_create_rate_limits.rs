//! Rate-limit buckets in the database, so that several server instances on one database enforce
//! one limit together instead of each allowing the full rate.
//!
//! One row per key: the tokens left after the last call and when that was, in microseconds since
//! the Unix epoch. `granted` records whether that last call took a token, because `RETURNING`
//! sees only the new row and the store must tell a grant from a refusal in the same statement.
//! Rows are tiny and keyed by user, so the table stays as large as the set of users.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Creates `rate_limits`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000001_create_rate_limits"
    }
}

const POSTGRES_UP: &str = "CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at_us BIGINT NOT NULL,
    granted INTEGER NOT NULL
)";

const SQLITE_UP: &str = "CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    tokens REAL NOT NULL,
    updated_at_us INTEGER NOT NULL,
    granted INTEGER NOT NULL
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statement = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            DbBackend::Sqlite => SQLITE_UP,
            other => {
                return Err(DbErr::Migration(format!(
                    "chatkit-store supports PostgreSQL and SQLite, not {other:?}"
                )));
            }
        };
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS rate_limits")
            .await?;
        Ok(())
    }
}
