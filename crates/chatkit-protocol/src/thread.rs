//! Threads, their status, and pages of records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::items::ThreadItem;

/// A paginated collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The records of this page.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// Whether more records follow.
    #[serde(default)]
    pub has_more: bool,
    /// Cursor for the next page: the id of the last record of this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
            after: None,
        }
    }
}

/// Sort order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first (the reference's default).
    #[default]
    Desc,
}

/// Lifecycle state of a thread, tagged by `type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThreadStatus {
    /// Open for new messages.
    #[default]
    Active,
    /// Locked: the composer is disabled.
    Locked {
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Closed.
    Closed {
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// A thread without its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMetadata {
    /// Title, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Thread id (`thr_...`).
    pub id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Status.
    #[serde(default)]
    pub status: ThreadStatus,
    /// Image domains the client may load from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_image_domains: Option<Vec<String>>,
    /// Integration metadata. The reference never returns it to clients; see [`Thread`].
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl ThreadMetadata {
    /// A new active thread with no title.
    pub fn new(id: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self {
            title: None,
            id: id.into(),
            created_at,
            status: ThreadStatus::Active,
            allowed_image_domains: None,
            metadata: Map::new(),
        }
    }
}

/// A thread as clients receive it: its metadata (without the integration `metadata` map, which the
/// reference never sends) and a page of its visible items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Thread id.
    pub id: String,
    /// Creation time.
    #[serde(with = "crate::time::iso")]
    pub created_at: DateTime<Utc>,
    /// Status.
    #[serde(default)]
    pub status: ThreadStatus,
    /// Image domains the client may load from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_image_domains: Option<Vec<String>>,
    /// Integration metadata; always empty (`{}`) in server responses, as the reference sends it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// A page of items, hidden-context items removed.
    pub items: Page<ThreadItem>,
}

impl Thread {
    /// The client view of a thread: hidden items dropped, integration metadata left out.
    pub fn for_client(metadata: &ThreadMetadata, mut items: Page<ThreadItem>) -> Self {
        items.data.retain(|item| !item.is_hidden());
        Self {
            title: metadata.title.clone(),
            id: metadata.id.clone(),
            created_at: metadata.created_at,
            status: metadata.status.clone(),
            allowed_image_domains: metadata.allowed_image_domains.clone(),
            metadata: Map::new(),
            items,
        }
    }
}
