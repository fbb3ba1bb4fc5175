//! Typed configuration for [`JwtAuthenticator`](crate::JwtAuthenticator).

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// A JWS signature algorithm this crate can verify.
///
/// The token's header names an algorithm, but it never *chooses* one: a token is accepted only if
/// its `alg` is in [`JwtConfig::allowed_algorithms`] **and** fits the key that verifies it (an
/// Ed25519 key verifies only `EdDSA`, an RSA key only `RS*`/`PS*`, a shared secret only `HS*`,
/// and a key published or configured with an `alg` only that one). `none` is never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 signatures (Better Auth's default).
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// HMAC with SHA-256 (shared secret).
    HS256,
    /// HMAC with SHA-384 (shared secret).
    HS384,
    /// HMAC with SHA-512 (shared secret).
    HS512,
}

impl Algorithm {
    /// Every algorithm this crate supports, in no particular order of preference.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The name used in a JWS header's `alg` and a JWK's `alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Parses a JWS `alg` name exactly (case-sensitive, as RFC 7515 requires); `none` and unknown
    /// names give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == name)
    }

    /// Whether the algorithm uses a shared secret rather than a public key.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
            Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
            Algorithm::PS384 => jsonwebtoken::Algorithm::PS384,
            Algorithm::PS512 => jsonwebtoken::Algorithm::PS512,
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A shared secret whose `Debug` output is `[redacted]`, so it cannot leak through a logged
/// configuration struct, and whose bytes are overwritten with zeros when it is dropped, so a
/// later heap dump or reused allocation does not hold it. (The verification key built from it,
/// `jsonwebtoken`'s `DecodingKey`, zeroizes its own copy on drop too.)
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret (for example the value of `BETTER_AUTH_SECRET`, read by the binary).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret bytes, visible only inside the crate so nothing else can print them.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// Where the keys that verify token signatures come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// Public keys published as a JSON Web Key Set at a URL (Better Auth's JWT plugin serves one
    /// at `{BETTER_AUTH_URL}/api/auth/jwks`). Fetched lazily and cached; see [`JwksConfig`].
    Jwks(JwksConfig),
    /// One HMAC secret shared with the token issuer (`HS256` and friends). At least 32 bytes.
    SharedSecret(Secret),
    /// Public keys configured up front from PEM text, for issuers that publish no JWKS.
    StaticKeys(Vec<StaticKey>),
}

impl KeySource {
    /// Shorthand for [`KeySource::Jwks`] with default intervals.
    pub fn jwks(url: impl Into<String>) -> Self {
        KeySource::Jwks(JwksConfig::new(url))
    }

    /// Shorthand for [`KeySource::SharedSecret`].
    pub fn shared_secret(secret: impl Into<String>) -> Self {
        KeySource::SharedSecret(Secret::new(secret))
    }
}

/// How a JWKS is fetched and cached.
///
/// Refreshing is lazy: no background task runs. A verification that finds the cache older than
/// [`refresh_interval`](Self::refresh_interval), or finds no key for the token's `kid`, fetches
/// the set again before deciding. Concurrent verifications that need a fetch share one request
/// (single-flight), and fetches are never closer together than
/// [`min_refetch_interval`](Self::min_refetch_interval), so a flood of tokens with made-up `kid`s
/// cannot hammer the issuer. When a periodic refresh fails, the previously fetched keys stay in
/// use and the failure is logged.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// The JWKS URL, for Better Auth `{BETTER_AUTH_URL}/api/auth/jwks`.
    pub url: String,
    /// How old the cached set may grow before a verification refreshes it. Default: 10 minutes.
    pub refresh_interval: Duration,
    /// The least time between two fetches, whatever triggers them. Default: 10 seconds.
    pub min_refetch_interval: Duration,
    /// The timeout of one fetch, connection included. Default: 5 seconds.
    pub fetch_timeout: Duration,
    /// The largest JWKS document accepted, in bytes. Default: 256 KiB.
    pub max_document_bytes: usize,
}

impl JwksConfig {
    /// A configuration for `url` with the default intervals.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh_interval: Duration::from_secs(10 * 60),
            min_refetch_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
            max_document_bytes: 256 * 1024,
        }
    }

    /// Sets [`refresh_interval`](Self::refresh_interval).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Sets [`min_refetch_interval`](Self::min_refetch_interval).
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Sets [`fetch_timeout`](Self::fetch_timeout).
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }
}

/// One public key given as PEM text, pinned to the one algorithm it may verify.
#[derive(Debug, Clone)]
pub struct StaticKey {
    /// The algorithm this key verifies; it also says how to read the PEM (Ed25519 for `EdDSA`,
    /// P-256 for `ES256`, P-384 for `ES384`, RSA for `RS*`/`PS*`). `HS*` is refused: use
    /// [`KeySource::SharedSecret`].
    pub algorithm: Algorithm,
    /// The `kid` tokens name this key by. `None` lets the key verify tokens with any or no `kid`.
    pub kid: Option<String>,
    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`, or `RSA PUBLIC KEY` for RSA).
    pub pem: String,
}

impl StaticKey {
    /// A key without a `kid`.
    pub fn from_pem(algorithm: Algorithm, pem: impl Into<String>) -> Self {
        Self {
            algorithm,
            kid: None,
            pem: pem.into(),
        }
    }

    /// Sets the `kid` tokens must name to be verified by this key.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

/// How tokens are validated beyond their signature.
///
/// `exp` and `sub` are always required, `iss` and `aud` are required once configured, and `nbf`
/// is checked when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The accepted `iss` value. `None` skips the check; set it in production (Better Auth uses
    /// its base URL, `BETTER_AUTH_URL`, by default). Default: `None`.
    pub issuer: Option<String>,
    /// The audience this server must find in `aud`. `None` skips the check; set it in production
    /// (Better Auth uses its base URL by default). Default: `None`.
    pub audience: Option<String>,
    /// Tolerated clock skew between the issuer and this server, applied to `exp` and `nbf`.
    /// Default: 60 seconds, enough for unsynchronized clocks yet short next to Better Auth's
    /// 15-minute token lifetime.
    pub leeway: Duration,
    /// The algorithms a token may use, intersected with what each key allows. Default: `EdDSA`,
    /// `ES256`, `RS256`, `PS256` (what Better Auth can sign with) and `HS256` (shared secret).
    pub allowed_algorithms: Vec<Algorithm>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(60),
            allowed_algorithms: vec![
                Algorithm::EdDSA,
                Algorithm::ES256,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::HS256,
            ],
        }
    }
}

impl JwtConfig {
    /// Sets the required issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the required audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the clock leeway.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Replaces the algorithm allow-list.
    pub fn with_allowed_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.allowed_algorithms = algorithms.into_iter().collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let source = KeySource::shared_secret("super-secret-value-that-must-not-leak");
        let printed = format!("{source:?}");
        assert!(!printed.contains("super-secret"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn algorithm_names_round_trip_and_none_is_unknown() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(algorithm.as_str()), Some(algorithm));
        }
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("eddsa"), None);
    }
}
