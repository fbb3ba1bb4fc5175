//! The S3 attachment store against a real S3-compatible server: `s3s-fs` (an S3 server on a
//! directory) started in this process on a loopback port, with SigV4 authentication on. Uploads
//! and downloads through presigned URLs go over plain HTTP with reqwest, as a browser would.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatkit_protocol::{Attachment, AttachmentCreateParams};
use chatkit_store::{AttachmentStore, S3AttachmentStore, S3Config, StoreContext, StoreError};
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const BUCKET: &str = "chatkit-test";
const ACCESS_KEY: &str = "test-access-key";
const SECRET_KEY: &str = "test-secret-key-0123456789";

/// An S3 server on a temporary directory, listening on 127.0.0.1 at a free port until dropped.
struct S3Server {
    endpoint: String,
    _root: TempDir,
    accept_loop: JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn start_s3_server() -> S3Server {
    let root = tempfile::tempdir().expect("temporary directory");
    // s3s-fs keeps one directory per bucket.
    std::fs::create_dir(root.path().join(BUCKET)).expect("bucket directory");
    let file_system = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs on the directory");
    let mut builder = S3ServiceBuilder::new(file_system);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let accept_loop = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnectionBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    S3Server {
        endpoint,
        _root: root,
        accept_loop,
    }
}

fn config(server: &S3Server) -> S3Config {
    S3Config {
        bucket: BUCKET.to_owned(),
        prefix: "attachments/test".to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(server.endpoint.clone()),
        access_key_id: Some(ACCESS_KEY.to_owned()),
        secret_access_key: Some(SECRET_KEY.to_owned()),
        allow_http: true,
        preview_base_url: "https://chat.example/attachments".to_owned(),
        ..S3Config::default()
    }
}

fn owner() -> StoreContext {
    StoreContext::new(format!(
        "user_{}",
        chatkit_store::generate_id(chatkit_store::ItemIdKind::Message)
    ))
}

fn params(name: &str, mime_type: &str, size: usize) -> AttachmentCreateParams {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "size": size,
        "mime_type": mime_type,
    }))
    .expect("attachment params")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn base(attachment: &Attachment) -> &chatkit_protocol::AttachmentBase {
    match attachment {
        Attachment::File(file) => &file.base,
        Attachment::Image(image) => &image.base,
        other => panic!("unexpected attachment kind {other:?}"),
    }
}

/// PUTs `body` to the attachment's presigned upload URL with the descriptor's headers,
/// optionally overriding the content type, and returns the HTTP status.
async fn upload(attachment: &Attachment, content_type: Option<&str>, body: Vec<u8>) -> u16 {
    let descriptor = base(attachment)
        .upload_descriptor
        .as_ref()
        .expect("upload descriptor");
    let mut request = reqwest::Client::new().put(&descriptor.url).body(body);
    for (name, value) in &descriptor.headers {
        let value = if name.eq_ignore_ascii_case("content-type") {
            content_type.unwrap_or(value)
        } else {
            value
        };
        request = request.header(name, value);
    }
    request
        .send()
        .await
        .expect("upload request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_passes_the_attachment_conformance_suite() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(S3Config {
        max_bytes: 64 * 1024,
        ..config(&server)
    })
    .expect("store");
    let report = chatkit_store::attachment_conformance::run_all(Arc::new(store), 64 * 1024).await;
    report.assert_passed();
    assert_eq!(
        report.passed.len(),
        chatkit_store::attachment_conformance::cases().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_written_read_and_deleted_per_owner() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(config(&server)).expect("store");
    let (alice, bob) = (owner(), owner());
    let attachment = store
        .create_attachment(&params("notes.txt", "text/plain", 5), &alice)
        .await
        .expect("create");
    let id = &base(&attachment).id;

    assert!(
        store
            .read_bytes(id, &alice)
            .await
            .unwrap_err()
            .is_not_found(),
        "nothing is readable before the upload"
    );
    store
        .write_bytes(id, b"hello", &alice)
        .await
        .expect("write");
    assert_eq!(store.read_bytes(id, &alice).await.expect("read"), b"hello");
    store
        .write_bytes(id, b"again", &alice)
        .await
        .expect("overwrite");
    assert_eq!(store.read_bytes(id, &alice).await.expect("read"), b"again");

    // Another owner's view of the same id is a missing attachment, for every operation.
    assert!(store.read_bytes(id, &bob).await.unwrap_err().is_not_found());
    assert!(
        store
            .delete_attachment(id, &bob)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        store.read_bytes(id, &alice).await.expect("still there"),
        b"again"
    );

    store.delete_attachment(id, &alice).await.expect("delete");
    assert!(
        store
            .read_bytes(id, &alice)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .delete_attachment(id, &alice)
            .await
            .unwrap_err()
            .is_not_found(),
        "deleting twice is NotFound, as the contract says"
    );
    // Ids that could escape the owner's prefix name nothing.
    for bad in ["../x", "a/b", "", "ATC_UPPER"] {
        assert!(
            store
                .read_bytes(bad, &alice)
                .await
                .unwrap_err()
                .is_not_found()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_upload_then_a_presigned_download_round_trip() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(config(&server)).expect("store");
    let alice = owner();
    let body = pattern(70_000, 7);
    let attachment = store
        .create_attachment(&params("photo.png", "image/png", body.len()), &alice)
        .await
        .expect("create");
    let Attachment::Image(image) = &attachment else {
        panic!("an image/* attachment is an image: {attachment:?}");
    };
    let id = image.base.id.clone();
    let descriptor = image.base.upload_descriptor.as_ref().expect("descriptor");
    assert!(
        descriptor
            .url
            .starts_with(&format!("{}/{BUCKET}/attachments/test/", server.endpoint)),
        "the upload goes straight to the bucket: {}",
        descriptor.url
    );
    assert!(descriptor.url.contains("X-Amz-Signature="));
    assert_eq!(
        descriptor.headers.get("Content-Type").map(String::as_str),
        Some("image/png")
    );
    assert_eq!(
        image.preview_url,
        format!("https://chat.example/attachments/{id}"),
        "previews go through the server, which redirects to a fresh presigned URL"
    );

    assert_eq!(upload(&attachment, None, body.clone()).await, 200);
    assert_eq!(store.read_bytes(&id, &alice).await.expect("read"), body);

    let download = store
        .presigned_download_url(&id, &alice)
        .await
        .expect("presign GET");
    assert!(download.expires_at > chrono::Utc::now());
    assert!(download.expires_at <= chrono::Utc::now() + chrono::Duration::minutes(5));
    let response = reqwest::get(&download.url).await.expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("body").as_ref(), body);

    // A presigned URL is bound to its method and object: tampering breaks the signature.
    let tampered = download.url.replace(&id, "atc_someoneelse");
    assert_eq!(
        reqwest::get(&tampered)
            .await
            .expect("get")
            .status()
            .as_u16(),
        403
    );
    let put_to_get_url = reqwest::Client::new()
        .put(&download.url)
        .body("overwrite")
        .send()
        .await
        .expect("put");
    assert_eq!(put_to_get_url.status().as_u16(), 403);

    // Another owner's URL for the same id names another object, which does not exist.
    let stranger = store
        .presigned_download_url(&id, &owner())
        .await
        .expect("presign");
    assert_eq!(
        reqwest::get(&stranger.url)
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );

    store.delete_attachment(&id, &alice).await.expect("delete");
    assert_eq!(
        reqwest::get(&download.url)
            .await
            .expect("get")
            .status()
            .as_u16(),
        404,
        "deleting deletes the object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_upload_refuses_another_content_type_or_size() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(config(&server)).expect("store");
    let alice = owner();
    let attachment = store
        .create_attachment(&params("report.pdf", "application/pdf", 1_000), &alice)
        .await
        .expect("create");
    let id = base(&attachment).id.clone();

    assert_eq!(
        upload(&attachment, Some("text/html"), pattern(1_000, 1)).await,
        403,
        "another content type does not match the signature"
    );
    assert_eq!(
        upload(&attachment, None, pattern(1_001, 1)).await,
        403,
        "one byte more does not match the signed length"
    );
    assert_eq!(
        upload(&attachment, None, pattern(999, 1)).await,
        403,
        "one byte less does not match the signed length"
    );
    assert!(
        store
            .read_bytes(&id, &alice)
            .await
            .unwrap_err()
            .is_not_found(),
        "a refused upload stores nothing"
    );
    assert_eq!(upload(&attachment, None, pattern(1_000, 1)).await, 200);
    assert_eq!(
        store.read_bytes(&id, &alice).await.expect("read"),
        pattern(1_000, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_over_the_limit_are_refused_before_any_upload() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(S3Config {
        max_bytes: 1_000,
        ..config(&server)
    })
    .expect("store");
    let alice = owner();
    let error = store
        .create_attachment(
            &params("big.bin", "application/octet-stream", 1_001),
            &alice,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error}");
    let error = store
        .create_attachment(&params("bad.bin", "text/plain\nx-injected: 1", 10), &alice)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error}");
    let error = store
        .write_bytes("atc_direct", &pattern(1_001, 0), &alice)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error}");
}

fn chunked(bytes: &[u8], chunk: usize) -> chatkit_store::AttachmentByteStream<'static> {
    let chunks: Vec<Result<Bytes, StoreError>> = bytes
        .chunks(chunk)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_upload_streams_small_and_multipart_files() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(S3Config {
        max_bytes: 64 * 1024 * 1024,
        part_bytes: 5 * 1024 * 1024,
        ..config(&server)
    })
    .expect("store");
    let alice = owner();

    let small = pattern(100_000, 3);
    store
        .write_stream("atc_small", chunked(&small, 8_192), &alice)
        .await
        .expect("small stream");
    assert_eq!(
        store.read_bytes("atc_small", &alice).await.expect("read"),
        small
    );

    // Larger than two parts: goes up as a multipart upload of three parts.
    let large = pattern(12 * 1024 * 1024 + 123, 9);
    store
        .write_stream("atc_large", chunked(&large, 64 * 1024), &alice)
        .await
        .expect("multipart stream");
    let read = store.read_bytes("atc_large", &alice).await.expect("read");
    assert_eq!(read.len(), large.len());
    assert_eq!(Sha256::digest(&read), Sha256::digest(&large));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_oversized_direct_upload_stores_nothing() {
    let server = start_s3_server().await;
    let store = S3AttachmentStore::new(S3Config {
        max_bytes: 7 * 1024 * 1024,
        part_bytes: 5 * 1024 * 1024,
        ..config(&server)
    })
    .expect("store");
    let alice = owner();

    // Over the limit after a first part went up: refused, and the multipart upload aborted.
    let oversized = pattern(8 * 1024 * 1024, 5);
    let error = store
        .write_stream("atc_oversized", chunked(&oversized, 64 * 1024), &alice)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error}");
    assert!(
        store
            .read_bytes("atc_oversized", &alice)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A client that breaks off mid-upload: the earlier bytes stay, nothing half-written.
    store
        .write_bytes("atc_kept", b"earlier bytes", &alice)
        .await
        .expect("write");
    let broken: chatkit_store::AttachmentByteStream<'static> = futures::stream::iter(vec![
        Ok(Bytes::from(pattern(6 * 1024 * 1024, 1))),
        Err(StoreError::InvalidInput("client went away".to_owned())),
    ])
    .boxed();
    assert!(
        store
            .write_stream("atc_kept", broken, &alice)
            .await
            .is_err()
    );
    assert_eq!(
        store.read_bytes("atc_kept", &alice).await.expect("read"),
        b"earlier bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_or_an_unreachable_service_are_errors_not_panics() {
    let server = start_s3_server().await;
    let wrong = S3AttachmentStore::new(S3Config {
        secret_access_key: Some("not-the-secret".to_owned()),
        ..config(&server)
    })
    .expect("store");
    let error = wrong
        .write_bytes("atc_x", b"x", &owner())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error}");
    assert!(
        !error.to_string().contains("not-the-secret"),
        "the secret never appears in an error: {error}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let unreachable = S3AttachmentStore::new(S3Config {
        endpoint: Some(closed),
        max_retries: 1,
        retry_timeout: Duration::from_secs(5),
        ..config(&server)
    })
    .expect("store");
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(120),
        unreachable.read_bytes("atc_x", &owner()),
    )
    .await
    .expect("the client's retries end")
    .unwrap_err();
    assert!(
        matches!(error, StoreError::Unavailable(_)),
        "{error} after {:?}",
        started.elapsed()
    );
}

#[test]
fn configuration_is_checked_and_never_prints_the_secret() {
    let valid = S3Config {
        bucket: "b".to_owned(),
        endpoint: Some("https://s3.example".to_owned()),
        access_key_id: Some("AKIAEXAMPLE".to_owned()),
        secret_access_key: Some("very-secret-key".to_owned()),
        session_token: Some("very-secret-token".to_owned()),
        ..S3Config::default()
    };
    let printed = format!("{valid:?}");
    assert!(!printed.contains("very-secret"), "{printed}");
    assert!(printed.contains("AKIAEXAMPLE"));
    assert!(S3AttachmentStore::new(valid.clone()).is_ok());

    let cases = [
        S3Config {
            bucket: " ".to_owned(),
            ..valid.clone()
        },
        S3Config {
            endpoint: Some("http://s3.example".to_owned()),
            ..valid.clone()
        },
        S3Config {
            part_bytes: 1024,
            ..valid.clone()
        },
        S3Config {
            secret_access_key: None,
            ..valid.clone()
        },
    ];
    for config in cases {
        let error = S3AttachmentStore::new(config.clone()).unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidInput(_)),
            "{config:?}: {error}"
        );
    }
}
