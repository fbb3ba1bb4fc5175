//! Where attachment bytes live: the `AttachmentStore` trait and a local-disk implementation.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chatkit_protocol::attachments::UploadMethod;
use chatkit_protocol::{
    Attachment, AttachmentBase, AttachmentCreateParams, AttachmentUploadDescriptor, FileAttachment,
    ImageAttachment,
};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::{ItemIdKind, RecordKind, StoreContext, StoreError, generate_id};

/// The bytes of a direct upload as they arrive, chunk by chunk (see
/// [`AttachmentStore::write_stream`]). An `Err` item aborts the upload.
pub type AttachmentByteStream<'a> =
    Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send + 'a>>;

/// A short-lived URL that lets a client fetch an attachment's bytes straight from the storage
/// service, so they never pass through the server (see
/// [`AttachmentStore::presigned_download_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedDownload {
    /// The URL to `GET`; it carries its own authorization and needs no header.
    pub url: String,
    /// When the URL stops working. Hand it out right before use; never store it.
    pub expires_at: DateTime<Utc>,
}

/// Storage of attachment bytes, mirroring the reference's `AttachmentStore`. The metadata lives
/// in the [`Store`](crate::Store); the engine calls both (create here then
/// [`Store::save_attachment`](crate::Store::save_attachment); delete in both places).
///
/// Uploads are two-phase: [`create_attachment`](AttachmentStore::create_attachment) returns an
/// attachment whose `upload_descriptor` tells the client where to send the bytes, and the
/// server's upload endpoint hands them to [`write_bytes`](AttachmentStore::write_bytes). Bytes are
/// kept per owner: one owner can never read, overwrite or delete another's.
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// A new attachment id (`atc_...`). Pure.
    fn generate_attachment_id(&self, mime_type: &str, ctx: &StoreContext) -> String {
        let _ = (mime_type, ctx);
        generate_id(ItemIdKind::Attachment)
    }

    /// Starts a two-phase upload: an image or file attachment (by MIME type) with an upload
    /// descriptor. Files larger than the store accepts are [`StoreError::InvalidInput`].
    async fn create_attachment(
        &self,
        params: &AttachmentCreateParams,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError>;

    /// Stores the uploaded bytes of the owner's attachment, replacing earlier bytes.
    async fn write_bytes(
        &self,
        attachment_id: &str,
        bytes: &[u8],
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// The bytes of the owner's attachment ([`StoreError::NotFound`] before the upload).
    async fn read_bytes(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Vec<u8>, StoreError>;

    /// Deletes the bytes of the owner's attachment ([`StoreError::NotFound`] if there are none).
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError>;

    /// Stores a direct upload as it arrives, replacing earlier bytes, with the same size limit
    /// and owner rules as [`write_bytes`](AttachmentStore::write_bytes). Either every byte is
    /// stored or nothing replaces the earlier bytes: a failed or oversized stream
    /// ([`StoreError::InvalidInput`]) leaves no partial object behind.
    ///
    /// The default collects the stream and calls `write_bytes`, so it holds the whole file in
    /// memory; stores that can write piecewise (object storage's multipart upload) override it
    /// and hold only a bounded buffer.
    async fn write_stream(
        &self,
        attachment_id: &str,
        mut chunks: AttachmentByteStream<'_>,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        self.write_bytes(attachment_id, &bytes, ctx).await
    }

    /// A short-lived URL from which the caller's client may download the owner's attachment
    /// directly from the storage service (used for downloads and image previews, so that the
    /// bytes do not pass through the server).
    ///
    /// Contract: only the owner's attachment is ever signed (the URL names the owner's object,
    /// so another owner's id gives a URL that answers 404); the URL expires at `expires_at` and
    /// must not be persisted; a store need not check that the bytes exist (a URL for a missing
    /// upload answers 404 from the storage service). Stores that cannot sign URLs, like the
    /// local-disk store, keep this default, which fails with [`StoreError::Unsupported`]; the
    /// server then serves the bytes itself through
    /// [`read_bytes`](AttachmentStore::read_bytes).
    async fn presigned_download_url(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<PresignedDownload, StoreError> {
        let _ = (attachment_id, ctx);
        Err(StoreError::Unsupported(
            "this attachment store cannot sign download URLs".to_owned(),
        ))
    }
}

/// Settings of a [`LocalDiskAttachmentStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDiskConfig {
    /// Directory holding the bytes (one sub-directory per owner, named by a hash of the owner).
    pub root: PathBuf,
    /// Public base URL of the server's upload endpoint; the descriptor URL is
    /// `{upload_base_url}/{attachment_id}` with method `PUT`.
    pub upload_base_url: String,
    /// Public base URL where images are served; an image's `preview_url` is
    /// `{preview_base_url}/{attachment_id}`.
    pub preview_base_url: String,
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
}

impl Default for LocalDiskConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("attachments"),
            upload_base_url: "/attachments".to_owned(),
            preview_base_url: "/attachments".to_owned(),
            max_bytes: 20 * 1024 * 1024,
        }
    }
}

/// An [`AttachmentStore`] on the local file system, for single-server deployments.
///
/// Files sit at `root/<sha256(owner)>/<attachment id>`; ids are checked to be plain
/// `[a-z0-9_]` names, so no id can climb out of its owner's directory. Writes go to a temporary
/// file that is renamed into place, so a reader never sees half an upload.
#[derive(Debug, Clone)]
pub struct LocalDiskAttachmentStore {
    config: LocalDiskConfig,
}

impl LocalDiskAttachmentStore {
    /// A store writing under `config.root` (created on first write).
    pub fn new(config: LocalDiskConfig) -> Self {
        Self { config }
    }

    fn owner_dir(&self, ctx: &StoreContext) -> PathBuf {
        let digest = Sha256::digest(ctx.owner_id.as_bytes());
        self.config.root.join(hex::encode(digest))
    }

    fn path(&self, attachment_id: &str, ctx: &StoreContext) -> Result<PathBuf, StoreError> {
        check_plain_attachment_id(attachment_id)?;
        Ok(self.owner_dir(ctx).join(attachment_id))
    }
}

/// Attachment ids become file names and object keys, so only plain `[a-z0-9_]` names up to 128
/// characters are accepted: no id can climb out of its owner's directory or prefix. Any other
/// id cannot name a stored attachment, hence `NotFound`.
pub(crate) fn check_plain_attachment_id(attachment_id: &str) -> Result<(), StoreError> {
    let plain = !attachment_id.is_empty()
        && attachment_id.len() <= 128
        && attachment_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(StoreError::not_found(RecordKind::Attachment, attachment_id))
    }
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Backend(format!("attachment file system: {error}"))
}

fn not_found_or(error: std::io::Error, id: &str) -> StoreError {
    if error.kind() == std::io::ErrorKind::NotFound {
        StoreError::not_found(RecordKind::Attachment, id)
    } else {
        io_error(error)
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let chunk: Result<Bytes, StoreError> = Ok(Bytes::copy_from_slice(bytes));
    stream_atomically(path, futures::stream::iter([chunk]).boxed(), u64::MAX).await
}

/// Writes the chunks to a temporary file beside `path` as they arrive and renames it over
/// `path` once the stream ended well, so a reader sees the old bytes or the new ones, never
/// half; a failed or oversized stream removes the temporary file.
async fn stream_atomically(
    path: &Path,
    mut chunks: AttachmentByteStream<'_>,
    max_bytes: u64,
) -> Result<(), StoreError> {
    use tokio::io::AsyncWriteExt;
    let directory = path
        .parent()
        .ok_or_else(|| StoreError::Backend("attachment path has no parent".to_owned()))?;
    tokio::fs::create_dir_all(directory)
        .await
        .map_err(io_error)?;
    let temporary = directory.join(format!(".upload-{}", generate_id(ItemIdKind::Attachment)));
    let written: Result<(), StoreError> = async {
        let mut file = tokio::fs::File::create(&temporary)
            .await
            .map_err(io_error)?;
        let mut size: u64 = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(too_large(size, max_bytes));
            }
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        tokio::fs::rename(&temporary, path).await.map_err(io_error)
    }
    .await;
    if written.is_err() {
        // Best effort: a leftover temporary file is harmless but should not pile up.
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    written
}

#[async_trait]
impl AttachmentStore for LocalDiskAttachmentStore {
    #[tracing::instrument(name = "attachments.create", skip_all)]
    async fn create_attachment(
        &self,
        params: &AttachmentCreateParams,
        ctx: &StoreContext,
    ) -> Result<Attachment, StoreError> {
        let size = u64::try_from(params.size)
            .map_err(|_| StoreError::InvalidInput("attachment size is negative".to_owned()))?;
        if size > self.config.max_bytes {
            return Err(too_large(size, self.config.max_bytes));
        }
        let id = self.generate_attachment_id(&params.mime_type, ctx);
        let base = AttachmentBase {
            id: id.clone(),
            name: params.name.clone(),
            mime_type: params.mime_type.clone(),
            upload_descriptor: Some(AttachmentUploadDescriptor {
                url: format!("{}/{id}", self.config.upload_base_url.trim_end_matches('/')),
                method: UploadMethod::Put,
                headers: Default::default(),
            }),
            thread_id: None,
            metadata: None,
        };
        Ok(attachment_record(
            base,
            &params.mime_type,
            &self.config.preview_base_url,
        ))
    }

    #[tracing::instrument(name = "attachments.write", skip_all, fields(attachment.id = %attachment_id, size_bytes = bytes.len()))]
    async fn write_bytes(
        &self,
        attachment_id: &str,
        bytes: &[u8],
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        if bytes.len() as u64 > self.config.max_bytes {
            return Err(too_large(bytes.len() as u64, self.config.max_bytes));
        }
        let path = self.path(attachment_id, ctx)?;
        write_atomically(&path, bytes).await
    }

    #[tracing::instrument(name = "attachments.write_stream", skip_all, fields(attachment.id = %attachment_id))]
    async fn write_stream(
        &self,
        attachment_id: &str,
        chunks: AttachmentByteStream<'_>,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let path = self.path(attachment_id, ctx)?;
        stream_atomically(&path, chunks, self.config.max_bytes).await
    }

    async fn read_bytes(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Vec<u8>, StoreError> {
        let path = self.path(attachment_id, ctx)?;
        tokio::fs::read(&path)
            .await
            .map_err(|error| not_found_or(error, attachment_id))
    }

    #[tracing::instrument(name = "attachments.delete", skip_all, fields(attachment.id = %attachment_id))]
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let path = self.path(attachment_id, ctx)?;
        tokio::fs::remove_file(&path)
            .await
            .map_err(|error| not_found_or(error, attachment_id))
    }
}

/// The refusal of an attachment over the size limit, worded the same by every store.
pub(crate) fn too_large(size: u64, limit: u64) -> StoreError {
    StoreError::InvalidInput(format!(
        "attachment of {size} bytes exceeds the limit of {limit} bytes"
    ))
}

/// The record of a new attachment: an image (with its preview URL under `preview_base_url`)
/// when the MIME type is an image, a file otherwise. One shape for every store.
pub(crate) fn attachment_record(
    base: AttachmentBase,
    mime_type: &str,
    preview_base_url: &str,
) -> Attachment {
    if mime_type.starts_with("image/") {
        Attachment::Image(ImageAttachment {
            preview_url: format!("{}/{}", preview_base_url.trim_end_matches('/'), base.id),
            base,
        })
    } else {
        Attachment::File(FileAttachment { base })
    }
}
