//! The `Authenticator` plug-in point and its development implementation.

use async_trait::async_trait;

use crate::{AuthError, Principal};

/// Turns the bearer token of a request into a [`Principal`].
///
/// The server holds one `Arc<dyn Authenticator>` and calls it for every request, so
/// implementations are `Send + Sync` and cheap to call concurrently.
///
/// # Contract
///
/// - `bearer_token` is the credential exactly as it followed `Bearer ` in the `Authorization`
///   header (see [`bearer_token`] to extract it), or `None` when the request carried none.
/// - `Ok(principal)` means the request may act as `principal.user_id`. The caller must scope every
///   store access to that id.
/// - `Err(_)` means the request is refused. The caller answers `401 Unauthorized` with no detail
///   whatever the variant, and logs [`AuthError::kind`]; see [`AuthError`].
/// - Implementations never log the token or any secret, and never panic on any input.
/// - A verdict depends only on the token, the configuration and the key set: calling twice with
///   the same token gives the same answer unless the token expired or the keys rotated meanwhile.
/// - The call may wait on I/O (a JWKS fetch) but never for longer than the implementation's
///   configured timeouts.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Verifies `bearer_token` and returns the user it identifies.
    async fn authenticate(&self, bearer_token: Option<&str>) -> Result<Principal, AuthError>;
}

/// Extracts the token from an `Authorization` header value of the form `Bearer <token>`.
///
/// The scheme name is matched case-insensitively (RFC 7235) and surrounding spaces are trimmed.
/// Returns `None` for another scheme or an empty token, which callers pass on as "no token".
pub fn bearer_token(authorization_header_value: &str) -> Option<&str> {
    let value = authorization_header_value.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// An authenticator for local development that lets every request in as one fixed user.
///
/// **For development only.** It ignores the token entirely (present, absent, valid or garbage),
/// so anyone who can reach the server acts as the configured user. The server should refuse to
/// start with it unless explicitly asked to and log a loud warning when it does.
#[derive(Debug, Clone)]
pub struct AnonymousAuthenticator {
    principal: Principal,
}

impl AnonymousAuthenticator {
    /// Creates an authenticator that maps every request to `principal`.
    pub fn new(principal: Principal) -> Self {
        Self { principal }
    }

    /// The user every request is mapped to.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

#[async_trait]
impl Authenticator for AnonymousAuthenticator {
    async fn authenticate(&self, _bearer_token: Option<&str>) -> Result<Principal, AuthError> {
        Ok(self.principal.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_trimmed() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token(""), None);
    }
}
