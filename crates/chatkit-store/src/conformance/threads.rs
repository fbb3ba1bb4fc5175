//! Threads: saving and loading, not-found, and deletion with everything in it.

use std::sync::Arc;

use chatkit_protocol::{FeedbackKind, Order, ThreadItem, ThreadMetadata, ThreadStatus};
use serde_json::json;

use crate::{RecordKind, Store};

use super::support::*;

/// A saved thread loads back equal; saving again replaces it rather than adding a second one.
pub async fn thread_round_trip_and_upsert(store: Arc<dyn Store>) {
    let ctx = owner();
    let mut thread = ThreadMetadata::new(store.generate_thread_id(&ctx), base_time());
    thread.title = Some("Weather in Oslo".to_owned());
    thread.status = ThreadStatus::Locked {
        reason: Some("quota".to_owned()),
    };
    thread.allowed_image_domains = Some(vec!["images.example.invalid".to_owned()]);
    thread.metadata = json!({"crm": {"ticket": 42, "tags": ["a", "b"]}, "flag": true})
        .as_object()
        .cloned()
        .unwrap_or_default();
    store.save_thread(&thread, &ctx).await.expect("save_thread");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );

    thread.title = Some("Renamed".to_owned());
    thread.status = ThreadStatus::Closed { reason: None };
    thread.allowed_image_domains = None;
    store
        .save_thread(&thread, &ctx)
        .await
        .expect("save_thread (update)");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );
    thread.status = ThreadStatus::Active;
    store
        .save_thread(&thread, &ctx)
        .await
        .expect("save_thread (reactivate)");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );

    let page = store
        .load_threads(10, None, Order::Asc, &ctx)
        .await
        .expect("load_threads");
    assert_eq!(
        page.data,
        vec![thread],
        "an upsert must not duplicate the thread"
    );
    assert!(!page.has_more);
}

/// Unknown threads are `NotFound` for load and delete.
pub async fn missing_thread_is_not_found(store: Arc<dyn Store>) {
    let ctx = owner();
    let id = store.generate_thread_id(&ctx);
    expect_not_found(
        store.load_thread(&id, &ctx).await,
        RecordKind::Thread,
        "load_thread",
    );
    expect_not_found(
        store.delete_thread(&id, &ctx).await,
        RecordKind::Thread,
        "delete_thread",
    );
    let page = store
        .load_threads(5, None, Order::Desc, &ctx)
        .await
        .expect("load_threads");
    assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
}

/// Deleting a thread removes its items and feedback; nothing survives into a new thread that
/// reuses the id.
pub async fn delete_thread_cascades_to_items_and_feedback(store: Arc<dyn Store>) {
    let ctx = owner();
    let created_at = base_time();
    let thread_id = new_thread(store.as_ref(), &ctx, created_at).await;
    let keep = new_thread(store.as_ref(), &ctx, created_at).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let kept_item = user_message(&keep, "stays", base_time());
    add_all(
        store.as_ref(),
        &ctx,
        &keep,
        std::slice::from_ref(&kept_item),
    )
    .await;
    store
        .save_feedback(
            &thread_id,
            &[items[0].id().to_owned()],
            FeedbackKind::Positive,
            &ctx,
        )
        .await
        .expect("save_feedback");

    store
        .delete_thread(&thread_id, &ctx)
        .await
        .expect("delete_thread");
    expect_not_found(
        store.load_thread(&thread_id, &ctx).await,
        RecordKind::Thread,
        "load_thread",
    );
    expect_not_found(
        store
            .load_thread_items(&thread_id, None, 10, Order::Asc, &ctx)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    for item in &items {
        expect_not_found(
            store.load_item(&thread_id, item.id(), &ctx).await,
            RecordKind::Item,
            "load_item",
        );
    }
    expect_any_not_found(
        store.load_feedback(&thread_id, items[0].id(), &ctx).await,
        "load_feedback",
    );
    let listed = store
        .load_threads(10, None, Order::Asc, &ctx)
        .await
        .expect("load_threads");
    assert_eq!(
        listed
            .data
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        vec![keep.as_str()]
    );
    assert_eq!(
        all_items(store.as_ref(), &ctx, &keep, Order::Asc).await,
        vec![kept_item]
    );

    // Re-creating the id starts empty: no orphaned items, positions or feedback.
    store
        .save_thread(&ThreadMetadata::new(thread_id.clone(), created_at), &ctx)
        .await
        .expect("save_thread again");
    assert!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc)
            .await
            .is_empty()
    );
    store
        .add_thread_item(&thread_id, &items[0], &ctx)
        .await
        .expect("re-add the old id");
    assert_eq!(
        store
            .load_feedback(&thread_id, items[0].id(), &ctx)
            .await
            .expect("feedback"),
        None
    );
}
