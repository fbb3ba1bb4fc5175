//! Test keys, token minting and a real JWKS HTTP server on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

pub const ISSUER: &str = "https://auth.test.invalid";
pub const AUDIENCE: &str = "https://auth.test.invalid";

/// Test-only private and public keys; see tests/fixtures/README.md.
pub mod pem {
    pub const ED25519_A_PRIVATE: &str = include_str!("../fixtures/ed25519_a.private.pem");
    pub const ED25519_A_PUBLIC: &str = include_str!("../fixtures/ed25519_a.public.pem");
    pub const ED25519_B_PRIVATE: &str = include_str!("../fixtures/ed25519_b.private.pem");
    pub const ED25519_C_PRIVATE: &str = include_str!("../fixtures/ed25519_c.private.pem");
    pub const RSA_PRIVATE: &str = include_str!("../fixtures/rsa_2048.private.pem");
    pub const RSA_PUBLIC: &str = include_str!("../fixtures/rsa_2048.public.pem");
    pub const P256_PRIVATE: &str = include_str!("../fixtures/p256.private.pem");
    pub const P256_PUBLIC: &str = include_str!("../fixtures/p256.public.pem");
}

/// A signing key with the `kid` and algorithm it is published under.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub algorithm: jsonwebtoken::Algorithm,
    pub encoding_key: EncodingKey,
}

impl TestKey {
    pub fn ed25519(kid: &str, private_pem: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm: jsonwebtoken::Algorithm::EdDSA,
            encoding_key: EncodingKey::from_ed_pem(private_pem.as_bytes())
                .expect("Ed25519 fixture"),
        }
    }

    pub fn rsa(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm: jsonwebtoken::Algorithm::RS256,
            encoding_key: EncodingKey::from_rsa_pem(pem::RSA_PRIVATE.as_bytes())
                .expect("RSA fixture"),
        }
    }

    pub fn p256(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm: jsonwebtoken::Algorithm::ES256,
            encoding_key: EncodingKey::from_ec_pem(pem::P256_PRIVATE.as_bytes())
                .expect("P-256 fixture"),
        }
    }

    pub fn hmac(kid: &str, secret: &[u8]) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm: jsonwebtoken::Algorithm::HS256,
            encoding_key: EncodingKey::from_secret(secret).expect("HMAC secret"),
        }
    }

    /// The public JWK for this key, with `kid`, `alg` and `use` set as Better Auth publishes them.
    pub fn public_jwk(&self) -> Value {
        let mut jwk =
            Jwk::from_encoding_key(&self.encoding_key, self.algorithm).expect("public JWK");
        jwk.common.key_id = Some(self.kid.clone());
        let mut value = serde_json::to_value(jwk).expect("JWK serializes");
        value["use"] = json!("sig");
        value
    }

    /// Signs `claims` with this key, naming it by `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).expect("token signs")
    }

    /// Signs `claims` with an explicit header algorithm (for algorithm-confusion tests).
    pub fn sign_as(&self, algorithm: jsonwebtoken::Algorithm, claims: &Value) -> String {
        let mut header = Header::new(algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).expect("token signs")
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The claims Better Auth puts in a token, valid for five minutes.
pub fn claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "email": format!("{sub}@example.test"),
        "name": "Ada Lovelace",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "role": "admin",
    })
}

/// Builds a token from raw header and payload JSON with the given signature bytes, for tokens no
/// honest library would produce.
pub fn raw_token(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("json")),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("json")),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

struct ServerState {
    document: parking_lot::RwLock<Value>,
    fetches: AtomicUsize,
    status: AtomicU16,
    released: watch::Receiver<bool>,
    arrivals: mpsc::UnboundedSender<usize>,
}

/// A JWKS endpoint on 127.0.0.1 whose key set the test can rotate, that counts fetches, can answer
/// with an error status, and can hold responses until the test releases them.
pub struct JwksServer {
    pub url: String,
    state: Arc<ServerState>,
    release: watch::Sender<bool>,
    arrivals: mpsc::UnboundedReceiver<usize>,
}

impl JwksServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let (release, released) = watch::channel(true);
        let (arrivals_sender, arrivals) = mpsc::unbounded_channel();
        let state = Arc::new(ServerState {
            document: parking_lot::RwLock::new(jwks_document(keys)),
            fetches: AtomicUsize::new(0),
            status: AtomicU16::new(200),
            released,
            arrivals: arrivals_sender,
        });
        let app = Router::new()
            .route("/api/auth/jwks", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("JWKS server runs");
        });
        Self {
            url: format!("http://{address}/api/auth/jwks"),
            state,
            release,
            arrivals,
        }
    }

    /// Replaces the published key set, as a key rotation on the issuer does.
    pub fn publish(&self, keys: &[&TestKey]) {
        *self.state.document.write() = jwks_document(keys);
    }

    /// Replaces the published document with arbitrary JSON.
    pub fn publish_raw(&self, document: Value) {
        *self.state.document.write() = document;
    }

    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Makes the endpoint answer with `status` (200 restores normal service).
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Holds every response until [`release_responses`](Self::release_responses).
    pub fn hold_responses(&self) {
        self.release.send_replace(false);
    }

    pub fn release_responses(&self) {
        self.release.send_replace(true);
    }

    /// Waits until a request has reached the endpoint and returns its fetch number.
    pub async fn next_arrival(&mut self) -> usize {
        tokio::time::timeout(Duration::from_secs(10), self.arrivals.recv())
            .await
            .expect("a JWKS request arrives within 10 s")
            .expect("server alive")
    }
}

pub fn jwks_document(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.public_jwk()).collect::<Vec<_>>() })
}

async fn serve_jwks(State(state): State<Arc<ServerState>>) -> Response {
    let number = state.fetches.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = state.arrivals.send(number);
    let mut released = state.released.clone();
    let _ = released.wait_for(|released| *released).await;
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).expect("status");
    if status != StatusCode::OK {
        return (status, "unavailable").into_response();
    }
    let document = state.document.read().clone();
    axum::Json(document).into_response()
}

/// Moves tokio's clock forward (the JWKS cache's refresh and rate-limit clock) without sleeping,
/// then lets it run normally again so real I/O is not raced by auto-advanced timers.
pub async fn advance_clock(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}
