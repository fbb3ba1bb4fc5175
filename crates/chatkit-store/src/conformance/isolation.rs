//! Isolation between owners.

use std::sync::Arc;

use chatkit_protocol::{FeedbackKind, Order, ThreadItem, ThreadMetadata, UserMessageContent};
use serde_json::json;

use crate::{ItemIdKind, RecordKind, Store, generate_id};

use super::support::*;

/// Another owner's records behave exactly like missing ones, through every method, and nothing
/// that owner does changes them.
pub async fn isolation_between_owners_for_every_method(store: Arc<dyn Store>) {
    let alice = owner();
    let bob = owner();
    let mut thread = ThreadMetadata::new(store.generate_thread_id(&alice), base_time());
    thread.title = Some("Alice's".to_owned());
    store
        .save_thread(&thread, &alice)
        .await
        .expect("alice save_thread");
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread.id, &format!("secret {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &alice, &thread.id, &items).await;
    store
        .save_feedback(
            &thread.id,
            &ids(&items[..1]),
            FeedbackKind::Positive,
            &alice,
        )
        .await
        .expect("alice feedback");
    let attachment_id = generate_id(ItemIdKind::Attachment);
    let attachment = file_attachment(&attachment_id, Some(json!({"owner": "alice"})));
    store
        .save_attachment(&attachment, &alice)
        .await
        .expect("alice attachment");

    let first = items[0].id();
    let intruder = user_message(&thread.id, "bob was here", base_time());
    let mut rewrite = items[1].clone();
    if let ThreadItem::UserMessage(message) = &mut rewrite {
        message.content = vec![UserMessageContent::text("rewritten by bob")];
    }

    // Reads.
    expect_not_found(
        store.load_thread(&thread.id, &bob).await,
        RecordKind::Thread,
        "load_thread",
    );
    let bobs = store
        .load_threads(10, None, Order::Desc, &bob)
        .await
        .expect("bob load_threads");
    assert!(bobs.data.is_empty(), "bob lists alice's thread");
    expect_invalid_cursor(
        store
            .load_threads(10, Some(&thread.id), Order::Desc, &bob)
            .await,
        "load_threads after alice's thread",
    );
    expect_not_found(
        store
            .load_thread_items(&thread.id, None, 10, Order::Asc, &bob)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    expect_any_not_found(
        store
            .load_thread_items(&thread.id, Some(first), 10, Order::Asc, &bob)
            .await,
        "load_thread_items with alice's cursor",
    );
    expect_not_found(
        store.load_item(&thread.id, first, &bob).await,
        RecordKind::Item,
        "load_item",
    );
    expect_not_found(
        store.load_attachment(&attachment_id, &bob).await,
        RecordKind::Attachment,
        "load_attachment",
    );
    expect_any_not_found(
        store.load_feedback(&thread.id, first, &bob).await,
        "load_feedback",
    );

    // Writes.
    expect_not_found(
        store.add_thread_item(&thread.id, &intruder, &bob).await,
        RecordKind::Thread,
        "add_thread_item",
    );
    expect_not_found(
        store.save_item(&thread.id, &rewrite, &bob).await,
        RecordKind::Thread,
        "save_item",
    );
    expect_any_not_found(
        store
            .save_feedback(&thread.id, &ids(&items), FeedbackKind::Negative, &bob)
            .await,
        "save_feedback",
    );
    expect_any_not_found(
        store.delete_thread_item(&thread.id, first, &bob).await,
        "delete_thread_item",
    );
    expect_not_found(
        store.delete_thread(&thread.id, &bob).await,
        RecordKind::Thread,
        "delete_thread",
    );
    expect_not_found(
        store.delete_attachment(&attachment_id, &bob).await,
        RecordKind::Attachment,
        "delete_attachment",
    );

    // Bob may use the same ids: he gets records of his own, and alice's stay untouched.
    let mut bobs_thread = ThreadMetadata::new(thread.id.clone(), base_time());
    bobs_thread.title = Some("Bob's".to_owned());
    store
        .save_thread(&bobs_thread, &bob)
        .await
        .expect("bob save_thread with the same id");
    store
        .add_thread_item(&thread.id, &items[0], &bob)
        .await
        .expect("bob adds the same item id");
    let bobs_attachment = file_attachment(&attachment_id, Some(json!({"owner": "bob"})));
    store
        .save_attachment(&bobs_attachment, &bob)
        .await
        .expect("bob save_attachment");
    assert_eq!(
        store
            .load_thread(&thread.id, &bob)
            .await
            .expect("bob's thread"),
        bobs_thread
    );
    assert_eq!(
        all_items(store.as_ref(), &bob, &thread.id, Order::Asc).await,
        vec![items[0].clone()]
    );
    store
        .delete_thread(&thread.id, &bob)
        .await
        .expect("bob deletes his thread");
    store
        .delete_attachment(&attachment_id, &bob)
        .await
        .expect("bob deletes his attachment");

    // Alice sees exactly what she wrote.
    assert_eq!(
        store
            .load_thread(&thread.id, &alice)
            .await
            .expect("alice's thread"),
        thread
    );
    assert_eq!(
        all_items(store.as_ref(), &alice, &thread.id, Order::Asc).await,
        items
    );
    assert_eq!(
        store
            .load_feedback(&thread.id, first, &alice)
            .await
            .expect("alice feedback"),
        Some(FeedbackKind::Positive)
    );
    assert_eq!(
        store
            .load_feedback(&thread.id, items[1].id(), &alice)
            .await
            .expect("alice feedback"),
        None
    );
    assert_eq!(
        store
            .load_attachment(&attachment_id, &alice)
            .await
            .expect("alice attachment"),
        attachment
    );
    let listed = store
        .load_threads(10, None, Order::Asc, &alice)
        .await
        .expect("alice threads");
    assert_eq!(listed.data, vec![thread]);
}
