//! The crate's one error type.

/// Why a bearer token was not turned into a [`Principal`](crate::Principal).
///
/// The variants exist so the server log can say precisely what failed. The HTTP layer should not
/// forward any of this detail to the client: every variant maps to a plain `401 Unauthorized`
/// (with `WWW-Authenticate: Bearer`), because telling an attacker *which* check failed helps them.
/// Log [`AuthError::kind`] (a short, stable, secret-free code) and, when
/// [`AuthError::is_client_error`] is `false`, the `Display` text too, since the fault is then on
/// the server side (the JWKS endpoint is down, a key is unusable, the configuration is wrong).
///
/// No variant ever contains the token or a secret. Strings taken from the token header (`alg`,
/// `kid`) are shortened and stripped of control characters before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no bearer token, and this authenticator needs one.
    #[error("no bearer token was presented")]
    MissingToken,
    /// The token is not a well-formed compact JWS (three base64url parts, a JSON header and
    /// payload). The reason is a fixed description, never a piece of the token.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// The `exp` claim lies in the past, beyond the configured clock leeway.
    #[error("the token has expired")]
    Expired,
    /// The `nbf` claim lies in the future, beyond the configured clock leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The `iat` claim lies in the future, beyond the configured clock leeway: no honest issuer
    /// mints such a token.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// The signature does not verify with the key the token names.
    #[error("the token signature is invalid")]
    BadSignature,
    /// No configured or published key matches the token's `kid`, even after the key set was
    /// fetched again (or a refetch was not allowed yet by the rate limit).
    #[error("no key matches the token's key id {kid:?}")]
    UnknownKey {
        /// The sanitized `kid` from the token header, if it had one.
        kid: Option<String>,
    },
    /// The `iss` claim is not the configured issuer.
    #[error("the token was issued by an unexpected issuer")]
    WrongIssuer,
    /// The `aud` claim does not contain the configured audience (or the token has an audience
    /// while none is expected).
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The header's `alg` is not allowed: it is `none` or unknown, it is not in the configured
    /// allow-list, it does not fit the type of the selected key (an HMAC token against public
    /// keys), or it disagrees with the `alg` the key was published or configured with.
    #[error("the token algorithm {alg:?} is not allowed")]
    DisallowedAlgorithm {
        /// The sanitized `alg` from the token header.
        alg: String,
    },
    /// A required claim (`exp` or `sub`) is absent or not of the required JSON type.
    #[error("the token lacks the required claim {0:?}")]
    MissingClaim(String),
    /// A claim is present but unusable (for example `exp` is not a number or `sub` is empty).
    #[error("the token claim {0:?} has an invalid value")]
    InvalidClaim(String),
    /// The key set could not be fetched from the JWKS endpoint (network error, HTTP status,
    /// invalid document) and no usable cached key could stand in. This is a server-side fault.
    #[error("the signing keys could not be loaded: {0}")]
    KeySource(String),
    /// The configuration is unusable (an unparsable PEM key, a too-short shared secret, an empty
    /// algorithm allow-list...). Returned when an authenticator is built, never per request.
    #[error("the authenticator configuration is invalid: {0}")]
    Config(String),
}

impl AuthError {
    /// A short, stable, secret-free code naming the failure, meant for logs and metrics labels.
    ///
    /// The codes are part of the API: dashboards may match on them.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed(_) => "malformed",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::BadSignature => "bad_signature",
            AuthError::UnknownKey { .. } => "unknown_key",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::DisallowedAlgorithm { .. } => "disallowed_algorithm",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::InvalidClaim(_) => "invalid_claim",
            AuthError::KeySource(_) => "key_source",
            AuthError::Config(_) => "config",
        }
    }

    /// Whether the token (or its absence) is at fault, as opposed to the server.
    ///
    /// `false` means the key source or the configuration failed; the request is still refused
    /// with 401, but the server should log it at a louder level because no token could have
    /// passed.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, AuthError::KeySource(_) | AuthError::Config(_))
    }
}

/// Keeps a header value from the token printable and short before it goes into an error or a
/// log line: the token is attacker-controlled, and log lines must not be forgeable.
pub(crate) fn sanitize_header_value(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut sanitized: String = value
        .chars()
        .take(MAX_CHARS)
        .map(|character| {
            if character.is_ascii_graphic() {
                character
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > MAX_CHARS {
        sanitized.push('…');
    }
    sanitized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_failures_are_not_client_errors() {
        assert!(!AuthError::KeySource("down".into()).is_client_error());
        assert!(!AuthError::Config("bad".into()).is_client_error());
        assert!(AuthError::Expired.is_client_error());
        assert!(AuthError::UnknownKey { kid: None }.is_client_error());
    }

    #[test]
    fn header_values_are_shortened_and_made_printable() {
        assert_eq!(sanitize_header_value("key-1"), "key-1");
        assert_eq!(sanitize_header_value("a\nb c"), "a?b?c");
        let long = "x".repeat(100);
        let sanitized = sanitize_header_value(&long);
        assert_eq!(sanitized.chars().count(), 65);
        assert!(sanitized.ends_with('…'));
    }
}
