//! Attachment metadata.

use std::sync::Arc;

use chatkit_protocol::attachments::UploadMethod;
use chatkit_protocol::{Attachment, AttachmentBase, AttachmentUploadDescriptor, ImageAttachment};
use serde_json::json;

use crate::{ItemIdKind, RecordKind, Store, generate_id};

use super::support::*;

/// Attachment metadata is upserted by id, keeps its integration `metadata` (which the wire form
/// drops), and is deleted once.
pub async fn attachments_upsert_and_keep_metadata(store: Arc<dyn Store>) {
    let ctx = owner();
    let id = generate_id(ItemIdKind::Attachment);
    let mut attachment = file_attachment(&id, Some(json!({"bucket": "b1", "size": 1234})));
    attachment.base_mut().upload_descriptor = Some(AttachmentUploadDescriptor {
        url: "https://upload.example.invalid/x".to_owned(),
        method: UploadMethod::Put,
        headers: [("x-token".to_owned(), "abc".to_owned())]
            .into_iter()
            .collect(),
    });
    store
        .save_attachment(&attachment, &ctx)
        .await
        .expect("save_attachment");
    assert_eq!(
        store
            .load_attachment(&id, &ctx)
            .await
            .expect("load_attachment"),
        attachment
    );

    attachment.base_mut().upload_descriptor = None;
    attachment.base_mut().thread_id = Some(store.generate_thread_id(&ctx));
    attachment.base_mut().name = "renamed.pdf".to_owned();
    attachment.base_mut().metadata = None;
    store
        .save_attachment(&attachment, &ctx)
        .await
        .expect("save_attachment (update)");
    assert_eq!(
        store
            .load_attachment(&id, &ctx)
            .await
            .expect("load_attachment"),
        attachment
    );

    let image = Attachment::Image(ImageAttachment {
        base: AttachmentBase {
            id: generate_id(ItemIdKind::Attachment),
            name: "cat.png".to_owned(),
            mime_type: "image/png".to_owned(),
            upload_descriptor: None,
            thread_id: None,
            metadata: json!({"w": 10}).as_object().cloned(),
        },
        preview_url: "https://cdn.example.invalid/cat.png".to_owned(),
    });
    store
        .save_attachment(&image, &ctx)
        .await
        .expect("save image");
    assert_eq!(
        store
            .load_attachment(image.id(), &ctx)
            .await
            .expect("load image"),
        image
    );

    store
        .delete_attachment(&id, &ctx)
        .await
        .expect("delete_attachment");
    expect_not_found(
        store.load_attachment(&id, &ctx).await,
        RecordKind::Attachment,
        "load after delete",
    );
    expect_not_found(
        store.delete_attachment(&id, &ctx).await,
        RecordKind::Attachment,
        "second delete",
    );
    assert_eq!(
        store
            .load_attachment(image.id(), &ctx)
            .await
            .expect("image stays"),
        image
    );
}
