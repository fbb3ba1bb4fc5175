//! The HTTP adapter: routes, the ChatKit endpoint, health checks.

pub mod attachments;
pub mod auth;
pub mod error;
pub mod legacy;
pub mod metrics;
mod playground;
pub mod ratelimit;
pub mod refusals;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, HeaderName, HeaderValue, ORIGIN, VARY,
};
use actix_web::{HttpMessage, HttpResponse, web};
use chatkit_engine::transport::{SSE_HEADERS, SseStream};
use chatkit_engine::{Engine, Response};
use futures::StreamExt;
use serde_json::json;
use tracing::Instrument;

use self::auth::Caller;
use self::error::ApiError;

/// What every handler can reach.
pub struct AppState {
    /// The request engine: the one way to the data (readiness asks it too).
    pub engine: Engine,
    /// Who is calling.
    pub authenticator: Arc<dyn ::auth::Authenticator>,
    /// MCP servers (for readiness).
    pub mcp: Option<Arc<mcp_client::McpManager>>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Seconds of silence before an SSE keep-alive comment.
    pub keep_alive: Duration,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Request, stream, model and tool metrics.
    pub metrics: Arc<self::metrics::Metrics>,
    /// Who may read `GET /metrics`.
    pub metrics_access: crate::settings::MetricsAccess,
    /// The per-user rate limit on the chat endpoints; `None`: no limit.
    pub rate_limiter: Option<Arc<self::ratelimit::RateLimiter>>,
}

impl AppState {
    /// The value for `Access-Control-Allow-Origin` when `origin` may call us.
    fn allowed_origin(&self, origin: &str) -> Option<String> {
        if self.cors_origins.iter().any(|allowed| allowed == "*") {
            Some("*".to_owned())
        } else if self.cors_origins.iter().any(|allowed| allowed == origin) {
            Some(origin.to_owned())
        } else {
            None
        }
    }
}

/// The request id of a request, set by the middleware and echoed in `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Registers every route on an app.
pub fn configure(cfg: &mut web::ServiceConfig, chatkit_path: &str) {
    cfg.route(chatkit_path, web::post().to(chatkit))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/api/chat", web::post().to(legacy::chat))
        .route("/metrics", web::get().to(metrics::metrics))
        .configure(attachments::configure)
        .configure(|cfg| playground::configure(cfg, chatkit_path));
}

/// The fallback for unknown paths and methods: JSON, like every other error.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

/// What [`observe`] returns: the inner response, or a preflight answered on the spot.
pub type ObservedResponse<B> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>,
>;

/// Request ids, CORS, and one log line per request, with stable fields and no bodies or tokens.
pub fn observe<S, B>(req: ServiceRequest, service: &S) -> ObservedResponse<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let cors_origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .and_then(|origin| {
            req.app_data::<web::Data<AppState>>()
                .and_then(|state| state.allowed_origin(origin))
        });
    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        // A CORS preflight: answered here, before routing.
        let mut response = HttpResponse::NoContent();
        if let Some(origin) = &cors_origin {
            let requested = req
                .headers()
                .get(ACCESS_CONTROL_REQUEST_HEADERS)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("authorization, content-type")
                .to_owned();
            response
                .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                .insert_header((
                    ACCESS_CONTROL_ALLOW_METHODS,
                    "GET, POST, PUT, DELETE, OPTIONS",
                ))
                .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, requested))
                .insert_header((ACCESS_CONTROL_MAX_AGE, "3600"))
                .insert_header((VARY, "Origin"));
        }
        let response = req.into_response(response.finish()).map_into_right_body();
        return Box::pin(async move { Ok(response) });
    }
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "http.request",
        request.id = %request_id,
        http.method = %req.method(),
        http.path = %req.path(),
        user.id = tracing::field::Empty,
    );
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Arc::clone(&state.metrics));
    let future = span.in_scope(|| service.call(req));
    Box::pin(async move {
        let mut response = future.instrument(span.clone()).await?;
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), value);
        }
        if let Some(origin) = cors_origin.and_then(|origin| HeaderValue::from_str(&origin).ok()) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-request-id"),
            );
            headers.insert(VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(metrics) = &metrics {
            let request = response.request();
            metrics.request_handled(
                request.match_pattern().as_deref(),
                request.method().as_str(),
                response.status().as_u16(),
            );
        }
        span.in_scope(|| {
            tracing::info!(
                http.status = response.status().as_u16(),
                duration_ms = started.elapsed().as_millis() as u64,
                "request handled"
            )
        });
        Ok(response.map_into_left_body())
    })
}

/// Reads the body, decompressing it as its `Content-Encoding` says, and refusing it once it grows
/// past `limit` (after decompression, so a small gzip bomb is refused too).
pub(crate) async fn read_body(
    req: &actix_web::HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let mut payload = actix_web::dev::Decompress::from_headers(payload.into_inner(), req.headers());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request body could not be read: {err}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `POST /chatkit`: every ChatKit request.
async fn chatkit(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if let Some(refused) = ratelimit::refuse_if_limited(&state, &caller.0.user.id).await {
        return Ok(refused);
    }
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    match state.engine.process(&body, caller.0).await? {
        Response::Json(json) => Ok(HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/json"))
            .body(json)),
        Response::Stream(events) => {
            let mut response = HttpResponse::Ok();
            for header in SSE_HEADERS {
                response.insert_header(header);
            }
            Ok(response.streaming(metrics::TimedStream::new(
                SseStream::new(events, state.keep_alive),
                state.metrics.stream_started("chatkit"),
            )))
        }
    }
}

/// `GET /healthz`: the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers, and MCP servers are up.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.engine.ping().await;
    let mcp = state
        .mcp
        .as_ref()
        .map(|manager| (manager.is_healthy(), manager.status()));
    let ready = database.is_ok() && mcp.as_ref().is_none_or(|(healthy, _)| *healthy);
    if let Err(err) = &database {
        tracing::warn!(error = %err, "readiness: the database does not answer");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": {
            "database": if database.is_ok() { "ok" } else { "unavailable" },
            "mcp_servers": mcp.map(|(_, status)| serde_json::to_value(status).unwrap_or_default()),
        }
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
