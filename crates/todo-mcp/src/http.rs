//! The streamable HTTP transport: an axum router with the MCP service at [`MCP_PATH`].

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{TodoMcpError, TodoServer};

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// Options of the HTTP transport.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// When set, every request must carry `Authorization: Bearer <token>`; others get a 401.
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: show only whether there is one.
        formatter
            .debug_struct("HttpOptions")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

async fn require_bearer(
    State(expected): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if presented.is_some_and(|token| constant_time_eq(token.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response()
    }
}

/// Compares without an early exit, so the time taken does not reveal how much of a guess matched.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl TodoServer {
    /// An axum router serving MCP at [`MCP_PATH`], one [`TodoServer::new_session`] per session.
    /// Sessions end when `cancel` is cancelled.
    pub fn http_router(&self, options: &HttpOptions, cancel: CancellationToken) -> axum::Router {
        let template = self.clone();
        let service = StreamableHttpService::new(
            move || Ok(template.new_session()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_cancellation_token(cancel),
        );
        let router = axum::Router::new().nest_service(MCP_PATH, service);
        match &options.bearer_token {
            Some(token) => router.layer(middleware::from_fn_with_state(
                Arc::<str>::from(token.as_str()),
                require_bearer,
            )),
            None => router,
        }
    }

    /// Serves MCP over streamable HTTP on `listener` until `shutdown` completes.
    pub async fn serve_http(
        self,
        listener: TcpListener,
        options: HttpOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TodoMcpError> {
        let cancel = CancellationToken::new();
        let router = self.http_router(&options, cancel.child_token());
        let local_address = listener.local_addr()?;
        tracing::info!(server.address = %local_address, "todo MCP server listening");
        let stop = cancel.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                // Open SSE streams would hold graceful shutdown forever; end the sessions first.
                stop.cancel();
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
