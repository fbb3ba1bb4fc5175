//! The [`Retriever`] trait and its contract.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Passage, Query, RetrievalError};

/// Finds passages of your own content for a query.
///
/// # Contract
///
/// Every implementation (the embedded index, the HTTP retriever, the in-memory reference) keeps
/// these promises; [`conformance`](crate::conformance) checks them:
///
/// 1. **Validation.** A query with blank text or `k` outside `1..=MAX_K` is
///    [`RetrievalError::InvalidQuery`], checked before any work ([`Query::validate`]).
/// 2. **Ranking.** At most `k` passages come back, best first: scores never increase down the
///    list. No match is an empty list, not an error.
/// 3. **Visibility.** Only passages the query's [`Access`](crate::Access) allows come back
///    ([`Access::allows`](crate::Access::allows)): public ones, ones tagged with one of its grants,
///    and the user's own (`user:<id>`). Another user's private passage never comes back, whatever
///    the query text, filters or page say. Visibility is decided by the index, never by the model.
/// 4. **Filters.** Every metadata filter must hold for every passage returned.
/// 5. **Page boost.** When the query names a page, a passage from that page ranks above an
///    otherwise equally good passage from another page. The page is a ranking hint only.
/// 6. **Sources.** Every passage carries the title and location of its document.
///
/// Implementations are object-safe and shared as `Arc<dyn Retriever>`; calls may run
/// concurrently and must be cancel-safe (a tool call may be dropped when a run is cancelled).
#[async_trait]
pub trait Retriever: Send + Sync {
    /// Runs `query`.
    ///
    /// # Errors
    /// [`RetrievalError::InvalidQuery`] for a bad query; other variants when the index or the
    /// service fails.
    async fn retrieve(&self, query: &Query) -> Result<Vec<Passage>, RetrievalError>;
}

/// A shared, type-erased retriever.
pub type DynRetriever = Arc<dyn Retriever>;
