//! The query and passage types every [`Retriever`](crate::Retriever) speaks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::RetrievalError;

/// The largest `k` a query may ask for: a tool result is read by a model, and more passages than
/// this only cost tokens.
pub const MAX_K: usize = 50;

/// One retrieval request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// What to search for, as the model or user wrote it (not a query language).
    pub text: String,
    /// Who is asking, and what they may see.
    pub access: Access,
    /// The page the user is looking at, when the client reported it.
    pub page: Option<PageContext>,
    /// How many passages to return at most (1..=[`MAX_K`]).
    pub k: usize,
    /// Restrictions on the passages' metadata.
    pub filters: Filters,
}

impl Query {
    /// A query for `text` by `access`, with no page, no filters and `k` = 5.
    pub fn new(text: impl Into<String>, access: Access) -> Self {
        Self {
            text: text.into(),
            access,
            page: None,
            k: 5,
            filters: Filters::default(),
        }
    }

    /// Sets `k`.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Sets the page context.
    pub fn with_page(mut self, page: PageContext) -> Self {
        self.page = Some(page);
        self
    }

    /// Adds a metadata filter: only passages whose metadata has `key` = `value` come back.
    pub fn with_filter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters.metadata.insert(key.into(), value.into());
        self
    }

    /// Checks the parts every implementation must reject the same way.
    ///
    /// # Errors
    /// [`RetrievalError::InvalidQuery`] for blank text or `k` outside 1..=[`MAX_K`].
    pub fn validate(&self) -> Result<(), RetrievalError> {
        if self.text.trim().is_empty() {
            return Err(RetrievalError::InvalidQuery(
                "the query text is blank".into(),
            ));
        }
        if self.k == 0 || self.k > MAX_K {
            return Err(RetrievalError::InvalidQuery(format!(
                "k must be between 1 and {MAX_K}, not {}",
                self.k
            )));
        }
        Ok(())
    }
}

/// Who is asking and which restricted passages they may see.
///
/// Built by the server from the verified credential, never from anything the model or the
/// browser sent: this is the authorization input of retrieval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The acting user's id.
    pub user_id: String,
    /// Visibility tags the user holds besides their own `user:<id>` (e.g. `course:42`,
    /// `role:teacher`).
    pub grants: Vec<String>,
}

impl Access {
    /// Access for `user_id` with no grants: public passages and the user's own.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            grants: Vec::new(),
        }
    }

    /// Adds a grant.
    pub fn with_grant(mut self, tag: impl Into<String>) -> Self {
        self.grants.push(tag.into());
        self
    }

    /// Every tag this access matches: its grants and `user:<id>`.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = self.grants.clone();
        if !self.user_id.is_empty() {
            tags.push(format!("user:{}", self.user_id));
        }
        tags
    }

    /// Whether a passage with `visibility` may be shown to this user.
    pub fn allows(&self, visibility: &Visibility) -> bool {
        match visibility {
            Visibility::Public => true,
            Visibility::Restricted(tags) => {
                let own = self.tags();
                tags.iter().any(|tag| own.contains(tag))
            }
        }
    }
}

/// The page the user is on, as the client reported it (untrusted: used to rank, never to allow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageContext {
    /// The page's URL or path (`/courses/rust/ownership`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The page's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl PageContext {
    /// A page context naming `url`.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            title: None,
        }
    }

    /// The page's key for matching against passages (see [`page_key`]).
    pub fn key(&self) -> Option<String> {
        self.url
            .as_deref()
            .map(page_key)
            .filter(|key| !key.is_empty())
    }
}

/// Normalizes a URL or path to the form pages are matched by: the path only (no scheme, host,
/// query or fragment), without a trailing slash. `https://x.test/a/b/?q#h` and `/a/b` match.
pub fn page_key(url: &str) -> String {
    let without_fragment = url.split(['#', '?']).next().unwrap_or_default();
    let path = match without_fragment.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => without_fragment,
    };
    let trimmed = path.trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// Restrictions on which passages may come back, beyond visibility.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Every pair must be present in a passage's metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Filters {
    /// Whether `metadata` satisfies every filter.
    pub fn matches(&self, metadata: &BTreeMap<String, String>) -> bool {
        self.metadata
            .iter()
            .all(|(key, value)| metadata.get(key) == Some(value))
    }
}

/// Who may see a passage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone.
    #[default]
    Public,
    /// Only users holding at least one of these tags (`user:<id>` marks a private document).
    Restricted(Vec<String>),
}

impl Visibility {
    /// Parses tags as written in front matter: `public` (or nothing) is public, anything else a
    /// restricted tag.
    pub fn from_tags<I, S>(tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tags: Vec<String> = tags
            .into_iter()
            .map(|tag| tag.as_ref().trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect();
        if tags.is_empty() || tags.iter().any(|tag| tag == "public") {
            Self::Public
        } else {
            Self::Restricted(tags)
        }
    }

    /// The tags to index: `public` for public passages.
    pub fn index_tags(&self) -> Vec<String> {
        match self {
            Self::Public => vec!["public".to_owned()],
            Self::Restricted(tags) => tags.clone(),
        }
    }
}

/// Where a passage can be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceLocation {
    /// A web page (anchor included when the passage has one).
    Url(String),
    /// A file, by its path relative to the indexed folder.
    File(String),
}

/// What a passage comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassageSource {
    /// The document's title.
    pub title: String,
    /// Where to open it.
    pub location: SourceLocation,
    /// The heading path of the passage's section (`Auth > JWKS`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The section's anchor (`jwks`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Free metadata from the document (front matter keys, or the service's fields).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl PassageSource {
    /// The location's page key (see [`page_key`]); `None` for files.
    pub fn page_key(&self) -> Option<String> {
        match &self.location {
            SourceLocation::Url(url) => Some(page_key(url)),
            SourceLocation::File(_) => None,
        }
    }
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Stable id of the passage within its retriever (`docs/AUTH.md#3`).
    pub id: String,
    /// The passage text.
    pub text: String,
    /// Relevance; higher is better. Comparable only within one result list.
    pub score: f32,
    /// Where it comes from.
    pub source: PassageSource,
    /// Who may see it.
    pub visibility: Visibility,
}
