//! The request context every store call carries.

/// Who is asking. Every [`Store`](crate::Store) method takes one, and every record a store
/// returns belongs to `owner_id`: records of other owners behave as if they did not exist.
///
/// The engine builds it from the authenticated user, never from anything the client sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreContext {
    /// The owner of the records: the authenticated user's stable id (for example a JWT `sub`).
    pub owner_id: String,
}

impl StoreContext {
    /// A context for `owner_id`.
    pub fn new(owner_id: impl Into<String>) -> Self {
        Self {
            owner_id: owner_id.into(),
        }
    }
}
