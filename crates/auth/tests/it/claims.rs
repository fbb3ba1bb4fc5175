//! Claim validation and the mapping of claims to a `Principal`, on Ed25519 keys from a JWKS.

use std::time::Duration;

use auth::{AuthError, Authenticator, JwksConfig, JwtAuthenticator, JwtConfig, KeySource};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{AUDIENCE, ISSUER, JwksServer, TestKey, claims, now, pem};

struct Fixture {
    server: JwksServer,
    key: TestKey,
    authenticator: JwtAuthenticator,
}

async fn fixture_with(config: JwtConfig) -> Fixture {
    let key = TestKey::ed25519("ed-1", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&key]).await;
    let authenticator =
        JwtAuthenticator::new(KeySource::Jwks(JwksConfig::new(&server.url)), config)
            .expect("builds");
    Fixture {
        server,
        key,
        authenticator,
    }
}

async fn fixture() -> Fixture {
    fixture_with(
        JwtConfig::default()
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE),
    )
    .await
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("object") {
        if value.is_null() {
            claims.as_object_mut().expect("object").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn claims_map_to_the_principal_and_the_rest_is_kept() {
    let fixture = fixture().await;
    let principal = fixture
        .authenticator
        .authenticate(Some(&fixture.key.sign(&claims("user-42"))))
        .await
        .expect("valid token");
    assert_eq!(principal.user_id, "user-42");
    assert_eq!(principal.email.as_deref(), Some("user-42@example.test"));
    assert_eq!(principal.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(principal.claims.get("role"), Some(&json!("admin")));
    assert_eq!(principal.claims.get("iss"), Some(&json!(ISSUER)));
    for mapped in ["sub", "email", "name"] {
        assert!(
            !principal.claims.contains_key(mapped),
            "{mapped} is mapped, not repeated"
        );
    }

    // email and name are optional.
    let bare = with(claims("user-7"), json!({"email": null, "name": null}));
    let principal = fixture
        .authenticator
        .authenticate(Some(&fixture.key.sign(&bare)))
        .await
        .expect("valid token without email or name");
    assert_eq!((principal.email, principal.name), (None, None));
}

#[tokio::test]
async fn time_claims_are_checked_with_the_leeway() {
    let fixture = fixture().await;
    let check = |claims: Value| {
        let token = fixture.key.sign(&claims);
        let authenticator = fixture.authenticator.clone();
        async move {
            authenticator
                .authenticate(Some(&token))
                .await
                .map(|p| p.user_id)
        }
    };
    let now = now();
    assert_eq!(
        check(with(claims("u"), json!({"exp": now - 3600}))).await,
        Err(AuthError::Expired)
    );
    assert_eq!(
        check(with(claims("u"), json!({"nbf": now + 3600}))).await,
        Err(AuthError::NotYetValid)
    );
    // Within the default 60 s leeway, both pass.
    assert_eq!(
        check(with(claims("u"), json!({"exp": now - 20}))).await,
        Ok("u".to_owned())
    );
    assert_eq!(
        check(with(claims("u"), json!({"nbf": now + 20}))).await,
        Ok("u".to_owned())
    );

    // A token issued an hour from now is refused even though `exp` and `nbf` would pass; one
    // issued within the leeway (clocks a little apart) passes.
    assert_eq!(
        check(with(
            claims("u"),
            json!({"iat": now + 3600, "exp": now + 7200})
        ))
        .await,
        Err(AuthError::IssuedInFuture)
    );
    assert_eq!(
        check(with(claims("u"), json!({"iat": now + 20}))).await,
        Ok("u".to_owned())
    );
    // `iat` is optional, but when present it must be a number.
    assert_eq!(
        check(with(claims("u"), json!({"iat": null}))).await,
        Ok("u".to_owned())
    );
    assert_eq!(
        check(with(claims("u"), json!({"iat": "yesterday"}))).await,
        Err(AuthError::InvalidClaim("iat".to_owned()))
    );

    let strict = fixture_with(JwtConfig::default().with_leeway(Duration::ZERO)).await;
    let slightly_ahead = strict
        .key
        .sign(&with(claims("u"), json!({"iat": now + 20})));
    assert_eq!(
        strict
            .authenticator
            .authenticate(Some(&slightly_ahead))
            .await,
        Err(AuthError::IssuedInFuture)
    );
    let barely_expired = strict
        .key
        .sign(&with(claims("u"), json!({"exp": now - 20})));
    assert_eq!(
        strict
            .authenticator
            .authenticate(Some(&barely_expired))
            .await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn issuer_audience_and_subject_are_enforced() {
    let fixture = fixture().await;
    let check = |claims: Value| {
        let token = fixture.key.sign(&claims);
        let authenticator = fixture.authenticator.clone();
        async move {
            authenticator
                .authenticate(Some(&token))
                .await
                .map(|p| p.user_id)
        }
    };
    assert_eq!(
        check(with(claims("u"), json!({"iss": "https://evil.test"}))).await,
        Err(AuthError::WrongIssuer)
    );
    assert_eq!(
        check(with(claims("u"), json!({"aud": "https://other.test"}))).await,
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        check(with(claims("u"), json!({"aud": ["https://other.test"]}))).await,
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        check(with(
            claims("u"),
            json!({"aud": ["https://other.test", AUDIENCE]})
        ))
        .await,
        Ok("u".to_owned())
    );
    assert_eq!(
        check(with(claims("u"), json!({"sub": null}))).await,
        Err(AuthError::MissingClaim("sub".into()))
    );
    assert_eq!(
        check(with(claims("u"), json!({"sub": 42}))).await,
        Err(AuthError::MissingClaim("sub".into()))
    );
    assert_eq!(
        check(with(claims("u"), json!({"sub": ""}))).await,
        Err(AuthError::InvalidClaim("sub".into()))
    );
    assert_eq!(
        check(with(claims("u"), json!({"exp": null}))).await,
        Err(AuthError::MissingClaim("exp".into()))
    );
    assert_eq!(
        check(with(claims("u"), json!({"iss": null}))).await,
        Err(AuthError::MissingClaim("iss".into())),
        "a configured issuer must be present"
    );
    assert_eq!(
        check(with(claims("u"), json!({"aud": null}))).await,
        Err(AuthError::MissingClaim("aud".into())),
        "a configured audience must be present"
    );
    assert_eq!(
        fixture.server.fetches(),
        1,
        "failures on a known key never refetch"
    );
}

#[tokio::test]
async fn without_configured_issuer_and_audience_those_claims_are_not_checked() {
    let fixture = fixture_with(JwtConfig::default()).await;
    let token = fixture.key.sign(&with(
        claims("u"),
        json!({"iss": "anyone", "aud": "anything"}),
    ));
    assert!(
        fixture
            .authenticator
            .authenticate(Some(&token))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn tampering_breaks_the_signature() {
    let fixture = fixture().await;
    let token = fixture.key.sign(&claims("victim"));
    let parts: Vec<&str> = token.split('.').collect();

    // Swap in a payload naming another user, keeping the original signature.
    let forged_payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("attacker")).expect("json"));
    let tampered_payload = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        fixture
            .authenticator
            .authenticate(Some(&tampered_payload))
            .await,
        Err(AuthError::BadSignature)
    );

    // Flip one bit of the signature.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    signature[10] ^= 0x01;
    let tampered_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(&signature)
    );
    assert_eq!(
        fixture
            .authenticator
            .authenticate(Some(&tampered_signature))
            .await,
        Err(AuthError::BadSignature)
    );

    // A truncated signature.
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]);
    assert_eq!(
        fixture.authenticator.authenticate(Some(&truncated)).await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn malformed_and_missing_tokens_are_refused_without_touching_the_keys() {
    let fixture = fixture().await;
    let valid = fixture.key.sign(&claims("u"));
    let (_, rest) = valid.split_once('.').expect("three parts");
    let non_json_header = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(b"not json"));
    let no_alg_header = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"kid":"ed-1"}"#));
    let crit_header = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"ed-1","crit":["exp"]}"#)
    );
    let cases = [
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!!.e30.e30".to_owned(),
        non_json_header,
        no_alg_header,
        crit_header,
        "x".repeat(20_000),
    ];
    for token in &cases {
        let result = fixture.authenticator.authenticate(Some(token)).await;
        assert!(
            matches!(result, Err(AuthError::Malformed(_))),
            "{}: {result:?}",
            &token[..token.len().min(40)]
        );
    }
    assert_eq!(
        fixture.authenticator.authenticate(None).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        fixture.authenticator.authenticate(Some("  ")).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(fixture.server.fetches(), 0);

    // A correctly signed payload that is not a claims object is malformed.
    let not_an_object = fixture.key.sign(&json!(["sub", "u"]));
    let result = fixture
        .authenticator
        .authenticate(Some(&not_an_object))
        .await;
    assert!(matches!(result, Err(AuthError::Malformed(_))), "{result:?}");
}
