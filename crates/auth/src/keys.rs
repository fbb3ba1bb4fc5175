//! Verification keys: what each one is, which algorithms it may verify, and how it is loaded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};

use crate::config::{Algorithm, Secret, StaticKey};
use crate::error::AuthError;

/// The smallest accepted RSA modulus: 2048 bits, the floor NIST has allowed since 2015.
const MIN_RSA_MODULUS_BYTES: usize = 2048 / 8;
/// The smallest accepted HMAC secret: as many bytes as the SHA-256 output, per RFC 7518 3.2.
const MIN_SECRET_BYTES: usize = 32;

/// The kind of key material, which fixes the algorithms it can possibly verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Ed25519,
    EcP256,
    EcP384,
    Rsa,
    Hmac,
}

impl KeyType {
    /// Whether a signature made with `algorithm` can come from a key of this type. This is what
    /// stops algorithm confusion: an `HS256` token never reaches a public key.
    pub(crate) fn fits(self, algorithm: Algorithm) -> bool {
        match self {
            KeyType::Ed25519 => algorithm == Algorithm::EdDSA,
            KeyType::EcP256 => algorithm == Algorithm::ES256,
            KeyType::EcP384 => algorithm == Algorithm::ES384,
            KeyType::Rsa => matches!(
                algorithm,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyType::Hmac => algorithm.is_symmetric(),
        }
    }

    fn default_algorithm(self) -> Algorithm {
        match self {
            KeyType::Ed25519 => Algorithm::EdDSA,
            KeyType::EcP256 => Algorithm::ES256,
            KeyType::EcP384 => Algorithm::ES384,
            KeyType::Rsa => Algorithm::RS256,
            KeyType::Hmac => Algorithm::HS256,
        }
    }
}

/// One key able to verify signatures, with the restrictions that come with it.
#[derive(Clone)]
pub(crate) struct VerificationKey {
    /// The key id tokens select the key by; `None` matches any token.
    pub(crate) kid: Option<String>,
    key_type: KeyType,
    /// The one algorithm the key was published or configured for, if any.
    pinned_algorithm: Option<Algorithm>,
    decoding_key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("pinned_algorithm", &self.pinned_algorithm)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// Whether a token signed with `algorithm` may be verified by this key.
    pub(crate) fn accepts(&self, algorithm: Algorithm) -> bool {
        self.key_type.fits(algorithm)
            && self
                .pinned_algorithm
                .is_none_or(|pinned| pinned == algorithm)
    }

    /// Whether the key may verify a token whose header names `kid`.
    pub(crate) fn matches_kid(&self, kid: Option<&str>) -> bool {
        match (&self.kid, kid) {
            (None, _) => true,
            (Some(own), Some(wanted)) => own == wanted,
            (Some(_), None) => true,
        }
    }

    /// The algorithms (out of all supported) that this key may verify.
    pub(crate) fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL
            .into_iter()
            .filter(|algorithm| self.accepts(*algorithm))
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding_key
    }

    /// Loads the shared HMAC secret.
    pub(crate) fn from_secret(secret: &Secret) -> Result<Self, AuthError> {
        if secret.expose().len() < MIN_SECRET_BYTES {
            return Err(AuthError::Config(format!(
                "the shared secret must be at least {MIN_SECRET_BYTES} bytes long"
            )));
        }
        let decoding_key = DecodingKey::from_secret(secret.expose())
            .map_err(|_| AuthError::Config("the shared secret is unusable".to_owned()))?;
        Ok(Self {
            kid: None,
            key_type: KeyType::Hmac,
            pinned_algorithm: None,
            decoding_key,
        })
    }

    /// Loads a configured PEM public key.
    pub(crate) fn from_static(key: &StaticKey) -> Result<Self, AuthError> {
        let label = key.kid.as_deref().unwrap_or("(no kid)");
        let unreadable = |_| {
            AuthError::Config(format!(
                "static key {label}: the PEM is not a {} public key",
                key.algorithm
            ))
        };
        let pem = key.pem.as_bytes();
        let (key_type, decoding_key) = match key.algorithm {
            Algorithm::EdDSA => (
                KeyType::Ed25519,
                DecodingKey::from_ed_pem(pem).map_err(unreadable)?,
            ),
            Algorithm::ES256 => (
                KeyType::EcP256,
                DecodingKey::from_ec_pem(pem).map_err(unreadable)?,
            ),
            Algorithm::ES384 => (
                KeyType::EcP384,
                DecodingKey::from_ec_pem(pem).map_err(unreadable)?,
            ),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => (
                KeyType::Rsa,
                DecodingKey::from_rsa_pem(pem).map_err(unreadable)?,
            ),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                return Err(AuthError::Config(format!(
                    "static key {label}: HMAC algorithms take a shared secret, not a PEM key"
                )));
            }
        };
        // The signature crate slices an Ed25519 key to 32 bytes without checking its length.
        if key_type == KeyType::Ed25519
            && decoding_key.try_get_as_bytes().map(<[u8]>::len) != Ok(32)
        {
            return Err(AuthError::Config(format!(
                "static key {label}: the PEM is not a 32-byte Ed25519 public key"
            )));
        }
        let verification_key = Self {
            kid: key.kid.clone(),
            key_type,
            pinned_algorithm: Some(key.algorithm),
            decoding_key,
        };
        verification_key
            .check_usable()
            .map_err(|reason| AuthError::Config(format!("static key {label}: {reason}")))?;
        Ok(verification_key)
    }

    /// Loads one entry of a JWKS document. An `Err` carries why the entry was skipped; the
    /// reason never contains key material.
    pub(crate) fn from_jwk_json(value: &serde_json::Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("the entry is not a JSON object")?;
        if let Some(public_key_use) = object.get("use").and_then(|value| value.as_str())
            && public_key_use != "sig"
        {
            return Err(format!("its use is {public_key_use:?}, not \"sig\""));
        }
        if let Some(operations) = object.get("key_ops").and_then(|value| value.as_array())
            && !operations
                .iter()
                .any(|operation| operation.as_str() == Some("verify"))
        {
            return Err("its key_ops do not include \"verify\"".to_owned());
        }
        let pinned_algorithm = match object.get("alg") {
            None => None,
            Some(serde_json::Value::String(name)) => {
                Some(Algorithm::from_name(name).ok_or_else(|| {
                    format!("its alg {name:?} is not a supported signature algorithm")
                })?)
            }
            Some(_) => return Err("its alg is not a string".to_owned()),
        };
        let kid = match object.get("kid") {
            None => None,
            Some(serde_json::Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err("its kid is not a string".to_owned()),
        };
        let jwk: Jwk = serde_json::from_value(value.clone())
            .map_err(|_| "it is not a valid JWK".to_owned())?;
        let (key_type, decoding_key) = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(parameters) => {
                if parameters.curve != EllipticCurve::Ed25519 {
                    return Err("its OKP curve is not Ed25519".to_owned());
                }
                expect_length(&parameters.x, 32, "x")?;
                let key = DecodingKey::from_ed_components(&parameters.x)
                    .map_err(|_| "its x is not base64url".to_owned())?;
                (KeyType::Ed25519, key)
            }
            AlgorithmParameters::EllipticCurve(parameters) => {
                let (key_type, coordinate_bytes) = match parameters.curve {
                    EllipticCurve::P256 => (KeyType::EcP256, 32),
                    EllipticCurve::P384 => (KeyType::EcP384, 48),
                    _ => return Err("its EC curve is not P-256 or P-384".to_owned()),
                };
                expect_length(&parameters.x, coordinate_bytes, "x")?;
                expect_length(&parameters.y, coordinate_bytes, "y")?;
                let key = DecodingKey::from_ec_components(&parameters.x, &parameters.y)
                    .map_err(|_| "its coordinates are not base64url".to_owned())?;
                (key_type, key)
            }
            AlgorithmParameters::RSA(parameters) => {
                let modulus = URL_SAFE_NO_PAD
                    .decode(parameters.n.as_bytes())
                    .map_err(|_| "its n is not base64url".to_owned())?;
                let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return Err("its RSA modulus is shorter than 2048 bits".to_owned());
                }
                let key = DecodingKey::from_rsa_components(&parameters.n, &parameters.e)
                    .map_err(|_| "its n or e is not base64url".to_owned())?;
                (KeyType::Rsa, key)
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err("symmetric keys are never taken from a JWKS".to_owned());
            }
            _ => return Err("its key type is not supported".to_owned()),
        };
        if let Some(pinned) = pinned_algorithm
            && !key_type.fits(pinned)
        {
            return Err(format!("its alg {pinned} does not fit its key type"));
        }
        let verification_key = Self {
            kid,
            key_type,
            pinned_algorithm,
            decoding_key,
        };
        verification_key.check_usable()?;
        Ok(verification_key)
    }

    /// Builds a verifier once so that a bad point or key is found at load time, not per request.
    fn check_usable(&self) -> Result<(), String> {
        let provider = CryptoProvider::try_get_default()
            .ok_or("no jsonwebtoken crypto provider is available")?;
        let algorithm = self
            .pinned_algorithm
            .unwrap_or(self.key_type.default_algorithm());
        (provider.verifier_factory)(&algorithm.to_jsonwebtoken(), &self.decoding_key)
            .map(|_| ())
            .map_err(|_| format!("it is not a valid {algorithm} key"))
    }
}

/// Checks a base64url field's decoded length, which also keeps short input away from code in
/// the signature crates that would index past its end.
fn expect_length(encoded: &str, expected: usize, field: &str) -> Result<(), String> {
    let decoded = URL_SAFE_NO_PAD
        .decode(encoded.as_bytes())
        .map_err(|_| format!("its {field} is not base64url"))?;
    if decoded.len() != expected {
        return Err(format!("its {field} is not {expected} bytes long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_ed25519_keys_are_skipped_instead_of_panicking() {
        let error = VerificationKey::from_jwk_json(
            &json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "short"}),
        )
        .expect_err("a 3-byte Ed25519 key must be refused");
        assert!(error.contains("32 bytes"), "{error}");
    }

    #[test]
    fn symmetric_and_encryption_keys_are_skipped() {
        assert!(
            VerificationKey::from_jwk_json(
                &json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0", "kid": "h"})
            )
            .is_err()
        );
        assert!(
            VerificationKey::from_jwk_json(&json!({"kty": "OKP", "crv": "Ed25519", "use": "enc",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
            .is_err()
        );
    }

    #[test]
    fn a_jwk_alg_that_does_not_fit_the_key_type_is_refused() {
        let error = VerificationKey::from_jwk_json(&json!({"kty": "OKP", "crv": "Ed25519",
            "alg": "RS256", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
        .expect_err("RS256 cannot be an Ed25519 key's algorithm");
        assert!(error.contains("does not fit"), "{error}");
    }

    #[test]
    fn short_secrets_are_refused() {
        let error = VerificationKey::from_secret(&Secret::new("short")).expect_err("too short");
        assert_eq!(error.kind(), "config");
    }

    #[test]
    fn key_types_fit_only_their_algorithms() {
        assert!(KeyType::Ed25519.fits(Algorithm::EdDSA));
        assert!(!KeyType::Ed25519.fits(Algorithm::HS256));
        assert!(!KeyType::Rsa.fits(Algorithm::HS256));
        assert!(KeyType::Rsa.fits(Algorithm::PS256));
        assert!(!KeyType::Hmac.fits(Algorithm::RS256));
        assert!(!KeyType::EcP256.fits(Algorithm::ES384));
    }
}
