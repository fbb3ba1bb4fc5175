//! Each supported key type accepts its own tokens and nothing it should not.

use auth::{
    Algorithm, AuthError, Authenticator, JwksConfig, JwtAuthenticator, JwtConfig, KeySource,
    StaticKey,
};
use serde_json::json;

use crate::support::{AUDIENCE, ISSUER, JwksServer, TestKey, claims, pem, raw_token};

const SECRET: &[u8] = b"a-shared-secret-of-at-least-32-bytes!!";

fn strict_config() -> JwtConfig {
    JwtConfig::default()
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
}

async fn jwks_authenticator(server: &JwksServer) -> JwtAuthenticator {
    JwtAuthenticator::new(
        KeySource::Jwks(JwksConfig::new(&server.url)),
        strict_config(),
    )
    .expect("JWKS authenticator builds")
}

#[tokio::test]
async fn eddsa_rs256_and_es256_tokens_from_a_jwks_are_accepted() {
    let ed = TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE);
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::p256("ec-1");
    let server = JwksServer::start(&[&ed, &rsa, &ec]).await;
    let authenticator = jwks_authenticator(&server).await;

    for (key, user) in [(&ed, "user-ed"), (&rsa, "user-rsa"), (&ec, "user-ec")] {
        let principal = authenticator
            .authenticate(Some(&key.sign(&claims(user))))
            .await
            .unwrap_or_else(|error| panic!("{:?} token rejected: {error}", key.algorithm));
        assert_eq!(principal.user_id, user);
        assert_eq!(
            principal.email.as_deref(),
            Some(format!("{user}@example.test").as_str())
        );
        assert_eq!(principal.name.as_deref(), Some("Ada Lovelace"));
    }
    assert_eq!(server.fetches(), 1, "one fetch serves all three keys");
}

#[tokio::test]
async fn static_pem_keys_verify_their_own_algorithm() {
    let authenticator = JwtAuthenticator::new(
        KeySource::StaticKeys(vec![
            StaticKey::from_pem(Algorithm::EdDSA, pem::ED25519_A_PUBLIC).with_kid("ed-1"),
            StaticKey::from_pem(Algorithm::RS256, pem::RSA_PUBLIC).with_kid("rsa-1"),
            StaticKey::from_pem(Algorithm::ES256, pem::P256_PUBLIC).with_kid("ec-1"),
        ]),
        strict_config(),
    )
    .expect("static keys load");
    for key in [
        TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE),
        TestKey::rsa("rsa-1"),
        TestKey::p256("ec-1"),
    ] {
        let principal = authenticator
            .authenticate(Some(&key.sign(&claims("static-user"))))
            .await
            .unwrap_or_else(|error| panic!("{:?} token rejected: {error}", key.algorithm));
        assert_eq!(principal.user_id, "static-user");
    }
    // A token signed by another Ed25519 key under a configured kid fails on the signature.
    let impostor = TestKey::ed25519("ed-1", pem::ED25519_B_PRIVATE);
    assert_eq!(
        authenticator
            .authenticate(Some(&impostor.sign(&claims("x"))))
            .await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn hs256_tokens_are_accepted_with_the_shared_secret_only() {
    let authenticator = JwtAuthenticator::new(
        KeySource::shared_secret(String::from_utf8(SECRET.to_vec()).expect("utf-8")),
        strict_config(),
    )
    .expect("secret loads");
    let good = TestKey::hmac("ignored", SECRET);
    let principal = authenticator
        .authenticate(Some(&good.sign(&claims("hs-user"))))
        .await
        .expect("HS256 token with the right secret");
    assert_eq!(principal.user_id, "hs-user");

    let wrong_secret = TestKey::hmac("ignored", b"another-secret-of-at-least-32-bytes!!!!");
    assert_eq!(
        authenticator
            .authenticate(Some(&wrong_secret.sign(&claims("hs-user"))))
            .await,
        Err(AuthError::BadSignature)
    );
    // An asymmetric token cannot be checked against a secret.
    let ed = TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE);
    assert_eq!(
        authenticator
            .authenticate(Some(&ed.sign(&claims("x"))))
            .await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "EdDSA".into()
        })
    );
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused_without_a_refetch() {
    let rsa = TestKey::rsa("rsa-1");
    let server = JwksServer::start(&[&rsa]).await;
    let authenticator = jwks_authenticator(&server).await;
    authenticator
        .authenticate(Some(&rsa.sign(&claims("warm-up"))))
        .await
        .expect("the RSA key works");

    // The classic confusion attack: HMAC over the token with the public key PEM as the secret.
    let forged = TestKey::hmac("rsa-1", pem::RSA_PUBLIC.as_bytes()).sign(&claims("attacker"));
    assert_eq!(
        authenticator.authenticate(Some(&forged)).await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "HS256".into()
        })
    );
    assert_eq!(
        server.fetches(),
        1,
        "a disallowed algorithm never causes a fetch"
    );

    let static_rsa = JwtAuthenticator::new(
        KeySource::StaticKeys(vec![StaticKey::from_pem(Algorithm::RS256, pem::RSA_PUBLIC)]),
        strict_config(),
    )
    .expect("static RSA key");
    assert_eq!(
        static_rsa.authenticate(Some(&forged)).await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "HS256".into()
        })
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let ed = TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&ed]).await;
    let authenticator = jwks_authenticator(&server).await;
    for alg in ["none", "None", "NONE"] {
        let unsigned = raw_token(
            &json!({"alg": alg, "kid": "ed-1"}),
            &claims("attacker"),
            b"",
        );
        assert_eq!(
            authenticator.authenticate(Some(&unsigned)).await,
            Err(AuthError::DisallowedAlgorithm { alg: alg.into() })
        );
    }
    assert_eq!(server.fetches(), 0, "no key is needed to refuse alg none");
}

#[tokio::test]
async fn a_jwk_published_for_one_algorithm_does_not_verify_another() {
    // The RSA key is published with alg RS256; a PS256 token made with the same private key must
    // fail even though PS256 is allowed and fits an RSA key.
    let rsa = TestKey::rsa("rsa-1");
    let server = JwksServer::start(&[&rsa]).await;
    let authenticator = jwks_authenticator(&server).await;
    let pss = rsa.sign_as(jsonwebtoken::Algorithm::PS256, &claims("user"));
    assert_eq!(
        authenticator.authenticate(Some(&pss)).await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "PS256".into()
        })
    );

    // An EdDSA header against an RSA key (same kid) is refused the same way.
    let ed_under_rsa_kid = TestKey::ed25519("rsa-1", pem::ED25519_A_PRIVATE).sign(&claims("user"));
    assert_eq!(
        authenticator.authenticate(Some(&ed_under_rsa_kid)).await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "EdDSA".into()
        })
    );
}

#[tokio::test]
async fn the_allow_list_narrows_what_keys_could_verify() {
    let rsa = TestKey::rsa("rsa-1");
    let ed = TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&rsa, &ed]).await;
    let authenticator = JwtAuthenticator::new(
        KeySource::Jwks(JwksConfig::new(&server.url)),
        strict_config().with_allowed_algorithms([Algorithm::EdDSA]),
    )
    .expect("builds");
    authenticator
        .authenticate(Some(&ed.sign(&claims("user"))))
        .await
        .expect("EdDSA allowed");
    assert_eq!(
        authenticator
            .authenticate(Some(&rsa.sign(&claims("user"))))
            .await,
        Err(AuthError::DisallowedAlgorithm {
            alg: "RS256".into()
        })
    );
}

#[test]
fn unusable_configurations_are_refused_at_build_time() {
    let config_error = |result: Result<JwtAuthenticator, AuthError>| {
        result.expect_err("configuration must be refused").kind()
    };
    assert_eq!(
        config_error(JwtAuthenticator::new(
            KeySource::shared_secret("short"),
            JwtConfig::default()
        )),
        "config"
    );
    assert_eq!(
        config_error(JwtAuthenticator::new(
            KeySource::StaticKeys(vec![StaticKey::from_pem(Algorithm::EdDSA, pem::RSA_PUBLIC)]),
            JwtConfig::default()
        )),
        "config"
    );
    assert_eq!(
        config_error(JwtAuthenticator::new(
            KeySource::StaticKeys(vec![StaticKey::from_pem(Algorithm::HS256, pem::RSA_PUBLIC)]),
            JwtConfig::default()
        )),
        "config"
    );
    assert_eq!(
        config_error(JwtAuthenticator::new(
            KeySource::StaticKeys(vec![]),
            JwtConfig::default()
        )),
        "config"
    );
    // Only HS256 allowed but only public keys configured: nothing could ever pass.
    assert_eq!(
        config_error(JwtAuthenticator::new(
            KeySource::jwks("http://127.0.0.1:9/jwks"),
            JwtConfig::default().with_allowed_algorithms([Algorithm::HS256])
        )),
        "config"
    );
}
