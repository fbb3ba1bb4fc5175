//! The caller: the `Authorization: Bearer` header turned into the request context that the store
//! (ownership), the agent (user id for tools, user info for the prompt) and the logs receive. The
//! step itself is the engine's [`chatkit_engine::transport::authenticate`]; this is its actix
//! extractor.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chatkit_engine::RequestContext;

use crate::http::error::ApiError;
use crate::http::{AppState, RequestId};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub RequestContext);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal server error",
                )
            })?;
            let mut ctx = chatkit_engine::transport::authenticate(
                state.authenticator.as_ref(),
                header.as_deref(),
            )
            .await
            .map_err(|_| ApiError::unauthorized())?;
            ctx.request_id = request_id;
            Ok(Caller(ctx))
        })
    }
}
