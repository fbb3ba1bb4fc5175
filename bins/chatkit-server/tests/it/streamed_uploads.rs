//! Uploads through the server stream to the attachment store as they arrive, on local disk and
//! on object storage: a body of several chunks arrives whole, the store sees the first chunk
//! before the client has sent the rest, and a body over the limit is refused with 413 with
//! nothing of it left behind.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::legacy_chat::{SECRET, user_token};
use crate::multi_instance::{start_s3_server, use_s3};
use crate::support::*;

/// Larger than any chunk the server reads at once (actix reads at most 64 KiB).
const LIMIT: u64 = 300_000;
const CHUNK: usize = 64 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Every file under `root`, recursively.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// A body sent in `CHUNK`-sized pieces.
fn chunked_body(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes
        .chunks(CHUNK)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

struct Setup {
    app: TestApp,
    token: String,
    /// The bucket's directory, with object storage.
    bucket: Option<tempfile::TempDir>,
}

async fn setup(s3: bool) -> Setup {
    let bucket = if s3 {
        Some(start_s3_server().await)
    } else {
        None
    };
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.auth.shared_secret = Some(SECRET.to_owned());
        settings.attachments.max_bytes = LIMIT;
        if let Some((endpoint, _)) = &bucket {
            use_s3(settings, endpoint);
        }
    })
    .await;
    Setup {
        app,
        token: user_token("alice"),
        bucket: bucket.map(|(_, root)| root),
    }
}

impl Setup {
    async fn create(&self, size: usize) -> String {
        let reply = self
            .app
            .post_as(
                json!({"type": "attachments.create", "params": {
                    "name": "big.bin", "size": size, "mime_type": "application/pdf"}}),
                Some(&self.token),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.raw);
        reply.json["id"].as_str().expect("id").to_owned()
    }

    async fn put(&self, id: &str, body: reqwest::Body) -> (u16, Value) {
        let response = self
            .app
            .client
            .put(format!("{}/attachments/{id}", self.app.base))
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn direct(&self, bytes: Vec<u8>) -> (u16, Value) {
        let length = bytes.len() as u64;
        let part = Part::stream_with_length(chunked_body(bytes), length)
            .file_name("direct.bin")
            .mime_str("application/pdf")
            .expect("mime");
        let response = self
            .app
            .client
            .post(format!("{}/attachments", self.app.base))
            .bearer_auth(&self.token)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The stored bytes, following a redirect to the bucket when there is one.
    async fn download(&self, id: &str) -> (u16, Vec<u8>) {
        let response = self
            .app
            .client
            .get(format!("{}/attachments/{id}", self.app.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    /// The attachment store's files: the attachments directory, or the bucket's.
    fn stored_files(&self) -> Vec<PathBuf> {
        match &self.bucket {
            Some(root) => files(root.path()),
            None => files(&self.app.attachments_dir()),
        }
    }
}

async fn uploads_stream_and_refusals_leave_nothing(s3: bool) {
    let setup = setup(s3).await;

    // Two-phase, raw body of several chunks; then a direct upload of several chunks.
    let body = pattern(LIMIT as usize - 10);
    let id = setup.create(body.len()).await;
    let (status, answer) = setup.put(&id, chunked_body(body.clone())).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(setup.download(&id).await, (200, body.clone()));
    let (status, answer) = setup.direct(body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let direct_id = answer["id"].as_str().expect("id");
    assert_eq!(setup.download(direct_id).await, (200, body.clone()));
    let before = setup.stored_files();

    // One byte over the limit, in chunks: refused, and nothing of it stays, not even a part.
    let over = pattern(LIMIT as usize + 1);
    let id = setup.create(100).await;
    let (status, answer) = setup.put(&id, chunked_body(over.clone())).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (413, &json!("too_large"))
    );
    assert_eq!(setup.download(&id).await.0, 404, "no bytes were stored");
    let (status, answer) = setup.direct(over).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (413, &json!("too_large"))
    );
    assert_eq!(
        setup.stored_files(),
        before,
        "no partial object or temporary file is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_the_server_stream_to_local_disk() {
    uploads_stream_and_refusals_leave_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_the_server_stream_to_object_storage() {
    uploads_stream_and_refusals_leave_nothing(true).await;
}

/// The store has the first chunk on disk while the client still holds the rest of the body:
/// the server does not collect the upload before writing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_writes_the_first_chunk_before_the_body_has_arrived() {
    let setup = setup(false).await;
    let body = pattern(3 * CHUNK);
    let id = setup.create(body.len()).await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let first = body[..CHUNK].to_vec();
    let rest = body[CHUNK..].to_vec();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(
        futures::stream::once(async move {
            let _ = released.await;
            Ok(rest)
        }),
    );
    let upload = setup.put(&id, reqwest::Body::wrap_stream(stream));
    let watch = async {
        // The temporary file of the upload grows to the first chunk while the rest is held back.
        let directory = setup.app.attachments_dir();
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let partial = files(&directory).into_iter().any(|path| {
                    std::fs::metadata(&path).is_ok_and(|meta| meta.len() >= CHUNK as u64)
                });
                if partial {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let _ = release.send(());
        seen.is_ok()
    };
    let ((status, answer), seen) = tokio::join!(upload, watch);
    assert!(
        seen,
        "the first chunk reached the disk before the rest was sent"
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(setup.download(&id).await, (200, body));
}
