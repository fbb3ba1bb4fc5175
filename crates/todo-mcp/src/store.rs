//! Per-user task storage in a SQLite file.
//!
//! Isolation contract: every operation takes the acting user's id, and a task that belongs to
//! another user behaves exactly like a task that does not exist (`Ok(None)` / `Ok(false)`), so a
//! caller cannot even learn that another user's task id is taken.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};

use crate::TodoMcpError;

/// One task as the tools return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Task {
    /// Task id, unique across all users.
    pub id: i64,
    /// Short title.
    pub title: String,
    /// Optional longer description.
    pub description: Option<String>,
    /// Whether the task is done.
    pub completed: bool,
    /// Creation time, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub created_at: String,
    /// Last change time, `YYYY-MM-DD HH:MM:SS` in UTC.
    pub updated_at: String,
}

/// Which tasks `list` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Pending and completed tasks.
    #[default]
    All,
    /// Tasks not completed yet.
    Pending,
    /// Completed tasks only.
    Completed,
}

/// Fields of a task that `update` may change; `None` leaves the field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Tasks of every user in one SQLite database. Cheap to clone (a shared connection pool).
#[derive(Debug, Clone)]
pub struct TaskStore {
    pool: SqlitePool,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    completed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS tasks_user_id ON tasks (user_id, id);";

/// The columns `task_from_row` reads; a macro so that queries stay string literals.
macro_rules! task_columns {
    () => {
        "id, title, description, completed, created_at, updated_at"
    };
}

impl TaskStore {
    /// Opens (creating when missing) the database file at `path` and its schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, TodoMcpError> {
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            // WAL lets a restarted server process open the file while an old one is still
            // shutting down, which the crash-and-restart path relies on.
            .journal_mode(SqliteJournalMode::Wal);
        Self::connect(options, 4).await
    }

    /// An empty database that lives in memory and disappears with the store.
    pub async fn in_memory() -> Result<Self, TodoMcpError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection: each in-memory connection would otherwise be its own database.
        Self::connect(options, 1).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        connections: u32,
    ) -> Result<Self, TodoMcpError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// Adds a task for `user_id` and returns it.
    pub async fn add(
        &self,
        user_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Task, TodoMcpError> {
        let row = sqlx::query(concat!(
            "INSERT INTO tasks (user_id, title, description) VALUES (?, ?, ?) RETURNING ",
            task_columns!()
        ))
        .bind(user_id)
        .bind(title)
        .bind(description)
        .fetch_one(&self.pool)
        .await?;
        task_from_row(&row)
    }

    /// The tasks of `user_id` matching `filter`, oldest first.
    pub async fn list(
        &self,
        user_id: &str,
        filter: StatusFilter,
    ) -> Result<Vec<Task>, TodoMcpError> {
        let completed: Option<i64> = match filter {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(0),
            StatusFilter::Completed => Some(1),
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE user_id = ?1 AND (?2 IS NULL OR completed = ?2) ORDER BY id"
        ))
        .bind(user_id)
        .bind(completed)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Marks a task of `user_id` completed; `None` when the user has no such task.
    pub async fn complete(
        &self,
        user_id: &str,
        task_id: i64,
    ) -> Result<Option<Task>, TodoMcpError> {
        let row = sqlx::query(concat!(
            "UPDATE tasks SET completed = 1, updated_at = CURRENT_TIMESTAMP
             WHERE id = ? AND user_id = ? RETURNING ",
            task_columns!()
        ))
        .bind(task_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Changes the given fields of a task of `user_id`; `None` when the user has no such task.
    pub async fn update(
        &self,
        user_id: &str,
        task_id: i64,
        update: &TaskUpdate,
    ) -> Result<Option<Task>, TodoMcpError> {
        let row = sqlx::query(concat!(
            "UPDATE tasks SET title = COALESCE(?, title), description = COALESCE(?, description),
             updated_at = CURRENT_TIMESTAMP WHERE id = ? AND user_id = ? RETURNING ",
            task_columns!()
        ))
        .bind(update.title.as_deref())
        .bind(update.description.as_deref())
        .bind(task_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Deletes a task of `user_id`; `false` when the user has no such task.
    pub async fn delete(&self, user_id: &str, task_id: i64) -> Result<bool, TodoMcpError> {
        let result = sqlx::query("DELETE FROM tasks WHERE id = ? AND user_id = ?")
            .bind(task_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// How many pending and completed tasks `user_id` has.
    pub async fn counts(&self, user_id: &str) -> Result<(i64, i64), TodoMcpError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(completed = 0), 0) AS pending, COALESCE(SUM(completed = 1), 0) AS done
             FROM tasks WHERE user_id = ?",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("pending")?, row.try_get("done")?))
    }
}

fn task_from_row(row: &SqliteRow) -> Result<Task, TodoMcpError> {
    Ok(Task {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        completed: row.try_get::<i64, _>("completed")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_are_isolated_per_user_and_filtered_by_status() {
        let store = TaskStore::in_memory().await.expect("store");
        let milk = store.add("alice", "Buy milk", None).await.expect("add");
        let bob_task = store
            .add("bob", "Walk dog", Some("at 6"))
            .await
            .expect("add");
        store
            .add("alice", "Call mom", Some("Sunday"))
            .await
            .expect("add");

        assert_eq!(
            store.complete("bob", milk.id).await.expect("complete"),
            None
        );
        assert!(!store.delete("bob", milk.id).await.expect("delete"));
        let done = store.complete("alice", milk.id).await.expect("complete");
        assert!(done.is_some_and(|task| task.completed));

        let pending = store
            .list("alice", StatusFilter::Pending)
            .await
            .expect("list");
        assert_eq!(
            pending.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
            ["Call mom"]
        );
        let completed = store
            .list("alice", StatusFilter::Completed)
            .await
            .expect("list");
        assert_eq!(
            completed.iter().map(|t| t.id).collect::<Vec<_>>(),
            [milk.id]
        );
        assert_eq!(
            store.list("bob", StatusFilter::All).await.expect("list"),
            std::slice::from_ref(&bob_task)
        );
        assert_eq!(store.counts("alice").await.expect("counts"), (1, 1));
        assert_eq!(store.counts("nobody").await.expect("counts"), (0, 0));

        let update = TaskUpdate {
            title: Some("Walk the dog".into()),
            description: None,
        };
        assert_eq!(
            store
                .update("alice", bob_task.id, &update)
                .await
                .expect("update"),
            None
        );
        let updated = store
            .update("bob", bob_task.id, &update)
            .await
            .expect("update");
        let updated = updated.expect("bob's task");
        assert_eq!(updated.title, "Walk the dog");
        assert_eq!(updated.description.as_deref(), Some("at 6"));
        assert!(store.delete("bob", bob_task.id).await.expect("delete"));
        assert!(
            store
                .list("bob", StatusFilter::All)
                .await
                .expect("list")
                .is_empty()
        );
    }
}
