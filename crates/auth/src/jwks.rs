//! The JWKS cache: lazy refresh, refetch on unknown `kid`, single-flight and rate limiting.

use std::sync::Arc;

use parking_lot::RwLock;
use tokio::time::Instant;

use crate::config::JwksConfig;
use crate::error::AuthError;
use crate::keys::VerificationKey;

/// What the cache holds between fetches.
#[derive(Debug)]
struct CacheState {
    keys: Arc<[VerificationKey]>,
    /// Bumped after every completed fetch attempt, so a verification that waited for another
    /// one's fetch can tell that it happened and must not fetch again.
    generation: u64,
    /// When keys were last fetched successfully; `None` before the first success.
    fetched_at: Option<Instant>,
    /// When a fetch was last attempted, successful or not, for the rate limit.
    attempted_at: Option<Instant>,
}

/// A JWKS fetched over HTTP and cached in memory.
pub(crate) struct JwksCache {
    config: JwksConfig,
    client: reqwest::Client,
    state: RwLock<CacheState>,
    /// Held for the duration of a fetch: whoever holds it is the one fetching, everyone else
    /// needing a fetch waits on it and then reuses the result.
    fetch_gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JwksCache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub(crate) fn new(config: JwksConfig) -> Result<Self, AuthError> {
        if config.url.is_empty() {
            return Err(AuthError::Config("the JWKS URL is empty".to_owned()));
        }
        let client = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .build()
            .map_err(|error| {
                AuthError::Config(format!("the HTTP client cannot be built: {error}"))
            })?;
        Ok(Self {
            config,
            client,
            state: RwLock::new(CacheState {
                keys: Arc::from(Vec::new()),
                generation: 0,
                fetched_at: None,
                attempted_at: None,
            }),
            fetch_gate: tokio::sync::Mutex::new(()),
        })
    }

    /// Returns the key set to verify a token naming `kid` with, fetching it first when the cache
    /// is empty, stale, or lacks `kid` (and the rate limit allows).
    ///
    /// The caller still looks the key up: an `Ok` set may lack `kid` when a refetch did not find
    /// it or was not allowed yet.
    pub(crate) async fn keys_for(
        &self,
        kid: Option<&str>,
    ) -> Result<Arc<[VerificationKey]>, AuthError> {
        let (keys, seen_generation, fresh) = {
            let state = self.state.read();
            let fresh = state
                .fetched_at
                .is_some_and(|fetched_at| fetched_at.elapsed() < self.config.refresh_interval);
            (state.keys.clone(), state.generation, fresh)
        };
        let known = !keys.is_empty() && keys.iter().any(|key| key.matches_kid(kid));
        if fresh && known {
            return Ok(keys);
        }

        let _gate = self.fetch_gate.lock().await;
        let (keys, generation, attempted_at) = {
            let state = self.state.read();
            (state.keys.clone(), state.generation, state.attempted_at)
        };
        if generation != seen_generation {
            // Someone else fetched while we waited for the gate: their answer is ours.
            return Self::usable(keys);
        }
        if let Some(attempted_at) = attempted_at
            && attempted_at.elapsed() < self.config.min_refetch_interval
        {
            tracing::debug!(jwks.url = %self.config.url, "JWKS refetch skipped: rate limited");
            return Self::usable(keys);
        }

        let started = Instant::now();
        let outcome = self.fetch().await;
        let mut state = self.state.write();
        state.generation += 1;
        state.attempted_at = Some(Instant::now());
        match outcome {
            Ok(fetched) => {
                tracing::debug!(
                    jwks.url = %self.config.url,
                    jwks.keys = fetched.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "JWKS fetched"
                );
                state.keys = Arc::from(fetched);
                state.fetched_at = Some(Instant::now());
                Ok(state.keys.clone())
            }
            Err(error) => {
                tracing::warn!(
                    jwks.url = %self.config.url,
                    auth.error = error.kind(),
                    error = %error,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "JWKS fetch failed"
                );
                let still_known =
                    !state.keys.is_empty() && state.keys.iter().any(|key| key.matches_kid(kid));
                if still_known {
                    // A failed periodic refresh keeps the previous keys in service.
                    Ok(state.keys.clone())
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Forces a fetch now (still single-flight, not rate limited), for a startup check.
    pub(crate) async fn refresh(&self) -> Result<usize, AuthError> {
        let _gate = self.fetch_gate.lock().await;
        let outcome = self.fetch().await;
        let mut state = self.state.write();
        state.generation += 1;
        state.attempted_at = Some(Instant::now());
        let fetched = outcome?;
        let count = fetched.len();
        state.keys = Arc::from(fetched);
        state.fetched_at = Some(Instant::now());
        Ok(count)
    }

    fn usable(keys: Arc<[VerificationKey]>) -> Result<Arc<[VerificationKey]>, AuthError> {
        if keys.is_empty() {
            Err(AuthError::KeySource(
                "no JWKS has been loaded yet and a refetch is not allowed yet".to_owned(),
            ))
        } else {
            Ok(keys)
        }
    }

    async fn fetch(&self) -> Result<Vec<VerificationKey>, AuthError> {
        let mut response = self
            .client
            .get(&self.config.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| {
                AuthError::KeySource(format!("request failed: {}", error.without_url()))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuthError::KeySource(format!(
                "the endpoint answered HTTP {status}"
            )));
        }
        let limit = self.config.max_document_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(AuthError::KeySource(format!(
                "the document is larger than {limit} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| {
            AuthError::KeySource(format!("reading the body failed: {}", error.without_url()))
        })? {
            if body.len() + chunk.len() > limit {
                return Err(AuthError::KeySource(format!(
                    "the document is larger than {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// Reads a JWKS document, keeping every entry this crate can verify with and skipping (with a
/// log line) the others, so one exotic key does not take the whole set down.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerificationKey>, AuthError> {
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| AuthError::KeySource("the document is not JSON".to_owned()))?;
    let entries = document
        .get("keys")
        .and_then(|keys| keys.as_array())
        .ok_or_else(|| AuthError::KeySource("the document has no \"keys\" array".to_owned()))?;
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        match VerificationKey::from_jwk_json(entry) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                let kid = entry
                    .get("kid")
                    .and_then(|kid| kid.as_str())
                    .map(crate::error::sanitize_header_value);
                tracing::warn!(jwt.kid = ?kid, reason = %reason, "JWKS entry skipped");
            }
        }
    }
    if keys.is_empty() {
        return Err(AuthError::KeySource(
            "the document holds no usable signing key".to_owned(),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_without_usable_keys_are_refused() {
        assert_eq!(
            parse_jwks(b"not json").map(|keys| keys.len()),
            Err(AuthError::KeySource("the document is not JSON".to_owned()))
        );
        assert!(parse_jwks(br#"{"keys": []}"#).is_err());
        assert!(parse_jwks(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks(br#"{"nokeys": 1}"#).is_err());
    }

    #[test]
    fn usable_entries_survive_unusable_neighbours() {
        let document = br#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "good",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let keys = parse_jwks(document).expect("one key is usable");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("good"));
    }
}
