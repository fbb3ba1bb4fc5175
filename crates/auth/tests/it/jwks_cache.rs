//! The JWKS cache against a real endpoint: refetch on unknown `kid`, rotation, single-flight,
//! rate limiting and periodic refresh, asserted through the endpoint's fetch counter.

use std::time::Duration;

use auth::{AuthError, Authenticator, JwksConfig, JwtAuthenticator, JwtConfig, KeySource};
use serde_json::json;

use crate::support::{JwksServer, TestKey, advance_clock, claims, jwks_document, pem};

fn authenticator(
    server: &JwksServer,
    min_refetch: Duration,
    refresh: Duration,
) -> JwtAuthenticator {
    JwtAuthenticator::new(
        KeySource::Jwks(
            JwksConfig::new(&server.url)
                .with_min_refetch_interval(min_refetch)
                .with_refresh_interval(refresh),
        ),
        JwtConfig::default(),
    )
    .expect("builds")
}

/// No rate limit, so every count below is due to the cache logic alone.
fn unlimited(server: &JwksServer) -> JwtAuthenticator {
    authenticator(server, Duration::ZERO, Duration::from_secs(3600))
}

fn key_a() -> TestKey {
    TestKey::ed25519("key-a", pem::ED25519_A_PRIVATE)
}

fn key_b() -> TestKey {
    TestKey::ed25519("key-b", pem::ED25519_B_PRIVATE)
}

#[tokio::test]
async fn keys_are_fetched_once_and_then_served_from_the_cache() {
    let a = key_a();
    let server = JwksServer::start(&[&a]).await;
    let authenticator = unlimited(&server);
    for _ in 0..5 {
        authenticator
            .authenticate(Some(&a.sign(&claims("u"))))
            .await
            .expect("valid");
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_unknown_kid_is_rejected_after_exactly_one_refetch() {
    let a = key_a();
    let server = JwksServer::start(&[&a]).await;
    let authenticator = unlimited(&server);
    authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect("warm-up");
    assert_eq!(server.fetches(), 1);

    let stranger = TestKey::ed25519("not-published", pem::ED25519_C_PRIVATE);
    assert_eq!(
        authenticator
            .authenticate(Some(&stranger.sign(&claims("u"))))
            .await,
        Err(AuthError::UnknownKey {
            kid: Some("not-published".into())
        })
    );
    assert_eq!(
        server.fetches(),
        2,
        "exactly one refetch for the unknown kid"
    );
}

#[tokio::test]
async fn a_rotated_in_key_is_picked_up_and_a_rotated_out_key_is_dropped() {
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(&[&a]).await;
    let authenticator = unlimited(&server);
    let token_a = a.sign(&claims("u"));
    authenticator
        .authenticate(Some(&token_a))
        .await
        .expect("key a");

    server.publish(&[&b]);
    let principal = authenticator
        .authenticate(Some(&b.sign(&claims("rotated"))))
        .await
        .expect("the new key is fetched on sight of its kid");
    assert_eq!(principal.user_id, "rotated");
    assert_eq!(server.fetches(), 2);

    assert_eq!(
        authenticator.authenticate(Some(&token_a)).await,
        Err(AuthError::UnknownKey {
            kid: Some("key-a".into())
        }),
        "key a is no longer published"
    );
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn concurrent_unknown_kid_tokens_share_one_fetch() {
    const CONCURRENT: usize = 16;
    let (a, b) = (key_a(), key_b());
    let mut server = JwksServer::start(&[&a]).await;
    let authenticator = unlimited(&server);
    authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect("warm-up");
    assert_eq!(server.next_arrival().await, 1);

    // Hold the endpoint's answer so that every verification is in flight at once.
    server.hold_responses();
    server.publish(&[&a, &b]);
    let token_b = b.sign(&claims("concurrent"));
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let authenticator = authenticator.clone();
            let token = token_b.clone();
            tokio::spawn(async move { authenticator.authenticate(Some(&token)).await })
        })
        .collect();
    assert_eq!(
        server.next_arrival().await,
        2,
        "the first refetch reaches the endpoint"
    );
    // Let every other task run up to where it would fetch, before the held answer goes out.
    for _ in 0..CONCURRENT * 4 {
        tokio::task::yield_now().await;
    }
    server.release_responses();
    for task in tasks {
        let principal = task
            .await
            .expect("task")
            .expect("accepted after the shared fetch");
        assert_eq!(principal.user_id, "concurrent");
    }
    assert_eq!(
        server.fetches(),
        2,
        "one fetch served {CONCURRENT} verifications"
    );
}

#[tokio::test]
async fn refetches_are_rate_limited() {
    let (a, b) = (key_a(), key_b());
    let server = JwksServer::start(&[&a]).await;
    let authenticator = authenticator(&server, Duration::from_secs(10), Duration::from_secs(3600));
    authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect("warm-up");
    assert_eq!(server.fetches(), 1);

    let unknown = TestKey::ed25519("unknown", pem::ED25519_C_PRIVATE).sign(&claims("u"));
    for _ in 0..5 {
        assert!(matches!(
            authenticator.authenticate(Some(&unknown)).await,
            Err(AuthError::UnknownKey { .. })
        ));
    }
    assert_eq!(
        server.fetches(),
        1,
        "within 10 s of the last fetch nothing is refetched"
    );

    advance_clock(Duration::from_secs(11)).await;
    assert!(authenticator.authenticate(Some(&unknown)).await.is_err());
    assert_eq!(
        server.fetches(),
        2,
        "after the interval one refetch is allowed"
    );

    // Even a genuinely new key waits for the interval.
    server.publish(&[&a, &b]);
    let token_b = b.sign(&claims("u"));
    assert!(matches!(
        authenticator.authenticate(Some(&token_b)).await,
        Err(AuthError::UnknownKey { .. })
    ));
    assert_eq!(server.fetches(), 2);
    advance_clock(Duration::from_secs(11)).await;
    authenticator
        .authenticate(Some(&token_b))
        .await
        .expect("new key after the interval");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn a_stale_set_is_refreshed_on_use_and_kept_if_the_refresh_fails() {
    let a = key_a();
    let server = JwksServer::start(&[&a]).await;
    let authenticator = authenticator(&server, Duration::from_secs(1), Duration::from_secs(60));
    let token = a.sign(&claims("u"));
    authenticator
        .authenticate(Some(&token))
        .await
        .expect("first");
    authenticator
        .authenticate(Some(&token))
        .await
        .expect("cached");
    assert_eq!(server.fetches(), 1);

    advance_clock(Duration::from_secs(61)).await;
    authenticator
        .authenticate(Some(&token))
        .await
        .expect("after refresh");
    assert_eq!(server.fetches(), 2, "a stale set is refetched on use");

    server.set_status(503);
    advance_clock(Duration::from_secs(61)).await;
    authenticator
        .authenticate(Some(&token))
        .await
        .expect("the previous keys stay in service when a refresh fails");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn an_unreachable_key_source_is_a_server_side_error() {
    let a = key_a();
    let server = JwksServer::start(&[&a]).await;
    server.set_status(500);
    let authenticator = unlimited(&server);
    let error = authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect_err("no keys can be loaded");
    assert_eq!(error.kind(), "key_source");
    assert!(!error.is_client_error());
    assert_eq!(
        authenticator
            .refresh_keys()
            .await
            .map_err(|error| error.kind()),
        Err("key_source")
    );

    server.set_status(200);
    assert_eq!(authenticator.refresh_keys().await, Ok(1));
    authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect("recovered");
}

#[tokio::test]
async fn unusable_entries_are_skipped_and_invalid_documents_refused() {
    let a = key_a();
    let server = JwksServer::start(&[&a]).await;
    let mut document = jwks_document(&[&a]);
    let keys = document["keys"].as_array_mut().expect("keys");
    keys.insert(
        0,
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}),
    );
    keys.insert(
        0,
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"}),
    );
    keys.insert(
        0,
        json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
    );
    server.publish_raw(document);
    let authenticator = unlimited(&server);
    assert_eq!(
        authenticator.refresh_keys().await,
        Ok(1),
        "only the Ed25519 key is usable"
    );
    authenticator
        .authenticate(Some(&a.sign(&claims("u"))))
        .await
        .expect("the good key still works");

    // An HS256 token naming the published symmetric entry is refused, never verified with it.
    let hmac = TestKey::hmac("hmac", b"secret-secret-secret-secret-secret");
    assert!(
        authenticator
            .authenticate(Some(&hmac.sign(&claims("u"))))
            .await
            .is_err()
    );

    server.publish_raw(json!({"not": "a jwks"}));
    assert_eq!(
        authenticator
            .refresh_keys()
            .await
            .map_err(|error| error.kind()),
        Err("key_source")
    );
}
