//! Between Rust values and rows: column values from threads and items, and threads and items
//! decoded from rows, so that every statement of the store encodes and decodes the same way.

use chatkit_protocol::{FeedbackKind, ThreadItem, ThreadMetadata, ThreadStatus};
use chrono::{DateTime, Utc};
use sea_orm::{DbErr, QueryResult, SqlErr, Value};
use serde_json::{Map, Value as Json};

use super::{SeaOrmStore, SqlBackend};
use crate::{StoreContext, StoreError};

pub(super) fn map_db_err(error: DbErr) -> StoreError {
    if is_connection_lost(&error) {
        return StoreError::Unavailable(error.to_string());
    }
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(error.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// True when a statement failed because its connection went away (see
/// [`crate::connection_health::is_connection_lost`]); the store retries such a statement once
/// (`SeaOrmStore::execute`), and a second loss reaches the caller as `Unavailable`.
pub(super) fn is_connection_lost(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            crate::connection_health::is_connection_lost(error)
        }
        _ => false,
    }
}

pub(super) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub(super) fn is_foreign_key_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

pub(super) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not decode: {error}"))
}

pub(super) fn get<T: sea_orm::TryGetable>(
    row: &QueryResult,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get::<T>("", column)
        .map_err(|error| corrupt(column, error))
}

pub(super) fn json_value<T: serde::Serialize>(value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value)
        .map(Value::from)
        .map_err(|error| StoreError::InvalidInput(format!("cannot serialize: {error}")))
}

pub(super) fn null_json() -> Value {
    Value::Json(None)
}

pub(super) fn micros(ts: &DateTime<Utc>) -> i64 {
    ts.timestamp_micros()
}

pub(super) fn status_columns(status: &ThreadStatus) -> (&'static str, Option<String>) {
    match status {
        ThreadStatus::Active => ("active", None),
        ThreadStatus::Locked { reason } => ("locked", reason.clone()),
        ThreadStatus::Closed { reason } => ("closed", reason.clone()),
    }
}

pub(super) fn feedback_name(kind: FeedbackKind) -> &'static str {
    kind.as_str()
}

pub(super) fn parse_feedback(name: &str) -> Result<FeedbackKind, StoreError> {
    match name {
        "positive" => Ok(FeedbackKind::Positive),
        "negative" => Ok(FeedbackKind::Negative),
        other => Err(corrupt("feedback kind", other)),
    }
}

/// Placeholders `$first, $first+1, ...` for `count` values.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a `messages` row that are derived from the item.
pub(super) struct ItemColumns {
    pub(super) kind: &'static str,
    pub(super) role: Option<&'static str>,
    pub(super) content: Option<String>,
    pub(super) item: Value,
    pub(super) created_at: DateTime<Utc>,
}

impl ItemColumns {
    pub(super) fn of(item: &ThreadItem) -> Result<Self, StoreError> {
        Ok(Self {
            kind: item.kind(),
            role: item.role(),
            content: item.plain_text(),
            item: json_value(item)?,
            created_at: item.created_at(),
        })
    }
}

impl SeaOrmStore {
    pub(super) fn thread_from_row(&self, row: &QueryResult) -> Result<ThreadMetadata, StoreError> {
        let status_name: String = get(row, "status")?;
        let reason: Option<String> = get(row, "status_reason")?;
        let status = match status_name.as_str() {
            "active" => ThreadStatus::Active,
            "locked" => ThreadStatus::Locked { reason },
            "closed" => ThreadStatus::Closed { reason },
            other => return Err(corrupt("thread status", other)),
        };
        let domains: Option<String> = get(row, "allowed_image_domains")?;
        let allowed_image_domains = domains
            .map(|text| serde_json::from_str::<Vec<String>>(&text))
            .transpose()
            .map_err(|error| corrupt("allowed_image_domains", error))?;
        let metadata_text: String = get(row, "metadata")?;
        let metadata: Map<String, Json> =
            serde_json::from_str(&metadata_text).map_err(|error| corrupt("metadata", error))?;
        let created_at_us: i64 = get(row, "created_at_us")?;
        let created_at = DateTime::from_timestamp_micros(created_at_us)
            .ok_or_else(|| corrupt("created_at_us", created_at_us))?;
        Ok(ThreadMetadata {
            title: get(row, "title")?,
            id: get(row, "id")?,
            created_at,
            status,
            allowed_image_domains,
            metadata,
        })
    }

    pub(super) fn thread_columns(&self) -> String {
        format!(
            "id, title, status, status_reason, {}, {}, created_at_us",
            self.json_column("allowed_image_domains"),
            self.json_column("metadata")
        )
    }

    pub(super) fn item_from_row(row: &QueryResult) -> Result<ThreadItem, StoreError> {
        let text: String = get(row, "item")?;
        serde_json::from_str(&text).map_err(|error| corrupt("item", error))
    }

    pub(super) fn thread_values(
        &self,
        thread: &ThreadMetadata,
        ctx: &StoreContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<Value>, StoreError> {
        let (status, reason) = status_columns(&thread.status);
        let domains = match &thread.allowed_image_domains {
            Some(domains) => json_value(domains)?,
            None => null_json(),
        };
        Ok(vec![
            ctx.owner_id.clone().into(),
            thread.id.clone().into(),
            thread.title.clone().into(),
            status.into(),
            reason.into(),
            domains,
            json_value(&thread.metadata)?,
            thread.created_at.into(),
            micros(&thread.created_at).into(),
            now.into(),
        ])
    }

    /// How a JSON column is selected: PostgreSQL's JSONB is read back as text, so both backends
    /// decode the same way.
    pub(super) fn json_column(&self, column: &str) -> String {
        match self.backend {
            SqlBackend::Sqlite => column.to_owned(),
            SqlBackend::Postgres => format!("{column}::text AS {column}"),
        }
    }
}

/// The bound values of a `messages` row, in the column order `owner_id, conversation_id, id,
/// [position,] kind, role, content, item, created_at, updated_at`. `position` is left out when the
/// statement computes it from the thread's counter.
pub(super) fn item_row(
    ctx: &StoreContext,
    thread_id: &str,
    item: &ThreadItem,
    position: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, StoreError> {
    let columns = ItemColumns::of(item)?;
    let mut values = vec![
        ctx.owner_id.clone().into(),
        thread_id.into(),
        item.id().into(),
    ];
    values.extend(position.map(Value::from));
    values.extend([
        columns.kind.into(),
        columns.role.map(str::to_owned).into(),
        columns.content.into(),
        columns.item,
        columns.created_at.into(),
        now.into(),
    ]);
    Ok(values)
}
