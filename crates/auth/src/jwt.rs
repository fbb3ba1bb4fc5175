//! `JwtAuthenticator`: verifies signed JWTs with keys from a JWKS, a shared secret or PEM files.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{TokenData, Validation};
use serde::Deserialize;
use tracing::Instrument as _;

use crate::config::{Algorithm, JwtConfig, KeySource};
use crate::error::{AuthError, sanitize_header_value};
use crate::jwks::JwksCache;
use crate::keys::VerificationKey;
use crate::{Authenticator, Principal};

/// Tokens longer than this are refused before any decoding, so a huge header cannot cost memory
/// or time. Better Auth tokens are well under 2 KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies bearer tokens that are signed JWTs (compact JWS) and maps them to a [`Principal`].
///
/// What a token must satisfy, in the order it is checked:
///
/// 1. It is a compact JWS of at most 16 KiB whose header is JSON with an `alg` and no `crit`.
/// 2. Its `alg` is in [`JwtConfig::allowed_algorithms`] and some configured key type can verify
///    it (so `none`, or `HS256` against public keys only, fails here without any key lookup).
/// 3. A key matches its `kid` (a key without `kid` matches every token; a token without `kid`
///    is tried against every key that accepts its `alg`). In JWKS mode an unknown `kid` makes
///    the cache fetch the set again first (see [`JwksConfig`](crate::JwksConfig)).
/// 4. That key accepts the `alg`: the key's type fits it and, if the JWK or the
///    [`StaticKey`](crate::StaticKey) names an `alg`, it is the same.
/// 5. The signature verifies.
/// 6. `exp` and `sub` (a non-empty string) are present; `exp` and, when present, `nbf` and
///    `iat` hold within [`JwtConfig::leeway`] (an `iat` in the future is refused as
///    [`AuthError::IssuedInFuture`]); when an issuer or audience is configured, `iss` or `aud`
///    must be present and match.
///
/// With several key sources ([`with_sources`](Self::with_sources)), steps 3 to 5 run per source
/// within the family the `alg` selects: shared secrets for `HS*`, static keys then JWKS for the
/// rest.
///
/// Failures are logged at `debug` with `auth.error` (the [`AuthError::kind`]) and the header's
/// `jwt.kid` and `jwt.alg`; key-source failures at `warn`. The token itself is never logged.
#[derive(Debug, Clone)]
pub struct JwtAuthenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: JwtConfig,
    /// Shared secrets: the only keys an `HS*` token is ever checked against.
    secrets: Vec<VerificationKey>,
    /// Configured public keys, tried before any JWKS for an asymmetric token.
    static_keys: Vec<VerificationKey>,
    /// Published key sets, consulted for asymmetric tokens only.
    jwks: Vec<JwksCache>,
    /// The allowed algorithms that at least one kind of configured key can verify.
    usable_algorithms: Vec<Algorithm>,
}

/// The header fields this crate reads; everything else is ignored.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

impl JwtAuthenticator {
    /// Builds an authenticator with one key source. Static keys and the secret are checked now;
    /// a JWKS is fetched lazily on the first verification (call
    /// [`refresh_keys`](Self::refresh_keys) to fail fast at startup instead).
    ///
    /// Fails with [`AuthError::Config`] when a key is unusable or no allowed algorithm fits any
    /// configured key.
    pub fn new(key_source: KeySource, config: JwtConfig) -> Result<Self, AuthError> {
        Self::with_sources([key_source], config)
    }

    /// Builds an authenticator that accepts tokens verified by any of several key sources, for
    /// example Better Auth's EdDSA keys from a JWKS next to a legacy `HS256` shared secret while
    /// an application migrates.
    ///
    /// Each token is checked only against the family its `alg` selects, never across families:
    /// an `HS*` token only against the shared secrets, an asymmetric token only against the
    /// static keys and then the JWKS (which is consulted only when no static key verified it).
    /// So adding a secret never lets an HMAC token "signed" with a published public key in.
    ///
    /// Fails with [`AuthError::Config`] when no source is given, a key is unusable, or no allowed
    /// algorithm fits any configured key.
    pub fn with_sources(
        key_sources: impl IntoIterator<Item = KeySource>,
        config: JwtConfig,
    ) -> Result<Self, AuthError> {
        let mut secrets = Vec::new();
        let mut static_keys = Vec::new();
        let mut jwks = Vec::new();
        let mut sources = 0_usize;
        for key_source in key_sources {
            sources += 1;
            match key_source {
                KeySource::Jwks(jwks_config) => jwks.push(JwksCache::new(jwks_config)?),
                KeySource::SharedSecret(secret) => {
                    secrets.push(VerificationKey::from_secret(&secret)?);
                }
                KeySource::StaticKeys(configured) => {
                    if configured.is_empty() {
                        return Err(AuthError::Config("no static key is configured".to_owned()));
                    }
                    for key in &configured {
                        static_keys.push(VerificationKey::from_static(key)?);
                    }
                }
            }
        }
        if sources == 0 {
            return Err(AuthError::Config("no key source is configured".to_owned()));
        }
        let mut possible_algorithms: Vec<Algorithm> = secrets
            .iter()
            .chain(&static_keys)
            .flat_map(VerificationKey::algorithms)
            .collect();
        if !jwks.is_empty() {
            possible_algorithms.extend(
                Algorithm::ALL
                    .into_iter()
                    .filter(|algorithm| !algorithm.is_symmetric()),
            );
        }
        let usable_algorithms: Vec<Algorithm> = config
            .allowed_algorithms
            .iter()
            .copied()
            .filter(|algorithm| possible_algorithms.contains(algorithm))
            .collect();
        if usable_algorithms.is_empty() {
            return Err(AuthError::Config(
                "no allowed algorithm can be verified with the configured keys".to_owned(),
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                secrets,
                static_keys,
                jwks,
                usable_algorithms,
            }),
        })
    }

    /// Fetches every JWKS now and returns how many usable keys all sources hold together
    /// (configured secrets and static keys count one each). Lets the server check its
    /// configuration at startup rather than on the first request.
    pub async fn refresh_keys(&self) -> Result<usize, AuthError> {
        let mut total = self.inner.secrets.len() + self.inner.static_keys.len();
        for cache in &self.inner.jwks {
            total += cache.refresh().await?;
        }
        Ok(total)
    }

    /// The algorithms a token may use with this configuration: the allow-list narrowed to what
    /// the configured keys can verify. `check-config` prints it so an operator sees every
    /// source in force.
    pub fn usable_algorithms(&self) -> &[Algorithm] {
        &self.inner.usable_algorithms
    }

    async fn verify(
        &self,
        token: &str,
        header_fields: &HeaderFields,
    ) -> Result<Principal, AuthError> {
        let algorithm = header_fields.algorithm;
        let kid = header_fields.kid.as_deref();
        // The family is chosen by the algorithm alone: an HMAC token never meets a public key
        // (the classic confusion attack), and an asymmetric token never meets a secret.
        let (fixed, published): (&[VerificationKey], &[JwksCache]) = if algorithm.is_symmetric() {
            (&self.inner.secrets, &[])
        } else {
            (&self.inner.static_keys, &self.inner.jwks)
        };
        let mut outcome = self.try_keys(token, fixed, kid, algorithm);
        for cache in published {
            match &outcome {
                // Only "no key here verified it" lets another source try; a key that verified
                // the signature has decided (expired, wrong issuer...).
                Err(error) if error_rank(error).is_some() => {}
                _ => break,
            }
            let keys = cache.keys_for(kid).await?;
            let next = self.try_keys(token, &keys, kid, algorithm);
            outcome = match (outcome, next) {
                (Err(previous), Err(next))
                    if error_rank(&next).is_some() && error_rank(&previous) > error_rank(&next) =>
                {
                    Err(previous)
                }
                (_, next) => next,
            };
        }
        let principal = outcome?;
        Ok(principal)
    }

    /// Tries one source's keys in order; see the type's documentation for the steps.
    fn try_keys(
        &self,
        token: &str,
        keys: &[VerificationKey],
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Principal, AuthError> {
        let mut candidates = keys.iter().filter(|key| key.matches_kid(kid)).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::UnknownKey {
                kid: kid.map(sanitize_header_value),
            });
        }
        let mut accepting = candidates.filter(|key| key.accepts(algorithm)).peekable();
        if accepting.peek().is_none() {
            return Err(AuthError::DisallowedAlgorithm {
                alg: algorithm.as_str().to_owned(),
            });
        }
        let validation = self.validation(algorithm);
        let mut last_error = AuthError::BadSignature;
        for key in accepting {
            match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                token,
                key.decoding_key(),
                &validation,
            ) {
                Ok(token_data) => {
                    return principal_from_claims(token_data, self.inner.config.leeway);
                }
                Err(error) => {
                    last_error = map_jsonwebtoken_error(error.kind());
                    // Only a signature mismatch means another key might fit; any other failure
                    // happened after a key verified the signature.
                    if last_error != AuthError::BadSignature {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let config = &self.inner.config;
        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        let mut required = vec!["exp", "sub"];
        if config.issuer.is_some() {
            required.push("iss");
        }
        if config.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation
    }

    /// Steps 1 and 2 of the checks: parse the header without trusting it, and refuse an
    /// algorithm before any key is looked up.
    fn read_header(&self, token: &str) -> Result<HeaderFields, (AuthError, Option<String>)> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err((AuthError::Malformed("the token is too long"), None));
        }
        let mut parts = token.split('.');
        let (Some(encoded_header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err((
                AuthError::Malformed("the token is not three dot-separated parts"),
                None,
            ));
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(encoded_header.as_bytes())
            .map_err(|_| (AuthError::Malformed("the header is not base64url"), None))?;
        let header: RawHeader = serde_json::from_slice(&header_bytes).map_err(|_| {
            (
                AuthError::Malformed("the header is not a JSON object"),
                None,
            )
        })?;
        let kid = match header.kid {
            None => None,
            Some(serde_json::Value::String(kid)) => Some(kid),
            Some(_) => return Err((AuthError::Malformed("the header kid is not a string"), None)),
        };
        if header.crit.is_some() {
            return Err((
                AuthError::Malformed("the header has critical extensions"),
                kid.as_deref().map(sanitize_header_value),
            ));
        }
        let Some(alg_name) = header.alg else {
            return Err((
                AuthError::Malformed("the header has no alg"),
                kid.as_deref().map(sanitize_header_value),
            ));
        };
        let algorithm = Algorithm::from_name(&alg_name)
            .filter(|algorithm| self.inner.usable_algorithms.contains(algorithm))
            .ok_or_else(|| {
                (
                    AuthError::DisallowedAlgorithm {
                        alg: sanitize_header_value(&alg_name),
                    },
                    kid.as_deref().map(sanitize_header_value),
                )
            })?;
        Ok(HeaderFields { algorithm, kid })
    }
}

/// The trusted-for-routing parts of a token header.
struct HeaderFields {
    algorithm: Algorithm,
    kid: Option<String>,
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, bearer_token: Option<&str>) -> Result<Principal, AuthError> {
        let span = tracing::debug_span!(
            "auth.authenticate",
            jwt.kid = tracing::field::Empty,
            jwt.alg = tracing::field::Empty
        );
        async {
            let Some(token) = bearer_token
                .map(str::trim)
                .filter(|token| !token.is_empty())
            else {
                log_rejection(&AuthError::MissingToken, None, None);
                return Err(AuthError::MissingToken);
            };
            let header_fields = match self.read_header(token) {
                Ok(header_fields) => header_fields,
                Err((error, kid)) => {
                    log_rejection(&error, kid.as_deref(), None);
                    return Err(error);
                }
            };
            let kid_for_logs = header_fields.kid.as_deref().map(sanitize_header_value);
            let current_span = tracing::Span::current();
            current_span.record("jwt.alg", header_fields.algorithm.as_str());
            if let Some(kid) = &kid_for_logs {
                current_span.record("jwt.kid", kid.as_str());
            }
            let outcome = self.verify(token, &header_fields).await;
            if let Err(error) = &outcome {
                log_rejection(
                    error,
                    kid_for_logs.as_deref(),
                    Some(header_fields.algorithm),
                );
            }
            outcome
        }
        .instrument(span)
        .await
    }
}

fn log_rejection(error: &AuthError, kid: Option<&str>, algorithm: Option<Algorithm>) {
    let alg = algorithm.map(Algorithm::as_str);
    if error.is_client_error() {
        tracing::debug!(auth.error = error.kind(), jwt.kid = kid, jwt.alg = alg, reason = %error, "bearer token rejected");
    } else {
        tracing::warn!(auth.error = error.kind(), jwt.kid = kid, jwt.alg = alg, reason = %error, "bearer token could not be verified");
    }
}

/// How specific a "this source has no key that verifies the token" failure is, so that with
/// several sources the most telling one is reported; `None` for failures that end the search.
fn error_rank(error: &AuthError) -> Option<u8> {
    match error {
        AuthError::UnknownKey { .. } => Some(0),
        AuthError::DisallowedAlgorithm { .. } => Some(1),
        AuthError::BadSignature => Some(2),
        _ => None,
    }
}

/// Refuses an `iat` later than now plus the leeway: the issuer's clock cannot be that far ahead,
/// so such a token was minted wrongly or by someone holding a key and planning ahead. `jsonwebtoken`
/// does not check `iat`, so this runs after its validation.
fn check_issued_at(
    claims: &serde_json::Map<String, serde_json::Value>,
    leeway: Duration,
) -> Result<(), AuthError> {
    let Some(issued_at) = claims.get("iat") else {
        return Ok(());
    };
    let Some(issued_at) = issued_at.as_f64().filter(|value| value.is_finite()) else {
        return Err(AuthError::InvalidClaim("iat".to_owned()));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0);
    if issued_at > now + leeway.as_secs_f64() {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(())
}

fn principal_from_claims(
    token_data: TokenData<serde_json::Map<String, serde_json::Value>>,
    leeway: Duration,
) -> Result<Principal, AuthError> {
    let mut claims = token_data.claims;
    check_issued_at(&claims, leeway)?;
    let user_id = match claims.remove("sub") {
        Some(serde_json::Value::String(sub)) if !sub.trim().is_empty() => sub,
        Some(_) => return Err(AuthError::InvalidClaim("sub".to_owned())),
        None => return Err(AuthError::MissingClaim("sub".to_owned())),
    };
    let mut take_string = |name: &str| match claims.remove(name) {
        Some(serde_json::Value::String(value)) => Some(value),
        Some(other) => {
            // Not a string: leave it where the application can still see it.
            claims.insert(name.to_owned(), other);
            None
        }
        None => None,
    };
    let email = take_string("email");
    let name = take_string("name");
    Ok(Principal {
        user_id,
        email,
        name,
        claims,
    })
}

fn map_jsonwebtoken_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => AuthError::DisallowedAlgorithm {
            alg: "(mismatch)".to_owned(),
        },
        ErrorKind::InvalidToken => AuthError::Malformed("the token is not a valid JWS"),
        ErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url"),
        ErrorKind::Json(_) => AuthError::Malformed("the payload is not a JSON object"),
        ErrorKind::Utf8(_) => AuthError::Malformed("a part is not UTF-8"),
        // Key-shaped failures cannot come from a well-formed token once the key was checked at
        // load time; a signature that cannot be parsed is a bad signature.
        _ => AuthError::BadSignature,
    }
}
