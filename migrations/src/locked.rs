//! Applying migrations under a database lock, so that instances starting together do not race.

use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};

use crate::Migrator;

/// Names the lock in `pg_advisory_xact_lock`; the schema is folded in so that deployments (or
/// tests) in separate schemas of one database never wait for each other.
const LOCK_NAMESPACE: &str = "chatkit.migrations";

/// Applies every pending migration exactly once, however many instances call it at the same
/// time.
///
/// On PostgreSQL the whole run happens in one transaction that first takes a transaction-level
/// advisory lock keyed by the current schema: the first caller migrates while the others wait
/// on the lock, and each of them then finds nothing pending. The lock is released by the
/// commit or rollback, and by PostgreSQL itself if the process dies mid-way (the transaction
/// rolls back, so a half-applied run leaves no trace). PostgreSQL's DDL is transactional, so
/// one transaction is also all-or-nothing for the schema; a future migration that cannot run
/// in a transaction (`CREATE INDEX CONCURRENTLY`) would need its own scheme.
///
/// On SQLite it is [`Migrator::up`]: SQLite is for one instance on one host (the file allows a
/// single writer at a time and is not shared between machines), so no other instance migrates
/// beside it. Two processes started together on one file are not a supported deployment.
pub async fn apply_pending_migrations(connection: &DatabaseConnection) -> Result<(), DbErr> {
    match connection.get_database_backend() {
        DatabaseBackend::Postgres => {
            let transaction = connection.begin().await?;
            transaction
                .execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(hashtext($1 || ':' || current_schema()))",
                    [LOCK_NAMESPACE.into()],
                ))
                .await?;
            Migrator::up(&transaction, None).await?;
            transaction.commit().await
        }
        _ => Migrator::up(connection, None).await,
    }
}
