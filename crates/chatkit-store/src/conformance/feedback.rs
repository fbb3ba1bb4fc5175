//! Feedback on items.

use std::sync::Arc;

use chatkit_protocol::{FeedbackKind, ThreadItem};

use crate::{RecordKind, Store, StoreError};

use super::support::*;

/// Feedback is recorded for every listed item or for none.
pub async fn feedback_is_all_or_nothing(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| assistant_message(&thread_id, &format!("answer {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let item_ids = ids(&items);
    let feedback = |id: String| {
        let store = store.clone();
        let ctx = ctx.clone();
        let thread_id = thread_id.clone();
        async move {
            store
                .load_feedback(&thread_id, &id, &ctx)
                .await
                .expect("load_feedback")
        }
    };

    store
        .save_feedback(&thread_id, &item_ids[..2], FeedbackKind::Positive, &ctx)
        .await
        .expect("save_feedback");
    assert_eq!(
        feedback(item_ids[0].clone()).await,
        Some(FeedbackKind::Positive)
    );
    assert_eq!(
        feedback(item_ids[1].clone()).await,
        Some(FeedbackKind::Positive)
    );
    assert_eq!(feedback(item_ids[2].clone()).await, None);

    store
        .save_feedback(&thread_id, &item_ids[1..2], FeedbackKind::Negative, &ctx)
        .await
        .expect("save_feedback (change)");
    assert_eq!(
        feedback(item_ids[1].clone()).await,
        Some(FeedbackKind::Negative)
    );

    let with_unknown = vec![
        item_ids[0].clone(),
        item_ids[2].clone(),
        "msg_unknown".to_owned(),
    ];
    expect_not_found(
        store
            .save_feedback(&thread_id, &with_unknown, FeedbackKind::Negative, &ctx)
            .await,
        RecordKind::Item,
        "save_feedback with an unknown item",
    );
    assert_eq!(
        feedback(item_ids[0].clone()).await,
        Some(FeedbackKind::Positive),
        "unchanged"
    );
    assert_eq!(
        feedback(item_ids[2].clone()).await,
        None,
        "nothing recorded"
    );

    let result = store
        .save_feedback(&thread_id, &[], FeedbackKind::Positive, &ctx)
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    expect_not_found(
        store
            .save_feedback("thr_missing", &item_ids[..1], FeedbackKind::Positive, &ctx)
            .await,
        RecordKind::Thread,
        "save_feedback on a missing thread",
    );
    // Deleting an item takes its feedback with it.
    store
        .delete_thread_item(&thread_id, &item_ids[0], &ctx)
        .await
        .expect("delete item");
    store
        .add_thread_item(&thread_id, &items[0], &ctx)
        .await
        .expect("re-add");
    assert_eq!(feedback(item_ids[0].clone()).await, None);
}
