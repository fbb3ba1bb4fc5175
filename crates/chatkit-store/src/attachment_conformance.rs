//! The conformance suite of the [`AttachmentStore`] contract, for every implementation (local
//! disk, object storage, or an integrator's own).
//!
//! The store under test must accept files of `max_bytes` and refuse larger ones; `max_bytes`
//! must be at least 64 KiB. Cases use fresh random owners and ids, so one store can serve them
//! all.
//!
//! ```
//! # async fn example() {
//! use std::sync::Arc;
//! use chatkit_store::{AttachmentStore, LocalDiskAttachmentStore, LocalDiskConfig};
//! use chatkit_store::attachment_conformance;
//!
//! let root = std::env::temp_dir().join(format!("chatkit-atc-doc-{}", std::process::id()));
//! let store = LocalDiskAttachmentStore::new(LocalDiskConfig {
//!     root: root.clone(),
//!     max_bytes: 64 * 1024,
//!     ..LocalDiskConfig::default()
//! });
//! attachment_conformance::run_all(Arc::new(store), 64 * 1024).await.assert_passed();
//! # let _ = std::fs::remove_dir_all(root);
//! # }
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(example());
//! ```

use std::sync::Arc;

use bytes::Bytes;
use chatkit_protocol::attachments::UploadMethod;
use chatkit_protocol::{Attachment, AttachmentBase, AttachmentCreateParams};
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::conformance::Report;
use crate::{
    AttachmentByteStream, AttachmentStore, ItemIdKind, StoreContext, StoreError, generate_id,
};

/// How a case is run: with the store and its `max_bytes`.
pub type CaseFn = fn(Arc<dyn AttachmentStore>, u64) -> BoxFuture<'static, ()>;

/// One case of the suite.
pub struct Case {
    /// The contract point it checks, as a function name.
    pub name: &'static str,
    /// Runs the case; panics (with an explanation) when the contract is broken.
    pub run: CaseFn,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case of the suite, in a stable order.
        pub fn cases() -> Vec<Case> {
            vec![$(Case {
                name: stringify!($name),
                run: |store, max_bytes| Box::pin($name(store, max_bytes)),
            }),*]
        }
    };
}

cases!(
    created_attachments_have_a_put_descriptor_and_the_right_kind,
    nothing_is_readable_before_the_upload,
    bytes_round_trip_and_are_replaced_whole,
    another_owner_can_neither_read_nor_delete,
    delete_removes_the_bytes_and_a_second_delete_is_not_found,
    hostile_ids_name_nothing,
    sizes_over_the_limit_are_invalid_input,
    a_streamed_upload_round_trips,
    a_broken_stream_keeps_the_earlier_bytes,
    download_urls_are_unsupported_or_short_lived,
);

/// Runs every case in a task of its own, so that a panicking case is reported by name and the
/// others still run.
pub async fn run_all(store: Arc<dyn AttachmentStore>, max_bytes: u64) -> Report {
    assert!(
        max_bytes >= 64 * 1024,
        "the suite needs max_bytes >= 64 KiB"
    );
    let mut report = Report::default();
    for case in cases() {
        match tokio::spawn((case.run)(store.clone(), max_bytes)).await {
            Ok(()) => report.passed.push(case.name),
            Err(error) => {
                let message = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(error) => error.to_string(),
                };
                report.failed.push((case.name, message));
            }
        }
    }
    report
}

fn owner() -> StoreContext {
    StoreContext::new(format!("owner_{}", generate_id(ItemIdKind::Message)))
}

fn params(name: &str, mime_type: &str, size: i64) -> AttachmentCreateParams {
    AttachmentCreateParams {
        name: name.to_owned(),
        size,
        mime_type: mime_type.to_owned(),
    }
}

fn base(attachment: &Attachment) -> &AttachmentBase {
    match attachment {
        Attachment::File(file) => &file.base,
        Attachment::Image(image) => &image.base,
        other => panic!("unexpected attachment kind {other:?}"),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn chunked(bytes: &[u8], chunk: usize) -> AttachmentByteStream<'static> {
    let chunks: Vec<Result<Bytes, StoreError>> = bytes
        .chunks(chunk)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

async fn fresh_id(store: &dyn AttachmentStore, ctx: &StoreContext) -> String {
    let attachment = store
        .create_attachment(&params("file.bin", "application/octet-stream", 10), ctx)
        .await
        .expect("create_attachment");
    base(&attachment).id.clone()
}

fn assert_not_found<T: std::fmt::Debug>(outcome: Result<T, StoreError>, why: &str) {
    match outcome {
        Err(error) if error.is_not_found() => {}
        other => panic!("{why}: expected NotFound, got {other:?}"),
    }
}

async fn created_attachments_have_a_put_descriptor_and_the_right_kind(
    store: Arc<dyn AttachmentStore>,
    _max_bytes: u64,
) {
    let ctx = owner();
    let image = store
        .create_attachment(&params("cat.png", "image/png", 10), &ctx)
        .await
        .expect("create image");
    let Attachment::Image(image_attachment) = &image else {
        panic!("image/* gives an image attachment: {image:?}");
    };
    assert!(
        !image_attachment.preview_url.is_empty(),
        "an image has a preview URL"
    );
    let file = store
        .create_attachment(&params("a.pdf", "application/pdf", 10), &ctx)
        .await
        .expect("create file");
    assert!(matches!(file, Attachment::File(_)), "{file:?}");
    for attachment in [&image, &file] {
        let base = base(attachment);
        assert!(base.id.starts_with("atc_"), "{}", base.id);
        let descriptor = base
            .upload_descriptor
            .as_ref()
            .expect("a two-phase upload descriptor");
        assert_eq!(descriptor.method, UploadMethod::Put);
        assert!(!descriptor.url.is_empty());
    }
    assert_ne!(base(&image).id, base(&file).id, "ids are unique");
}

async fn nothing_is_readable_before_the_upload(store: Arc<dyn AttachmentStore>, _: u64) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    assert_not_found(store.read_bytes(&id, &ctx).await, "read before upload");
    assert_not_found(
        store.delete_attachment(&id, &ctx).await,
        "delete before upload",
    );
}

async fn bytes_round_trip_and_are_replaced_whole(store: Arc<dyn AttachmentStore>, _: u64) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    let first = pattern(5_000, 1);
    store.write_bytes(&id, &first, &ctx).await.expect("write");
    assert_eq!(store.read_bytes(&id, &ctx).await.expect("read"), first);
    store
        .write_bytes(&id, b"short", &ctx)
        .await
        .expect("overwrite");
    assert_eq!(
        store.read_bytes(&id, &ctx).await.expect("read"),
        b"short",
        "a shorter upload replaces the whole file, no tail of the old one"
    );
    store.write_bytes(&id, b"", &ctx).await.expect("empty");
    assert_eq!(store.read_bytes(&id, &ctx).await.expect("read"), b"");
}

async fn another_owner_can_neither_read_nor_delete(store: Arc<dyn AttachmentStore>, _: u64) {
    let (alice, bob) = (owner(), owner());
    let id = fresh_id(store.as_ref(), &alice).await;
    store
        .write_bytes(&id, b"alice's", &alice)
        .await
        .expect("write");
    assert_not_found(store.read_bytes(&id, &bob).await, "bob reads alice's id");
    assert_not_found(
        store.delete_attachment(&id, &bob).await,
        "bob deletes alice's id",
    );
    // Bob writing the same id writes his own bytes, never over Alice's.
    store
        .write_bytes(&id, b"bob's", &bob)
        .await
        .expect("bob's own write");
    assert_eq!(
        store.read_bytes(&id, &alice).await.expect("read"),
        b"alice's"
    );
    assert_eq!(store.read_bytes(&id, &bob).await.expect("read"), b"bob's");
    store
        .delete_attachment(&id, &bob)
        .await
        .expect("bob's delete");
    assert_eq!(
        store.read_bytes(&id, &alice).await.expect("read"),
        b"alice's",
        "bob's delete leaves alice's bytes"
    );
}

async fn delete_removes_the_bytes_and_a_second_delete_is_not_found(
    store: Arc<dyn AttachmentStore>,
    _: u64,
) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    store.write_bytes(&id, b"bytes", &ctx).await.expect("write");
    store.delete_attachment(&id, &ctx).await.expect("delete");
    assert_not_found(store.read_bytes(&id, &ctx).await, "read after delete");
    assert_not_found(store.delete_attachment(&id, &ctx).await, "second delete");
}

async fn hostile_ids_name_nothing(store: Arc<dyn AttachmentStore>, _: u64) {
    let ctx = owner();
    for hostile in [
        "../escape",
        "a/b",
        "",
        "..",
        "x\0y",
        "/abs",
        "atc_a/../../b",
    ] {
        match store.write_bytes(hostile, b"x", &ctx).await {
            Err(StoreError::NotFound { .. } | StoreError::InvalidInput(_)) => {}
            other => panic!("write to {hostile:?}: {other:?}"),
        }
        assert_not_found(store.read_bytes(hostile, &ctx).await, hostile);
    }
}

async fn sizes_over_the_limit_are_invalid_input(store: Arc<dyn AttachmentStore>, max_bytes: u64) {
    let ctx = owner();
    let over = i64::try_from(max_bytes + 1).expect("limit fits i64");
    for size in [over, -1] {
        match store
            .create_attachment(&params("big.bin", "application/octet-stream", size), &ctx)
            .await
        {
            Err(StoreError::InvalidInput(_)) => {}
            other => panic!("create of size {size}: {other:?}"),
        }
    }
    let id = fresh_id(store.as_ref(), &ctx).await;
    let too_big = pattern(max_bytes as usize + 1, 2);
    match store.write_bytes(&id, &too_big, &ctx).await {
        Err(StoreError::InvalidInput(_)) => {}
        other => panic!("write of max_bytes + 1: {other:?}"),
    }
    match store
        .write_stream(&id, chunked(&too_big, 16 * 1024), &ctx)
        .await
    {
        Err(StoreError::InvalidInput(_)) => {}
        other => panic!("stream of max_bytes + 1: {other:?}"),
    }
    assert_not_found(
        store.read_bytes(&id, &ctx).await,
        "nothing of a refused upload",
    );
    let exactly = pattern(max_bytes as usize, 3);
    store
        .write_bytes(&id, &exactly, &ctx)
        .await
        .expect("exactly max_bytes is accepted");
}

async fn a_streamed_upload_round_trips(store: Arc<dyn AttachmentStore>, max_bytes: u64) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    let body = pattern(max_bytes as usize, 4);
    store
        .write_stream(&id, chunked(&body, 7_777), &ctx)
        .await
        .expect("streamed upload");
    assert_eq!(store.read_bytes(&id, &ctx).await.expect("read"), body);
    store
        .write_stream(&id, futures::stream::empty().boxed(), &ctx)
        .await
        .expect("an empty stream is an empty file");
    assert_eq!(store.read_bytes(&id, &ctx).await.expect("read"), b"");
}

async fn a_broken_stream_keeps_the_earlier_bytes(store: Arc<dyn AttachmentStore>, _: u64) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    store
        .write_bytes(&id, b"earlier", &ctx)
        .await
        .expect("write");
    let broken: AttachmentByteStream<'static> = futures::stream::iter(vec![
        Ok(Bytes::from(pattern(10_000, 5))),
        Err(StoreError::InvalidInput("the client went away".to_owned())),
    ])
    .boxed();
    assert!(
        store.write_stream(&id, broken, &ctx).await.is_err(),
        "a broken stream fails"
    );
    assert_eq!(
        store.read_bytes(&id, &ctx).await.expect("read"),
        b"earlier",
        "nothing half-written replaces the earlier bytes"
    );
}

async fn download_urls_are_unsupported_or_short_lived(store: Arc<dyn AttachmentStore>, _: u64) {
    let ctx = owner();
    let id = fresh_id(store.as_ref(), &ctx).await;
    store.write_bytes(&id, b"bytes", &ctx).await.expect("write");
    match store.presigned_download_url(&id, &ctx).await {
        Err(StoreError::Unsupported(_)) => {}
        Ok(download) => {
            let now = chrono::Utc::now();
            assert!(download.expires_at > now, "already expired");
            assert!(
                download.expires_at <= now + chrono::Duration::hours(24),
                "a download URL lives a day at most: {}",
                download.expires_at
            );
            assert!(!download.url.is_empty());
            let other = store
                .presigned_download_url(&id, &owner())
                .await
                .expect("another owner's URL");
            assert_ne!(
                download.url, other.url,
                "another owner's URL for the same id names another object"
            );
        }
        Err(other) => panic!("presigned_download_url: {other}"),
    }
}
