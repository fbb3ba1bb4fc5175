//! Attachments: `attachments.create` and `attachments.delete`, and the operations a transport
//! calls for the bytes (the two-phase upload's second half, the direct upload, the download).
//!
//! The record lives in the [`chatkit_store::Store`] and the bytes in the
//! [`chatkit_store::AttachmentStore`]; only this file talks to both, so the rules (the owner
//! check, the accepted types and sizes, undoing half of a failed upload) hold for every door.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chatkit_protocol::{Attachment, AttachmentCreateParams};
use chatkit_store::{AttachmentByteStream, AttachmentStore, StoreContext, StoreError};
use futures::StreamExt;

use super::Engine;
use crate::context::RequestContext;
use crate::error::EngineError;
use crate::mime;

/// A direct upload (ChatKit's `uploadStrategy: {type: "direct"}`): the file in one request. The
/// bytes come separately, as a stream ([`Engine::upload_directly`]).
#[derive(Debug, Clone, Default)]
pub struct DirectUpload {
    /// The file's name as the client sent it; `upload` when absent or blank.
    pub name: Option<String>,
    /// The file's MIME type as the client sent it; `application/octet-stream` when absent.
    pub mime_type: Option<String>,
}

/// Counts an upload's bytes as they pass to the store and ends the stream with an error once
/// they exceed `limit`, so that a body is refused as it streams, whatever the store.
fn metered(
    chunks: AttachmentByteStream<'_>,
    limit: u64,
) -> (AttachmentByteStream<'_>, Arc<AtomicU64>) {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let stream = chunks
        .map(move |chunk| {
            let chunk = chunk?;
            let total =
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if total > limit {
                return Err(StoreError::InvalidInput(format!(
                    "the upload exceeds the limit of {limit} bytes"
                )));
            }
            Ok(chunk)
        })
        .boxed();
    (stream, seen)
}

impl Engine {
    /// Streams an upload into the attachment store under the engine's size limit: an oversized
    /// body is [`EngineError::TooLarge`] (and the store leaves nothing of it). Returns the size.
    async fn write_upload(
        &self,
        attachments: &dyn AttachmentStore,
        attachment_id: &str,
        chunks: AttachmentByteStream<'_>,
        sctx: &StoreContext,
    ) -> Result<u64, EngineError> {
        let limit = self.shared.config.max_attachment_bytes;
        let (chunks, seen) = metered(chunks, limit);
        let written = attachments.write_stream(attachment_id, chunks, sctx).await;
        let size = seen.load(Ordering::Relaxed);
        if size > limit {
            return Err(EngineError::attachment_too_large(limit));
        }
        written?;
        Ok(size)
    }
}

/// The second half of a two-phase upload, for an attachment the caller created with
/// `attachments.create`. Made by [`Engine::begin_upload`] before the body is read, so that an
/// unknown (or someone else's) attachment is refused without reading it.
#[derive(Debug)]
pub struct PendingUpload {
    engine: Engine,
    attachment: Attachment,
    sctx: StoreContext,
}

/// An attachment's bytes with what a transport needs to serve them safely.
#[derive(Debug, Clone)]
pub struct AttachmentDownload {
    /// The attachment's record.
    pub attachment: Attachment,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl AttachmentDownload {
    /// The stored MIME type, as the client declared it.
    pub fn mime_type(&self) -> &str {
        &self.attachment.base().mime_type
    }

    /// The file name, as the client declared it (untrusted: quote it before putting it in a
    /// header).
    pub fn name(&self) -> &str {
        &self.attachment.base().name
    }

    /// Whether a browser may show the bytes inline: only image attachments of a safe raster
    /// type. Everything else should be served as a download.
    pub fn is_inline(&self) -> bool {
        matches!(self.attachment, Attachment::Image(_))
            && mime::is_inline_image(&mime::media_type(self.mime_type()))
    }
}

impl PendingUpload {
    /// The largest body the upload accepts, in bytes; a transport stops reading past it.
    pub fn max_bytes(&self) -> u64 {
        self.engine.shared.config.max_attachment_bytes
    }

    /// Stores the bytes as they arrive and marks the attachment uploaded (its
    /// `upload_descriptor` cleared). Past [`max_bytes`](Self::max_bytes) the upload fails with
    /// [`EngineError::TooLarge`] and nothing of it is kept; the earlier bytes, if any, stay.
    pub async fn finish(self, chunks: AttachmentByteStream<'_>) -> Result<Attachment, EngineError> {
        let engine = &self.engine;
        let mut attachment = self.attachment;
        let id = attachment.base().id.clone();
        let size = engine
            .write_upload(engine.attachment_store()?.as_ref(), &id, chunks, &self.sctx)
            .await?;
        attachment.base_mut().upload_descriptor = None;
        engine
            .shared
            .store
            .save_attachment(&attachment, &self.sctx)
            .await?;
        tracing::info!(attachment.id = %id, size_bytes = size, "attachment uploaded");
        Ok(attachment)
    }
}

impl EngineError {
    /// The error for an attachment (or an upload body) larger than `limit` bytes.
    pub fn attachment_too_large(limit: u64) -> Self {
        EngineError::TooLarge(format!(
            "the attachment is larger than the limit of {limit} bytes"
        ))
    }
}

impl Engine {
    /// Starts receiving the bytes of attachment `attachment_id`: checks that it is the caller's
    /// (NotFound otherwise, exactly as for a missing one) and that this engine stores bytes.
    pub async fn begin_upload(
        &self,
        attachment_id: &str,
        ctx: &RequestContext,
    ) -> Result<PendingUpload, EngineError> {
        let sctx = ctx.store();
        let (attachment, _) = self.own_attachment(attachment_id, &sctx).await?;
        Ok(PendingUpload {
            engine: self.clone(),
            attachment,
            sctx,
        })
    }

    /// A direct upload: creates the attachment, streams its bytes to the store as they arrive
    /// (refused past the size limit, leaving nothing), then stores its record (with no
    /// `upload_descriptor`). If the record cannot be saved the bytes are removed again, since
    /// bytes without a record could never be reached or deleted.
    pub async fn upload_directly(
        &self,
        upload: DirectUpload,
        chunks: AttachmentByteStream<'_>,
        ctx: &RequestContext,
    ) -> Result<Attachment, EngineError> {
        let attachments = self.attachment_store()?;
        let name = upload
            .name
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "upload".to_owned());
        let mime_type = upload
            .mime_type
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        if !mime::is_allowed_type(&mime_type, &self.shared.config.allowed_attachment_types) {
            return Err(EngineError::BadRequest(format!(
                "file: the type `{mime_type}` is not accepted"
            )));
        }
        let sctx = ctx.store();
        // The size is not known before the body has streamed; the limit is enforced on the way.
        let params = AttachmentCreateParams {
            name,
            size: 0,
            mime_type,
        };
        let mut attachment = attachments.create_attachment(&params, &sctx).await?;
        attachment.base_mut().upload_descriptor = None;
        let id = attachment.base().id.clone();
        let size = self
            .write_upload(attachments.as_ref(), &id, chunks, &sctx)
            .await?;
        if let Err(err) = self.shared.store.save_attachment(&attachment, &sctx).await {
            if let Err(cleanup) = attachments.delete_attachment(&id, &sctx).await {
                tracing::warn!(attachment.id = %id, error = %cleanup, "the bytes of a failed upload could not be removed");
            }
            return Err(err.into());
        }
        tracing::info!(attachment.id = %id, size_bytes = size, "attachment uploaded directly");
        Ok(attachment)
    }

    /// The caller's attachment and its bytes (NotFound for a missing or foreign attachment, or
    /// one whose bytes were never uploaded).
    pub async fn download_attachment(
        &self,
        attachment_id: &str,
        ctx: &RequestContext,
    ) -> Result<AttachmentDownload, EngineError> {
        let sctx = ctx.store();
        let (attachment, attachments) = self.own_attachment(attachment_id, &sctx).await?;
        let bytes = attachments.read_bytes(attachment_id, &sctx).await?;
        Ok(AttachmentDownload { attachment, bytes })
    }

    /// A short-lived URL from which the caller's client downloads the attachment straight from
    /// object storage, when the attachment store can sign one (S3); `None` when it cannot (local
    /// disk), and the transport serves [`Engine::download_attachment`] instead. NotFound for a
    /// missing or foreign attachment, as for the download itself.
    pub async fn attachment_download_url(
        &self,
        attachment_id: &str,
        ctx: &RequestContext,
    ) -> Result<Option<chatkit_store::PresignedDownload>, EngineError> {
        let attachments = self.attachment_store()?;
        let sctx = ctx.store();
        self.shared
            .store
            .load_attachment(attachment_id, &sctx)
            .await?;
        match attachments
            .presigned_download_url(attachment_id, &sctx)
            .await
        {
            Ok(download) => Ok(Some(download)),
            Err(chatkit_store::StoreError::Unsupported(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the caller's attachment, record and bytes (`attachments.delete`). The bytes may
    /// never have been uploaded (a two-phase upload abandoned half-way); the record goes all the
    /// same.
    pub async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        let sctx = ctx.store();
        self.shared
            .store
            .load_attachment(attachment_id, &sctx)
            .await?;
        self.delete_attachment_everywhere(attachment_id, &sctx)
            .await
    }

    /// `attachments.create`: checks the declared name, size and type, then starts a two-phase
    /// upload.
    pub(super) async fn create_attachment(
        &self,
        params: &AttachmentCreateParams,
        ctx: &RequestContext,
    ) -> Result<Attachment, EngineError> {
        let attachments = self.attachment_store()?;
        self.check_attachment(params)?;
        let sctx = ctx.store();
        let attachment = attachments.create_attachment(params, &sctx).await?;
        self.shared
            .store
            .save_attachment(&attachment, &sctx)
            .await?;
        Ok(attachment)
    }

    /// Deletes an attachment's bytes and record; either may already be gone.
    pub(super) async fn delete_attachment_everywhere(
        &self,
        attachment_id: &str,
        sctx: &StoreContext,
    ) -> Result<(), EngineError> {
        if let Some(attachments) = &self.shared.attachments {
            match attachments.delete_attachment(attachment_id, sctx).await {
                Err(StoreError::NotFound { .. }) | Ok(()) => {}
                Err(err) => return Err(err.into()),
            }
        }
        match self
            .shared
            .store
            .delete_attachment(attachment_id, sctx)
            .await
        {
            Err(StoreError::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// The caller's attachment record (NotFound for a missing or foreign one), with the store of
    /// the bytes (Unsupported when this engine keeps none).
    async fn own_attachment(
        &self,
        attachment_id: &str,
        sctx: &StoreContext,
    ) -> Result<(Attachment, &Arc<dyn AttachmentStore>), EngineError> {
        let attachments = self.attachment_store()?;
        let attachment = self
            .shared
            .store
            .load_attachment(attachment_id, sctx)
            .await?;
        Ok((attachment, attachments))
    }

    fn attachment_store(&self) -> Result<&Arc<dyn AttachmentStore>, EngineError> {
        self.shared
            .attachments
            .as_ref()
            .ok_or(EngineError::Unsupported("attachments"))
    }

    fn check_attachment(&self, params: &AttachmentCreateParams) -> Result<(), EngineError> {
        let config = &self.shared.config;
        if params.name.trim().is_empty() {
            return Err(EngineError::BadRequest(
                "params.name: must not be empty".into(),
            ));
        }
        if params.size < 0 {
            return Err(EngineError::BadRequest(format!(
                "params.size: must not be negative, got {}",
                params.size
            )));
        }
        if params.size as u64 > config.max_attachment_bytes {
            return Err(EngineError::TooLarge(format!(
                "attachment of {} bytes is larger than the limit of {} bytes",
                params.size, config.max_attachment_bytes
            )));
        }
        if !mime::is_allowed_type(&params.mime_type, &config.allowed_attachment_types) {
            return Err(EngineError::BadRequest(format!(
                "params.mime_type: `{}` is not accepted",
                params.mime_type
            )));
        }
        Ok(())
    }
}
