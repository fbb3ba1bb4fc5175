//! Several key sources in one authenticator: the todo app's migration from HS256 tokens to
//! Better Auth's EdDSA tokens, where both must pass during the switch, and nothing may cross from
//! one key family to the other.

use auth::{
    Algorithm, AuthError, Authenticator, JwksConfig, JwtAuthenticator, JwtConfig, KeySource,
    StaticKey,
};

use crate::support::{AUDIENCE, ISSUER, JwksServer, TestKey, claims, pem};

const LEGACY_SECRET: &str = "the-legacy-hs256-secret-of-the-todo-app";

fn strict_config() -> JwtConfig {
    JwtConfig::default()
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
}

fn migrating(server: &JwksServer) -> JwtAuthenticator {
    JwtAuthenticator::with_sources(
        [
            KeySource::Jwks(JwksConfig::new(&server.url)),
            KeySource::shared_secret(LEGACY_SECRET),
        ],
        strict_config(),
    )
    .expect("JWKS and shared secret together build")
}

#[tokio::test]
async fn eddsa_from_the_jwks_and_legacy_hs256_are_both_accepted() {
    let ed = TestKey::ed25519("better-auth-1", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&ed]).await;
    let authenticator = migrating(&server);

    let new_style = authenticator
        .authenticate(Some(&ed.sign(&claims("new-user"))))
        .await
        .expect("an EdDSA token from the JWKS passes");
    assert_eq!(new_style.user_id, "new-user");

    let legacy = TestKey::hmac("legacy", LEGACY_SECRET.as_bytes());
    let fetches_before = server.fetches();
    let old_style = authenticator
        .authenticate(Some(&legacy.sign(&claims("old-user"))))
        .await
        .expect("an HS256 token with the legacy secret passes");
    assert_eq!(old_style.user_id, "old-user");
    assert_eq!(
        server.fetches(),
        fetches_before,
        "an HS256 token never makes the JWKS be fetched"
    );

    assert_eq!(
        authenticator.usable_algorithms(),
        &[
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::HS256
        ]
    );
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_published_public_key_is_refused() {
    let ed = TestKey::ed25519("better-auth-1", pem::ED25519_A_PRIVATE);
    let rsa = TestKey::rsa("rsa-1");
    let server = JwksServer::start(&[&ed, &rsa]).await;
    let authenticator = migrating(&server);
    authenticator
        .authenticate(Some(&rsa.sign(&claims("warm-up"))))
        .await
        .expect("the RSA key works");

    // The confusion attack, now that HS256 is allowed at all: HMAC keyed with the bytes of a
    // public key everyone can read, from the PEM and from the JWKS document itself.
    let jwk_text = serde_json::to_string(&ed.public_jwk()).expect("json");
    let ed_x = ed.public_jwk()["x"].as_str().expect("x").to_owned();
    for public_bytes in [
        pem::RSA_PUBLIC.as_bytes(),
        pem::ED25519_A_PUBLIC.as_bytes(),
        jwk_text.as_bytes(),
        ed_x.as_bytes(),
    ] {
        for kid in ["rsa-1", "better-auth-1"] {
            let forged = TestKey::hmac(kid, public_bytes).sign(&claims("attacker"));
            assert_eq!(
                authenticator.authenticate(Some(&forged)).await,
                Err(AuthError::BadSignature),
                "HS256 is checked against the shared secret only"
            );
        }
    }
    // And an asymmetric token is never checked against the secret: an EdDSA header over an
    // HMAC signature made with the secret is refused.
    let hmac = TestKey::hmac("better-auth-1", LEGACY_SECRET.as_bytes());
    let confused = hmac.sign(&claims("attacker"));
    let mut parts: Vec<&str> = confused.split('.').collect();
    let ed_header = ed.sign(&claims("attacker"));
    parts[0] = ed_header.split('.').next().expect("header");
    assert_eq!(
        authenticator.authenticate(Some(&parts.join("."))).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn static_keys_are_tried_before_the_jwks_and_the_jwks_still_answers() {
    let rsa = TestKey::rsa("pinned");
    let ed = TestKey::ed25519("published", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&ed]).await;
    let authenticator = JwtAuthenticator::with_sources(
        [
            KeySource::StaticKeys(vec![
                StaticKey::from_pem(Algorithm::RS256, pem::RSA_PUBLIC).with_kid("pinned"),
            ]),
            KeySource::Jwks(JwksConfig::new(&server.url)),
            KeySource::shared_secret(LEGACY_SECRET),
        ],
        strict_config(),
    )
    .expect("three sources build");

    authenticator
        .authenticate(Some(&rsa.sign(&claims("pinned-user"))))
        .await
        .expect("the static key verifies its token");
    assert_eq!(
        server.fetches(),
        0,
        "a static key answered without the JWKS"
    );

    authenticator
        .authenticate(Some(&ed.sign(&claims("published-user"))))
        .await
        .expect("the JWKS verifies its token");
    authenticator
        .authenticate(Some(
            &TestKey::hmac("any", LEGACY_SECRET.as_bytes()).sign(&claims("legacy-user")),
        ))
        .await
        .expect("the secret verifies its token");

    // A key nobody configured or published: the most specific reason wins.
    let stranger = TestKey::ed25519("published", pem::ED25519_B_PRIVATE);
    assert_eq!(
        authenticator
            .authenticate(Some(&stranger.sign(&claims("x"))))
            .await,
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        authenticator.refresh_keys().await,
        Ok(3),
        "one static key, one secret, one published key"
    );
}

#[test]
fn no_source_and_bad_sources_are_refused_at_build_time() {
    let error = JwtAuthenticator::with_sources([], JwtConfig::default()).expect_err("no source");
    assert_eq!(error.kind(), "config");
    let error = JwtAuthenticator::with_sources(
        [
            KeySource::jwks("http://127.0.0.1:9/jwks"),
            KeySource::shared_secret("too-short"),
        ],
        JwtConfig::default(),
    )
    .expect_err("a short secret next to a JWKS is still refused, not ignored");
    assert_eq!(error.kind(), "config");
}
