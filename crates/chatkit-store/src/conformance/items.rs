//! Items: every kind round-trips, insertion order, and adding, replacing and deleting items.

use std::sync::Arc;

use chatkit_protocol::{AssistantMessageContent, Order, ThreadItem};
use chrono::Duration;

use crate::{RecordKind, Store, StoreError};

use super::support::*;

/// Each of the eleven kinds loads back equal, through a page and through `load_item`.
pub async fn every_item_kind_round_trips(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items = one_of_each_kind(&thread_id, base_time());
    assert_eq!(items.len(), 11);
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    assert_eq!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await,
        items
    );
    for item in &items {
        let loaded = store
            .load_item(&thread_id, item.id(), &ctx)
            .await
            .expect("load_item");
        assert_eq!(&loaded, item, "{} round trip", item.kind());
    }
}

/// Order is the order of addition, whatever `created_at` says.
pub async fn items_keep_insertion_order_when_timestamps_tie_or_go_backwards(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let tied = base_time();
    let mut items = Vec::new();
    for n in 0..6 {
        items.push(user_message(&thread_id, &format!("tied {n}"), tied));
    }
    for n in 0..6 {
        items.push(assistant_message(
            &thread_id,
            &format!("older {n}"),
            tied - Duration::seconds(n + 1),
        ));
    }
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        ids(&items)
    );
    let mut reversed = ids(&items);
    reversed.reverse();
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Desc).await),
        reversed
    );
}

/// Every item operation on a thread that does not exist is `NotFound`.
pub async fn items_of_a_missing_thread_are_not_found(store: Arc<dyn Store>) {
    let ctx = owner();
    let missing = store.generate_thread_id(&ctx);
    let item = user_message(&missing, "hello", base_time());
    expect_not_found(
        store
            .load_thread_items(&missing, None, 10, Order::Asc, &ctx)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    expect_not_found(
        store.add_thread_item(&missing, &item, &ctx).await,
        RecordKind::Thread,
        "add_thread_item",
    );
    expect_not_found(
        store.save_item(&missing, &item, &ctx).await,
        RecordKind::Thread,
        "save_item",
    );
    expect_not_found(
        store.load_item(&missing, item.id(), &ctx).await,
        RecordKind::Item,
        "load_item",
    );
    expect_any_not_found(
        store.delete_thread_item(&missing, item.id(), &ctx).await,
        "delete_thread_item",
    );
    // An empty thread that exists is an empty page, not an error.
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let page = store
        .load_thread_items(&thread_id, None, 10, Order::Desc, &ctx)
        .await
        .expect("items of an empty thread");
    assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
}

/// Adding an id twice is a `Conflict`; an item naming another thread is `InvalidInput`.
pub async fn add_item_rejects_duplicates_and_foreign_thread_ids(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let other = new_thread(store.as_ref(), &ctx, base_time()).await;
    let item = user_message(&thread_id, "once", base_time());
    store
        .add_thread_item(&thread_id, &item, &ctx)
        .await
        .expect("first add");
    let result = store.add_thread_item(&thread_id, &item, &ctx).await;
    assert!(
        matches!(
            result,
            Err(StoreError::Conflict {
                what: RecordKind::Item,
                ..
            })
        ),
        "second add of the same id: {result:?}"
    );
    let foreign = user_message(&other, "wrong thread", base_time());
    let result = store.add_thread_item(&thread_id, &foreign, &ctx).await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    let result = store.save_item(&thread_id, &foreign, &ctx).await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        vec![item.id().to_owned()]
    );
    assert!(
        all_items(store.as_ref(), &ctx, &other, Order::Asc)
            .await
            .is_empty()
    );
    // The same item id may exist in another thread: ids are unique per thread.
    let mut twin = item.clone();
    twin.set_thread_id(other.clone());
    store
        .add_thread_item(&other, &twin, &ctx)
        .await
        .expect("same id in another thread");
}

/// `save_item` replaces an existing item where it stands and appends a new one.
pub async fn save_item_upserts_in_place_or_appends(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut items: Vec<ThreadItem> = (0..4)
        .map(|n| assistant_message(&thread_id, &format!("draft {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;

    let ThreadItem::AssistantMessage(mut second) = items[1].clone() else {
        panic!("fixture is an assistant message");
    };
    second.content = vec![AssistantMessageContent::text("final text")];
    items[1] = ThreadItem::AssistantMessage(second);
    store
        .save_item(&thread_id, &items[1], &ctx)
        .await
        .expect("save_item (update)");

    let appended = user_message(&thread_id, "new via save_item", base_time());
    store
        .save_item(&thread_id, &appended, &ctx)
        .await
        .expect("save_item (insert)");
    items.push(appended);

    assert_eq!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await,
        items
    );
    assert_eq!(
        store
            .load_item(&thread_id, items[1].id(), &ctx)
            .await
            .expect("load_item"),
        items[1]
    );
}

/// Deleting an item removes it from every read; the others keep their order.
pub async fn delete_item_removes_only_that_item(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut items: Vec<ThreadItem> = (0..5)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let removed = items.remove(2);
    store
        .delete_thread_item(&thread_id, removed.id(), &ctx)
        .await
        .expect("delete_thread_item");
    expect_not_found(
        store.load_item(&thread_id, removed.id(), &ctx).await,
        RecordKind::Item,
        "load_item after delete",
    );
    expect_not_found(
        store
            .delete_thread_item(&thread_id, removed.id(), &ctx)
            .await,
        RecordKind::Item,
        "second delete_thread_item",
    );
    let later = user_message(&thread_id, "after the delete", base_time());
    store
        .add_thread_item(&thread_id, &later, &ctx)
        .await
        .expect("add after delete");
    items.push(later);
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        ids(&items)
    );
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 2, Order::Desc).await;
    let mut expected = ids(&items);
    expected.reverse();
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        expected
    );
}

/// `add_thread_item_and_save_thread` writes the item (at the end of the thread) and the thread's
/// fields together, or neither: not on a duplicate id, an item of another thread, a missing
/// thread or another owner's thread, which it never creates. The store keeps working after each
/// refusal.
pub async fn add_item_and_save_thread_writes_both_or_neither(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let first = user_message(&thread_id, "question", base_time());
    store
        .add_thread_item(&thread_id, &first, &ctx)
        .await
        .expect("first add");
    let mut thread = store.load_thread(&thread_id, &ctx).await.expect("load");
    thread.title = Some("Usage".to_owned());
    thread.metadata.insert(
        "usage".to_owned(),
        serde_json::json!({"input_tokens": 12, "runs": 1}),
    );
    let answer = assistant_message(&thread_id, "answer", base_time() - Duration::seconds(5));
    store
        .add_thread_item_and_save_thread(&thread, &answer, &ctx)
        .await
        .expect("item and thread");
    let saved = store.load_thread(&thread_id, &ctx).await.expect("load");
    assert_eq!(saved.title, thread.title);
    assert_eq!(saved.metadata, thread.metadata);
    let order = vec![first.id().to_owned(), answer.id().to_owned()];
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        order
    );

    // A duplicate id: a conflict, and the thread's change is not written either.
    let mut changed = thread.clone();
    changed.title = Some("Must not land".to_owned());
    changed
        .metadata
        .insert("usage".to_owned(), serde_json::json!({"runs": 99}));
    let result = store
        .add_thread_item_and_save_thread(&changed, &answer, &ctx)
        .await;
    assert!(
        matches!(
            result,
            Err(StoreError::Conflict {
                what: RecordKind::Item,
                ..
            })
        ),
        "a duplicate id: {result:?}"
    );
    // An item that names another thread.
    let other = new_thread(store.as_ref(), &ctx, base_time()).await;
    let foreign = user_message(&other, "wrong thread", base_time());
    let result = store
        .add_thread_item_and_save_thread(&changed, &foreign, &ctx)
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "an item of another thread: {result:?}"
    );
    assert_eq!(
        store.load_thread(&thread_id, &ctx).await.expect("load"),
        saved,
        "a refused call changed the thread"
    );
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        order
    );

    // Another owner's thread and a missing one: not found, and no thread is created.
    let stranger = owner();
    let theirs = user_message(&thread_id, "from a stranger", base_time());
    expect_not_found(
        store
            .add_thread_item_and_save_thread(&changed, &theirs, &stranger)
            .await,
        RecordKind::Thread,
        "add_thread_item_and_save_thread (another owner)",
    );
    expect_not_found(
        store.load_thread(&thread_id, &stranger).await,
        RecordKind::Thread,
        "load_thread (the stranger's)",
    );
    let mut missing = changed.clone();
    missing.id = store.generate_thread_id(&ctx);
    let lost = user_message(&missing.id, "nowhere", base_time());
    expect_not_found(
        store
            .add_thread_item_and_save_thread(&missing, &lost, &ctx)
            .await,
        RecordKind::Thread,
        "add_thread_item_and_save_thread (missing thread)",
    );
    expect_not_found(
        store.load_thread(&missing.id, &ctx).await,
        RecordKind::Thread,
        "load_thread (the missing one)",
    );
    assert_eq!(
        store.load_thread(&thread_id, &ctx).await.expect("load"),
        saved,
        "a stranger changed the thread"
    );

    // Still working after the refusals: the next calls land.
    let later = assistant_message(&thread_id, "later", base_time());
    let mut last = saved.clone();
    last.metadata
        .insert("usage".to_owned(), serde_json::json!({"runs": 2}));
    store
        .add_thread_item_and_save_thread(&last, &later, &ctx)
        .await
        .expect("a call after the refusals");
    let plain = user_message(&thread_id, "plain", base_time());
    store
        .add_thread_item(&thread_id, &plain, &ctx)
        .await
        .expect("add after the refusals");
    assert_eq!(
        store
            .load_thread(&thread_id, &ctx)
            .await
            .expect("load")
            .metadata,
        last.metadata
    );
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        [order, vec![later.id().to_owned(), plain.id().to_owned()]].concat()
    );
}
