//! The authenticated identity handed to the rest of the server.

use serde::{Deserialize, Serialize};

/// Who made a request, as established by an [`Authenticator`](crate::Authenticator).
///
/// `user_id` is the stable key the stores use to isolate one user's threads from another's; for a
/// JWT it is the `sub` claim. `email` and `name` are copied from the claims of the same name when
/// they are strings (Better Auth puts them in its JWTs by default) and are for display only: never
/// use them to decide access, since they may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    /// The stable user identifier (the JWT `sub` claim).
    pub user_id: String,
    /// The user's e-mail address, when the token carries one.
    pub email: Option<String>,
    /// The user's display name, when the token carries one.
    pub name: Option<String>,
    /// Every other claim of the token (`iss`, `aud`, `exp`, `iat`, custom claims...), so an
    /// application can read what this crate does not model.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Principal {
    /// Creates a principal with only a user id, for development users and tests.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            email: None,
            name: None,
            claims: serde_json::Map::new(),
        }
    }

    /// Sets the e-mail address, so a development user can look like a real one.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the display name, so a development user can look like a real one.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
