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
use chatkit_engine::EngineError;
use chatkit_protocol::{Attachment, AttachmentCreateParams};
use chatkit_store::StoreError;
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

fn store_error(err: StoreError) -> ApiError {
    ApiError::from(EngineError::from(err))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the attachment is larger than the limit of {limit} bytes"),
    )
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

/// A file taken from a request.
struct Upload {
    name: Option<String>,
    mime_type: Option<String>,
    bytes: Vec<u8>,
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
            return Err(too_large(limit));
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
) -> Result<Upload, ApiError> {
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
            found = Some(Upload {
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
) -> Result<Upload, ApiError> {
    if is_multipart(req) {
        multipart_file(req, payload, limit).await
    } else {
        Ok(Upload {
            name: None,
            mime_type: None,
            bytes: read_limited(payload, limit).await?,
        })
    }
}

/// Whether `mime_type` is accepted by `allowed` (exact types, or prefixes ending in `/`; empty:
/// any), as `attachments.create` checks it.
pub fn is_allowed_type(mime_type: &str, allowed: &[String]) -> bool {
    let media_type = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media_type.contains('/')
        && (allowed.is_empty()
            || allowed.iter().any(|allowed| {
                if allowed.ends_with('/') {
                    media_type.starts_with(allowed.as_str())
                } else {
                    media_type == *allowed
                }
            }))
}

/// `PUT|POST /attachments/{id}`: the bytes of an attachment created by `attachments.create`.
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sctx = caller.0.store();
    let mut attachment = state
        .store
        .load_attachment(&id, &sctx)
        .await
        .map_err(store_error)?;
    let limit = state.engine.config().max_attachment_bytes;
    let upload = upload_bytes(&req, payload, limit).await?;
    state
        .attachments
        .write_bytes(&id, &upload.bytes, &sctx)
        .await
        .map_err(store_error)?;
    attachment.base_mut().upload_descriptor = None;
    state
        .store
        .save_attachment(&attachment, &sctx)
        .await
        .map_err(store_error)?;
    tracing::info!(attachment.id = %id, size_bytes = upload.bytes.len(), "attachment uploaded");
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
    let config = state.engine.config();
    let upload = multipart_file(&req, payload, config.max_attachment_bytes).await?;
    let name = upload
        .name
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "upload".to_owned());
    let mime_type = upload
        .mime_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if !is_allowed_type(&mime_type, &config.allowed_attachment_types) {
        return Err(bad_request(format!(
            "file: the type `{mime_type}` is not accepted"
        )));
    }
    let sctx = caller.0.store();
    let params = AttachmentCreateParams {
        name,
        size: i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX),
        mime_type,
    };
    let mut attachment = state
        .attachments
        .create_attachment(&params, &sctx)
        .await
        .map_err(store_error)?;
    attachment.base_mut().upload_descriptor = None;
    let id = attachment.base().id.clone();
    state
        .attachments
        .write_bytes(&id, &upload.bytes, &sctx)
        .await
        .map_err(store_error)?;
    if let Err(err) = state.store.save_attachment(&attachment, &sctx).await {
        // Bytes without metadata could never be reached or deleted: remove them again.
        let _ = state.attachments.delete_attachment(&id, &sctx).await;
        return Err(store_error(err));
    }
    tracing::info!(attachment.id = %id, size_bytes = upload.bytes.len(), "attachment uploaded directly");
    Ok(HttpResponse::Ok().json(attachment))
}

/// Raster image types a browser may show inline. SVG is left out: it can carry script.
fn is_inline_image(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    )
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
    let sctx = caller.0.store();
    let attachment = state
        .store
        .load_attachment(&id, &sctx)
        .await
        .map_err(store_error)?;
    let bytes = state
        .attachments
        .read_bytes(&id, &sctx)
        .await
        .map_err(store_error)?;
    let base = attachment.base();
    let media_type = base
        .mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let content_type = HeaderValue::from_str(&base.mime_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        .insert_header(("Cache-Control", "private, max-age=300"));
    let inline = matches!(attachment, Attachment::Image(_)) && is_inline_image(&media_type);
    if !inline {
        response.insert_header((CONTENT_DISPOSITION, attachment_disposition(&base.name)));
    }
    Ok(response.body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_types_match_exactly_or_by_prefix() {
        let allowed = vec!["image/".to_owned(), "application/json".to_owned()];
        assert!(is_allowed_type("image/png", &allowed));
        assert!(is_allowed_type("Application/JSON; charset=utf-8", &allowed));
        assert!(!is_allowed_type("application/x-msdownload", &allowed));
        assert!(!is_allowed_type("nonsense", &[]));
        assert!(is_allowed_type("anything/else", &[]));
    }

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
