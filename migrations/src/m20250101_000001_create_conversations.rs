//! The first schema: conversations, messages, attachments and feedback.
//!
//! The DDL is written per backend rather than through the schema builder because the two
//! databases differ exactly where it matters to readers of the tables: PostgreSQL gets `JSONB` and
//! `TIMESTAMPTZ`, SQLite gets `TEXT` and `INTEGER`. Every key starts with `owner_id`, so no query
//! can reach another owner's rows by id alone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Creates the four tables and the indexes the paginated reads use.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250101_000001_create_conversations"
    }
}

const POSTGRES_UP: &[&str] = &[
    r#"CREATE TABLE conversations (
        owner_id TEXT NOT NULL,
        id TEXT NOT NULL,
        title TEXT,
        status TEXT NOT NULL DEFAULT 'active',
        status_reason TEXT,
        allowed_image_domains JSONB,
        metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
        created_at TIMESTAMPTZ NOT NULL,
        created_at_us BIGINT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        next_position BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (owner_id, id)
    )"#,
    "CREATE INDEX conversations_owner_created ON conversations (owner_id, created_at_us, id)",
    r#"CREATE TABLE messages (
        owner_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        id TEXT NOT NULL,
        position BIGINT NOT NULL,
        kind TEXT NOT NULL,
        role TEXT,
        content TEXT,
        item JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (owner_id, conversation_id, id),
        FOREIGN KEY (owner_id, conversation_id)
            REFERENCES conversations (owner_id, id) ON DELETE CASCADE
    )"#,
    "CREATE UNIQUE INDEX messages_conversation_position ON messages (owner_id, conversation_id, position)",
    r#"CREATE TABLE attachments (
        owner_id TEXT NOT NULL,
        id TEXT NOT NULL,
        thread_id TEXT,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        attachment JSONB NOT NULL,
        metadata JSONB,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (owner_id, id)
    )"#,
    r#"CREATE TABLE feedback (
        owner_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (owner_id, conversation_id, message_id),
        FOREIGN KEY (owner_id, conversation_id, message_id)
            REFERENCES messages (owner_id, conversation_id, id) ON DELETE CASCADE
    )"#,
];

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE conversations (
        owner_id TEXT NOT NULL,
        id TEXT NOT NULL,
        title TEXT,
        status TEXT NOT NULL DEFAULT 'active',
        status_reason TEXT,
        allowed_image_domains TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        created_at_us INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        next_position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (owner_id, id)
    ) WITHOUT ROWID"#,
    "CREATE INDEX conversations_owner_created ON conversations (owner_id, created_at_us, id)",
    r#"CREATE TABLE messages (
        owner_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        role TEXT,
        content TEXT,
        item TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (owner_id, conversation_id, id),
        FOREIGN KEY (owner_id, conversation_id)
            REFERENCES conversations (owner_id, id) ON DELETE CASCADE
    )"#,
    "CREATE UNIQUE INDEX messages_conversation_position ON messages (owner_id, conversation_id, position)",
    // SQLite has no UPDATE inside a WITH, so an item is appended by one INSERT ... SELECT that
    // takes `next_position + 1` and this trigger advances the counter in the same statement:
    // one round trip, atomic, and a failed insert leaves the counter alone.
    r#"CREATE TRIGGER messages_advance_position AFTER INSERT ON messages
    BEGIN
        UPDATE conversations SET next_position = NEW.position, updated_at = NEW.updated_at
        WHERE owner_id = NEW.owner_id AND id = NEW.conversation_id
            AND next_position < NEW.position;
    END"#,
    r#"CREATE TABLE attachments (
        owner_id TEXT NOT NULL,
        id TEXT NOT NULL,
        thread_id TEXT,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        attachment TEXT NOT NULL,
        metadata TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (owner_id, id)
    ) WITHOUT ROWID"#,
    r#"CREATE TABLE feedback (
        owner_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (owner_id, conversation_id, message_id),
        FOREIGN KEY (owner_id, conversation_id, message_id)
            REFERENCES messages (owner_id, conversation_id, id) ON DELETE CASCADE
    ) WITHOUT ROWID"#,
];

/// Dropped children first so that the foreign keys never block a rollback.
const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS feedback",
    "DROP TABLE IF EXISTS attachments",
    "DROP TABLE IF EXISTS messages",
    "DROP TABLE IF EXISTS conversations",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            DbBackend::Sqlite => SQLITE_UP,
            other => {
                return Err(DbErr::Migration(format!(
                    "chatkit-store supports PostgreSQL and SQLite, not {other:?}"
                )));
            }
        };
        let connection = manager.get_connection();
        for statement in statements {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in DOWN {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    /// SQLite would otherwise run each statement on its own, and a failure half-way would leave
    /// a schema that neither the old nor the new server understands.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
