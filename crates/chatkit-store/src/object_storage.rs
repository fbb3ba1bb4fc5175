//! An [`AttachmentStore`] on S3-compatible object storage (AWS S3, MinIO, Cloudflare R2, Ceph,
//! GCS's XML API...) through the `object_store` crate, so that every server instance reads and
//! writes the same bytes and uploads and downloads go straight between the browser and the
//! bucket.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chatkit_protocol::attachments::UploadMethod;
use chatkit_protocol::{
    Attachment, AttachmentBase, AttachmentCreateParams, AttachmentUploadDescriptor,
};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use rusty_s3::S3Action as _;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::attachments::{
    AttachmentByteStream, PresignedDownload, attachment_record, check_plain_attachment_id,
    too_large,
};
use crate::{AttachmentStore, RecordKind, StoreContext, StoreError};

/// S3 rejects multipart parts below 5 MiB (except the last), so smaller buffers cannot work.
const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// Settings of an [`S3AttachmentStore`]. Only the binary reads them from the environment; this
/// struct never prints the secret key (see its `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket holding the attachments. It must exist; the store never creates buckets.
    pub bucket: String,
    /// Key prefix under which this deployment's objects live (`chatkit/attachments`); objects are
    /// `{prefix}/{sha256(owner)}/{attachment id}`. Empty means the bucket's root.
    pub prefix: String,
    /// The signing region (`us-east-1` for most S3-compatible servers, `auto` for R2).
    pub region: String,
    /// The service's base URL for anything but AWS (`http://127.0.0.1:9000` for a local MinIO,
    /// `https://<account>.r2.cloudflarestorage.com` for R2). `None` uses AWS S3 for `region`.
    /// With an endpoint, requests are path-style (`{endpoint}/{bucket}/{key}`), which every
    /// S3-compatible server accepts.
    pub endpoint: Option<String>,
    /// Access key id. `None` together with `secret_access_key: None` falls back to the
    /// platform's credentials (instance metadata, web identity), as AWS SDKs do.
    pub access_key_id: Option<String>,
    /// Secret access key, never logged.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials, never logged.
    pub session_token: Option<String>,
    /// Accept an `http://` endpoint. Off by default so that credentials and presigned URLs are
    /// not sent in clear text by mistake; a local MinIO in development turns it on.
    pub allow_http: bool,
    /// How long a presigned upload URL stays valid: long enough for a slow client to start its
    /// upload (the upload itself may take longer once started).
    pub upload_url_ttl: Duration,
    /// How long a presigned download or preview URL stays valid. Short, because whoever holds
    /// the URL can read the file until then.
    pub download_url_ttl: Duration,
    /// Largest accepted file, in bytes. Bound into each presigned upload (the URL only accepts
    /// exactly the declared size) and checked on direct uploads.
    pub max_bytes: u64,
    /// Buffer of a direct upload. A file that fits is written in one request; a larger one goes
    /// up as a multipart upload in parts of this size, so a direct upload holds at most about
    /// `part_bytes * (upload_concurrency + 1)` in memory whatever the file's size. At least 5 MiB
    /// (S3's smallest part).
    pub part_bytes: usize,
    /// Parts of one multipart upload in flight at once.
    pub upload_concurrency: usize,
    /// Retries of a failed request (connection errors, 5xx, throttling) before the call fails
    /// with [`StoreError::Unavailable`].
    pub max_retries: usize,
    /// Total time a request may spend retrying. A chat client is waiting, so this is far
    /// shorter than `object_store`'s three-minute default.
    pub retry_timeout: Duration,
    /// Public base URL where the server serves image previews; an image's `preview_url` is
    /// `{preview_base_url}/{attachment_id}`. The server answers that URL with a redirect to a
    /// fresh presigned download URL, because a presigned URL would expire inside the stored
    /// thread item.
    pub preview_base_url: String,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            prefix: "chatkit/attachments".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            upload_url_ttl: Duration::from_secs(15 * 60),
            download_url_ttl: Duration::from_secs(5 * 60),
            max_bytes: 20 * 1024 * 1024,
            part_bytes: 8 * 1024 * 1024,
            upload_concurrency: 2,
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            preview_base_url: "/attachments".to_owned(),
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        formatter
            .debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("upload_url_ttl", &self.upload_url_ttl)
            .field("download_url_ttl", &self.download_url_ttl)
            .field("max_bytes", &self.max_bytes)
            .field("part_bytes", &self.part_bytes)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("preview_base_url", &self.preview_base_url)
            .finish()
    }
}

/// An [`AttachmentStore`] on S3-compatible object storage.
///
/// - `create_attachment` answers with a presigned `PUT` URL into the bucket. The declared
///   `Content-Type` and size are part of its signature, so the storage service refuses an upload
///   of another type or length; the descriptor's headers carry the `Content-Type` the client
///   must send (the client's HTTP stack sets `Content-Length` from the body).
/// - [`presigned_download_url`](AttachmentStore::presigned_download_url) signs a short-lived
///   `GET` for downloads and previews.
/// - [`write_stream`](AttachmentStore::write_stream) streams a direct upload into the bucket in
///   bounded memory (one `PUT` for small files, a multipart upload for large ones).
/// - Objects are keyed by a hash of the owner, so one owner's id never names another's object.
///
/// Objects are written whole (single `PUT` or a completed multipart upload), so a reader never
/// sees half an upload.
#[derive(Clone)]
pub struct S3AttachmentStore {
    bucket: Arc<AmazonS3>,
    /// The same bucket as `rusty-s3` addresses it, for signing upload URLs (see
    /// [`S3AttachmentStore::presign_upload`]).
    upload_signer: Arc<rusty_s3::Bucket>,
    config: S3Config,
}

impl fmt::Debug for S3AttachmentStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the (redacted) config: the clients' own `Debug` output is not ours to vouch for.
        formatter
            .debug_struct("S3AttachmentStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn object_error(error: object_store::Error, attachment_id: &str) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => {
            StoreError::not_found(RecordKind::Attachment, attachment_id)
        }
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            StoreError::Unsupported(format!("object storage: {error}"))
        }
        // Transport failures and error statuses of the service all arrive as `Generic`; the
        // client has already retried them, so the storage is treated as unavailable for now.
        object_store::Error::Generic { .. } => {
            StoreError::Unavailable(format!("object storage: {error}"))
        }
        // Refused credentials are a deployment mistake, not a passing outage: an operator has
        // to act, so they are not reported as retryable.
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            StoreError::Backend(format!("object storage refused the credentials: {error}"))
        }
        other => StoreError::Backend(format!("object storage: {other}")),
    }
}

impl S3AttachmentStore {
    /// A store on `config.bucket`. Nothing is contacted yet: a wrong endpoint or credential shows
    /// on the first call as [`StoreError::Unavailable`]. An incomplete configuration (no bucket,
    /// an `http://` endpoint without `allow_http`, a part size under 5 MiB) is
    /// [`StoreError::InvalidInput`].
    pub fn new(config: S3Config) -> Result<Self, StoreError> {
        if config.bucket.trim().is_empty() {
            return Err(StoreError::InvalidInput(
                "object storage needs a bucket name".to_owned(),
            ));
        }
        if config.part_bytes < MIN_PART_BYTES {
            return Err(StoreError::InvalidInput(format!(
                "object storage part size must be at least {MIN_PART_BYTES} bytes"
            )));
        }
        if config.access_key_id.is_some() != config.secret_access_key.is_some() {
            return Err(StoreError::InvalidInput(
                "object storage access key id and secret access key go together".to_owned(),
            ));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            .with_retry(RetryConfig {
                max_retries: config.max_retries,
                retry_timeout: config.retry_timeout,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            if endpoint.starts_with("http://") && !config.allow_http {
                return Err(StoreError::InvalidInput(
                    "object storage endpoint is http:// but plain HTTP is not allowed".to_owned(),
                ));
            }
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        let bucket = builder.build().map_err(|error| {
            StoreError::InvalidInput(format!("object storage configuration: {error}"))
        })?;
        let (endpoint, style) = match &config.endpoint {
            Some(endpoint) => (endpoint.clone(), rusty_s3::UrlStyle::Path),
            None => (
                format!("https://s3.{}.amazonaws.com", config.region),
                rusty_s3::UrlStyle::VirtualHost,
            ),
        };
        let endpoint = endpoint.parse().map_err(|error| {
            StoreError::InvalidInput(format!("object storage endpoint: {error}"))
        })?;
        let upload_signer = rusty_s3::Bucket::new(
            endpoint,
            style,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|error| StoreError::InvalidInput(format!("object storage bucket: {error}")))?;
        Ok(Self {
            bucket: Arc::new(bucket),
            upload_signer: Arc::new(upload_signer),
            config,
        })
    }

    /// The settings this store was built with.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// `{prefix}/{sha256(owner)}/{id}`: hashing keeps user ids (e-mails, say) out of object keys
    /// and makes every owner's objects a prefix of their own.
    fn key(&self, attachment_id: &str, ctx: &StoreContext) -> Result<ObjectPath, StoreError> {
        check_plain_attachment_id(attachment_id)?;
        let owner = hex::encode(Sha256::digest(ctx.owner_id.as_bytes()));
        let prefix = self.config.prefix.trim_matches('/');
        let key = if prefix.is_empty() {
            format!("{owner}/{attachment_id}")
        } else {
            format!("{prefix}/{owner}/{attachment_id}")
        };
        ObjectPath::parse(key)
            .map_err(|error| StoreError::InvalidInput(format!("object storage prefix: {error}")))
    }

    /// A presigned `PUT` whose signature covers `Content-Type` and `Content-Length`.
    ///
    /// `object_store` signs URLs but refuses to bind `Content-Length` (its signer reserves the
    /// header), and binding the size is the point here; `rusty-s3`, a sans-IO SigV4 signer, signs
    /// this one URL with the credentials `object_store` resolved (static keys or the
    /// platform's, refreshed by `object_store`).
    async fn presign_upload(
        &self,
        key: &ObjectPath,
        content_type: &str,
        size: u64,
        attachment_id: &str,
    ) -> Result<String, StoreError> {
        let credential = self
            .bucket
            .credentials()
            .get_credential()
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        let credentials = match &credential.token {
            Some(token) => rusty_s3::Credentials::new_with_token(
                credential.key_id.clone(),
                credential.secret_key.clone(),
                token.clone(),
            ),
            None => {
                rusty_s3::Credentials::new(credential.key_id.clone(), credential.secret_key.clone())
            }
        };
        let size = size.to_string();
        let mut action = rusty_s3::actions::PutObject::new(
            &self.upload_signer,
            Some(&credentials),
            key.as_ref(),
        );
        action.headers_mut().insert("content-type", content_type);
        action.headers_mut().insert("content-length", size.as_str());
        Ok(action.sign(self.config.upload_url_ttl).to_string())
    }

    async fn sign(
        &self,
        method: Method,
        key: &ObjectPath,
        ttl: Duration,
        options: &SignedUrlOptions,
        attachment_id: &str,
    ) -> Result<String, StoreError> {
        let url = self
            .bucket
            .signed_url_opts(method, key, ttl, options)
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        Ok(url.to_string())
    }
}

#[async_trait]
impl AttachmentStore for S3AttachmentStore {
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
        // A MIME type that is not a plain header value (control characters, non-ASCII) cannot
        // be signed into a header, nor sent by the client.
        let plain_header = !params.mime_type.is_empty()
            && params
                .mime_type
                .bytes()
                .all(|b| b.is_ascii_graphic() || b == b' ');
        if !plain_header {
            return Err(StoreError::InvalidInput(
                "attachment MIME type is not a valid header value".to_owned(),
            ));
        }
        let id = self.generate_attachment_id(&params.mime_type, ctx);
        let key = self.key(&id, ctx)?;
        // Both headers are signed: S3 recomputes the signature from the request's own headers,
        // so an upload with another type or another length does not match and is refused.
        let url = self
            .presign_upload(&key, &params.mime_type, size, &id)
            .await?;
        let base = AttachmentBase {
            id: id.clone(),
            name: params.name.clone(),
            mime_type: params.mime_type.clone(),
            upload_descriptor: Some(AttachmentUploadDescriptor {
                url,
                method: UploadMethod::Put,
                headers: [("Content-Type".to_owned(), params.mime_type.clone())]
                    .into_iter()
                    .collect(),
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
        let key = self.key(attachment_id, ctx)?;
        self.bucket
            .put(&key, PutPayload::from(Bytes::copy_from_slice(bytes)))
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        Ok(())
    }

    #[tracing::instrument(name = "attachments.write_stream", skip_all, fields(attachment.id = %attachment_id))]
    async fn write_stream(
        &self,
        attachment_id: &str,
        mut chunks: AttachmentByteStream<'_>,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let key = self.key(attachment_id, ctx)?;
        // `BufWriter` writes a file that fits its buffer with one PUT and starts a multipart
        // upload only when the buffer fills, keeping at most `upload_concurrency` parts in
        // flight; an aborted writer removes the parts it uploaded.
        let store: Arc<dyn ObjectStore> = self.bucket.clone();
        let mut writer = BufWriter::with_capacity(store, key, self.config.part_bytes)
            .with_max_concurrency(self.config.upload_concurrency.max(1));
        let mut written: u64 = 0;
        let outcome: Result<(), StoreError> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                if written > self.config.max_bytes {
                    return Err(too_large(written, self.config.max_bytes));
                }
                writer
                    .put(chunk)
                    .await
                    .map_err(|error| object_error(error, attachment_id))?;
            }
            writer.shutdown().await.map_err(|error| {
                StoreError::Unavailable(format!("object storage: completing the upload: {error}"))
            })
        }
        .await;
        if outcome.is_err() {
            // Best effort: nothing was committed, and the bucket's lifecycle rule for
            // incomplete multipart uploads is the backstop if this abort fails too.
            let _ = writer.abort().await;
        }
        tracing::debug!(
            size_bytes = written,
            "attachment streamed to object storage"
        );
        outcome
    }

    async fn read_bytes(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<Vec<u8>, StoreError> {
        let key = self.key(attachment_id, ctx)?;
        let object = self
            .bucket
            .get(&key)
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        let bytes = object
            .bytes()
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        Ok(bytes.to_vec())
    }

    #[tracing::instrument(name = "attachments.delete", skip_all, fields(attachment.id = %attachment_id))]
    async fn delete_attachment(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<(), StoreError> {
        let key = self.key(attachment_id, ctx)?;
        // S3's DELETE succeeds for a missing key too; the contract's `NotFound` needs a look first.
        self.bucket
            .head(&key)
            .await
            .map_err(|error| object_error(error, attachment_id))?;
        self.bucket
            .delete(&key)
            .await
            .map_err(|error| object_error(error, attachment_id))
    }

    #[tracing::instrument(name = "attachments.presign_download", skip_all, fields(attachment.id = %attachment_id))]
    async fn presigned_download_url(
        &self,
        attachment_id: &str,
        ctx: &StoreContext,
    ) -> Result<PresignedDownload, StoreError> {
        let key = self.key(attachment_id, ctx)?;
        let ttl = self.config.download_url_ttl;
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).map_err(|_| {
                StoreError::InvalidInput("download URL lifetime is too long".to_owned())
            })?;
        let url = self
            .sign(
                Method::GET,
                &key,
                ttl,
                &SignedUrlOptions::default(),
                attachment_id,
            )
            .await?;
        Ok(PresignedDownload { url, expires_at })
    }
}
