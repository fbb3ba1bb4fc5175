use chatkit_protocol::{Attachment, AttachmentCreateParams};
use chatkit_store::{
    AttachmentStore, LocalDiskAttachmentStore, LocalDiskConfig, RecordKind, StoreContext,
    StoreError,
};

fn disk_store(root: &std::path::Path) -> LocalDiskAttachmentStore {
    LocalDiskAttachmentStore::new(LocalDiskConfig {
        root: root.to_owned(),
        upload_base_url: "https://chat.example.invalid/attachments/".to_owned(),
        preview_base_url: "https://chat.example.invalid/previews".to_owned(),
        max_bytes: 1024,
    })
}

fn params(name: &str, mime_type: &str, size: i64) -> AttachmentCreateParams {
    AttachmentCreateParams {
        name: name.to_owned(),
        size,
        mime_type: mime_type.to_owned(),
    }
}

#[tokio::test]
async fn two_phase_upload_round_trip_and_delete() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = disk_store(root.path());
    let alice = StoreContext::new("alice");

    let image = store
        .create_attachment(&params("cat.png", "image/png", 10), &alice)
        .await
        .expect("create image");
    let Attachment::Image(image) = image else {
        panic!("an image/* MIME type gives an image attachment");
    };
    assert!(image.base.id.starts_with("atc_"));
    let descriptor = image
        .base
        .upload_descriptor
        .as_ref()
        .expect("two-phase descriptor");
    assert_eq!(
        descriptor.url,
        format!("https://chat.example.invalid/attachments/{}", image.base.id)
    );
    assert_eq!(
        image.preview_url,
        format!("https://chat.example.invalid/previews/{}", image.base.id)
    );

    let file = store
        .create_attachment(&params("a.pdf", "application/pdf", 10), &alice)
        .await
        .expect("create file");
    assert!(matches!(file, Attachment::File(_)));

    let id = image.base.id.as_str();
    let missing = store.read_bytes(id, &alice).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    store
        .write_bytes(id, b"png bytes", &alice)
        .await
        .expect("write");
    assert_eq!(
        store.read_bytes(id, &alice).await.expect("read"),
        b"png bytes"
    );
    store
        .write_bytes(id, b"replaced", &alice)
        .await
        .expect("rewrite");
    assert_eq!(
        store.read_bytes(id, &alice).await.expect("read"),
        b"replaced"
    );

    // Another owner sees nothing, and cannot delete.
    let bob = StoreContext::new("bob");
    assert!(store.read_bytes(id, &bob).await.unwrap_err().is_not_found());
    assert!(
        store
            .delete_attachment(id, &bob)
            .await
            .unwrap_err()
            .is_not_found()
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
            .is_not_found()
    );
}

#[tokio::test]
async fn limits_and_hostile_ids_are_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = disk_store(root.path());
    let ctx = StoreContext::new("alice");
    for size in [1025, -1] {
        let result = store
            .create_attachment(&params("big", "text/plain", size), &ctx)
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidInput(_))),
            "{size}: {result:?}"
        );
    }
    let result = store.write_bytes("atc_x", &[0; 1025], &ctx).await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    for hostile in ["../escape", "a/b", "", "ATC_UPPER", "..", "x\0y"] {
        match store.write_bytes(hostile, b"x", &ctx).await {
            Err(StoreError::NotFound {
                what: RecordKind::Attachment,
                ..
            }) => {}
            other => panic!("{hostile:?}: {other:?}"),
        }
    }
    // Nothing was written outside the owner directories.
    let entries: Vec<_> = std::fs::read_dir(root.path()).expect("root").collect();
    assert!(entries.is_empty(), "no file was written: {entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_disk_passes_the_attachment_conformance_suite() {
    let root = tempfile::tempdir().expect("temp dir");
    let store = LocalDiskAttachmentStore::new(LocalDiskConfig {
        root: root.path().to_owned(),
        max_bytes: 64 * 1024,
        ..LocalDiskConfig::default()
    });
    let report =
        chatkit_store::attachment_conformance::run_all(std::sync::Arc::new(store), 64 * 1024).await;
    report.assert_passed();
    assert_eq!(
        report.passed.len(),
        chatkit_store::attachment_conformance::cases().len()
    );
}
