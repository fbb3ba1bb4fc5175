//! Attachment bytes over HTTP: the upload target of `attachments.create`'s descriptor, ChatKit's
//! `direct` upload strategy, and downloads (image previews included), each for the owner only.
//!
//! - `PUT /attachments/{id}` (and `POST`, which ChatKit's two-phase client may use): the bytes of
//!   an attachment the caller created, as the raw body or as a multipart `file` field. Clears the
//!   attachment's `upload_descriptor` and answers with the attachment.
//! - `POST /attachments`: multipart/form-data with a `file` field; creates, stores and answers
//!   with the attachment (no `upload_descriptor`), for `uploadStrategy: {type: "direct"}`.
//! - `GET /attachments/{id}`: the bytes, with the stored type; only the safe raster image types are
//!   shown inline, everything else is a download (`Content-Disposition: attachment`), and nothing
//!   is sniffed or allowed to run script.
//!
//! An attachment that is not the caller's is 404, exactly like one that does not exist. Note that
//! `<img src>` sends no bearer token: with authentication on, a browser shows previews only when
//! the page fetches them with the token (or a proxy adds it).

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chatkit_engine::{DirectUpload, EngineError};
use futures::StreamExt;

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;

/// Registers the attachment routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/attachments", web::post().to(direct_upload))
        .route("/attachments/{id}", web::put().to(upload))
        .route("/attachments/{id}", web::post().to(upload))
        .route("/attachments/{id}", web::get().to(download));
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
}

/// Reads a stream of chunks, refusing it once it grows past `limit`.
async fn read_limited<S, E>(mut stream: S, limit: u64) -> Result<Vec<u8>, ApiError>
where
    S: futures::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|err| bad_request(format!("the request body could not be read: {err}")))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(EngineError::attachment_too_large(limit).into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The `file` field of a multipart body. Other fields are skipped (up to a small size each).
async fn multipart_file(
    req: &HttpRequest,
    payload: web::Payload,
    limit: u64,
) -> Result<DirectUpload, ApiError> {
    const OTHER_FIELD_LIMIT: u64 = 64 * 1024;
    let mut multipart = Multipart::new(req.headers(), payload);
    let mut found = None;
    while let Some(field) = multipart.next().await {
        let field =
            field.map_err(|err| bad_request(format!("the multipart body is malformed: {err}")))?;
        if field.name() == Some("file") && found.is_none() {
            let name = field
                .content_disposition()
                .and_then(|disposition| disposition.get_filename())
                .map(str::to_owned);
            let mime_type = field.content_type().map(ToString::to_string);
            let bytes = read_limited(field, limit).await?;
            found = Some(DirectUpload {
                name,
                mime_type,
                bytes,
            });
        } else {
            read_limited(field, OTHER_FIELD_LIMIT).await?;
        }
    }
    found.ok_or_else(|| bad_request("the multipart body has no `file` field"))
}

/// The uploaded bytes: a multipart `file` field, or the raw body.
async fn upload_bytes(
    req: &HttpRequest,
    payload: web::Payload,
    limit: u64,
) -> Result<Vec<u8>, ApiError> {
    if is_multipart(req) {
        Ok(multipart_file(req, payload, limit).await?.bytes)
    } else {
        read_limited(payload, limit).await
    }
}

/// `PUT|POST /attachments/{id}`: the bytes of an attachment created by `attachments.create`.
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The owner check comes first: someone else's attachment is refused without reading the body.
    let pending = state.engine.begin_upload(&id, &caller.0).await?;
    let bytes = upload_bytes(&req, payload, pending.max_bytes()).await?;
    let attachment = pending.finish(&bytes).await?;
    Ok(HttpResponse::Ok().json(attachment))
}

/// `POST /attachments`: ChatKit's direct upload, one multipart `file` field.
async fn direct_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !is_multipart(&req) {
        return Err(bad_request(
            "a direct upload is multipart/form-data with a `file` field",
        ));
    }
    let limit = state.engine.config().max_attachment_bytes;
    let upload = multipart_file(&req, payload, limit).await?;
    let attachment = state.engine.upload_directly(upload, &caller.0).await?;
    Ok(HttpResponse::Ok().json(attachment))
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the exact UTF-8 name
/// (RFC 6266 / RFC 8187).
fn attachment_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /attachments/{id}`: the owner's bytes.
async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let download = state.engine.download_attachment(&id, &caller.0).await?;
    let content_type = HeaderValue::from_str(download.mime_type())
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        .insert_header(("Cache-Control", "private, max-age=300"));
    if !download.is_inline() {
        response.insert_header((CONTENT_DISPOSITION, attachment_disposition(download.name())));
    }
    Ok(response.body(download.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(
            attachment_disposition("a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            attachment_disposition("résumé\r\n.pdf"),
            "attachment; filename=\"r_sum___.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%0D%0A.pdf"
        );
    }
}
