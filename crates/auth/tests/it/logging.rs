//! Rejections are logged with their kind, `kid` and `alg`, and never with the token.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use auth::{Authenticator, JwksConfig, JwtAuthenticator, JwtConfig, KeySource};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::support::{JwksServer, TestKey, claims, now, pem};

#[derive(Clone, Default)]
struct CapturedLogs(Arc<parking_lot::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the capturing subscriber as the process-wide default. A thread-scoped default
/// (`set_default`) misses events when other tests, running on other threads without a
/// subscriber, cache the callsites as disabled first; a global one cannot.
fn captured_logs() -> CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first global subscriber");
        logs
    })
    .clone()
}

#[tokio::test]
async fn rejections_name_kind_kid_and_alg_but_never_the_token() {
    let logs = captured_logs();
    let key = TestKey::ed25519("logged-kid", pem::ED25519_A_PRIVATE);
    let server = JwksServer::start(&[&key]).await;
    let authenticator = JwtAuthenticator::new(
        KeySource::Jwks(JwksConfig::new(&server.url)),
        JwtConfig::default(),
    )
    .expect("builds");
    let mut expired = claims("u");
    expired["exp"] = json!(now() - 3600);
    let expired_token = key.sign(&expired);
    let valid_token = key.sign(&claims("u"));
    let mut from_the_future = claims("u");
    from_the_future["iat"] = json!(now() + 3600);
    let future_token = key.sign(&from_the_future);
    assert!(
        authenticator
            .authenticate(Some(&future_token))
            .await
            .is_err()
    );
    assert!(
        authenticator
            .authenticate(Some(&expired_token))
            .await
            .is_err()
    );
    assert!(authenticator.authenticate(Some(&valid_token)).await.is_ok());
    assert!(
        authenticator
            .authenticate(Some("garbage-token-text"))
            .await
            .is_err()
    );

    let text = logs.text();
    assert!(text.contains("auth.error=\"expired\""), "{text}");
    assert!(text.contains("jwt.kid=\"logged-kid\""), "{text}");
    assert!(text.contains("jwt.alg=\"EdDSA\""), "{text}");
    assert!(text.contains("auth.error=\"malformed\""), "{text}");
    assert!(text.contains("auth.error=\"issued_in_future\""), "{text}");
    for token in [&expired_token, &valid_token, &future_token] {
        for part in token.split('.') {
            assert!(!text.contains(part), "a token part was logged: {part}");
        }
    }
    assert!(!text.contains("garbage-token-text"), "{text}");
}
