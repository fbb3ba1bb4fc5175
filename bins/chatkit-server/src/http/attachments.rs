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
use chatkit_store::{AttachmentByteStream, StoreError};
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

/// Feeds an actix body (which is not `Send`) to `write` (whose store wants a `Send` stream)
/// chunk by chunk through a channel of two chunks, so an upload is never held whole in memory.
/// A body that cannot be read ends the store's stream with an error, so the store keeps nothing
/// of it; the size limit is the engine's, enforced on the same stream.
async fn stream_body<S, E, F, T>(body: S, write: F) -> Result<T, ApiError>
where
    S: futures::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
    F: AsyncFnOnce(AttachmentByteStream<'static>) -> Result<T, EngineError>,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<web::Bytes, StoreError>>(2);
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
    .boxed();
    let feed = async move {
        let mut body = body;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    if sender.send(Ok(chunk)).await.is_err() {
                        // The store stopped reading: its own error says why.
                        return Ok(());
                    }
                }
                Err(err) => {
                    let _ = sender
                        .send(Err(StoreError::InvalidInput(
                            "the upload was cut off".to_owned(),
                        )))
                        .await;
                    return Err(bad_request(format!(
                        "the request body could not be read: {err}"
                    )));
                }
            }
        }
        Ok(())
    };
    let (fed, written) = futures::join!(feed, write(chunks));
    // A body that broke explains the store's failure better than the store does.
    fed?;
    Ok(written?)
}

/// Finds the `file` field of a multipart body (other fields before it are skipped, up to a
/// small size each) and streams it to `write` with its name and type.
async fn multipart_file<F, T>(
    req: &HttpRequest,
    payload: web::Payload,
    write: F,
) -> Result<T, ApiError>
where
    F: AsyncFnOnce(DirectUpload, AttachmentByteStream<'static>) -> Result<T, EngineError>,
{
    const OTHER_FIELD_LIMIT: u64 = 64 * 1024;
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(field) = multipart.next().await {
        let field =
            field.map_err(|err| bad_request(format!("the multipart body is malformed: {err}")))?;
        if field.name() == Some("file") {
            let upload = DirectUpload {
                name: field
                    .content_disposition()
                    .and_then(|disposition| disposition.get_filename())
                    .map(str::to_owned),
                mime_type: field.content_type().map(ToString::to_string),
            };
            // Fields after the file are not read: ChatKit sends none.
            return stream_body(field, async move |chunks| write(upload, chunks).await).await;
        }
        skip_field(field, OTHER_FIELD_LIMIT).await?;
    }
    Err(bad_request("the multipart body has no `file` field"))
}

/// Reads a field that is not the file and drops it, refusing it once it grows past `limit`.
async fn skip_field(mut field: actix_multipart::Field, limit: u64) -> Result<(), ApiError> {
    let mut size: u64 = 0;
    while let Some(chunk) = field.next().await {
        let chunk = chunk
            .map_err(|err| bad_request(format!("the request body could not be read: {err}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(EngineError::attachment_too_large(limit).into());
        }
    }
    Ok(())
}

/// `PUT|POST /attachments/{id}`: the bytes of an attachment created by `attachments.create`, as
/// the raw body or a multipart `file` field, streamed to the attachment store.
async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The owner check comes first: someone else's attachment is refused without reading the body.
    let pending = state.engine.begin_upload(&id, &caller.0).await?;
    let attachment = if is_multipart(&req) {
        multipart_file(&req, payload, async move |_, chunks| {
            pending.finish(chunks).await
        })
        .await?
    } else {
        stream_body(payload, async move |chunks| pending.finish(chunks).await).await?
    };
    Ok(HttpResponse::Ok().json(attachment))
}

/// `POST /attachments`: ChatKit's direct upload, one multipart `file` field, streamed to the
/// attachment store.
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
    let engine = &state.engine;
    let ctx = &caller.0;
    let attachment = multipart_file(&req, payload, async move |upload, chunks| {
        engine.upload_directly(upload, chunks, ctx).await
    })
    .await?;
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

/// `GET /attachments/{id}`: the owner's bytes, or with object storage a redirect to a fresh,
/// short-lived presigned URL (so previews stored in threads never expire and the bytes never
/// pass through this server).
async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(presigned) = state.engine.attachment_download_url(&id, &caller.0).await? {
        return Ok(HttpResponse::Found()
            .insert_header((actix_web::http::header::LOCATION, presigned.url))
            .insert_header(("Cache-Control", "no-store"))
            .finish());
    }
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
