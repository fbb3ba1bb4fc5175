//! Pagination of items and threads in both orders, and cursor errors.

use std::sync::Arc;

use chatkit_protocol::{Order, ThreadItem, ThreadMetadata};
use chrono::Duration;

use crate::{Store, StoreError};

use super::support::*;

/// Pages of items, in both orders, across page boundaries, including the exact-fit case.
pub async fn pagination_of_items_in_both_orders(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..23)
        .map(|n| user_message(&thread_id, &format!("message {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let ascending = ids(&items);
    let mut descending = ascending.clone();
    descending.reverse();

    for (order, expected) in [(Order::Asc, &ascending), (Order::Desc, &descending)] {
        for limit in [1, 5, 10, 22, 23, 24, 100] {
            let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, limit, order).await;
            let sizes: Vec<usize> = pages.iter().map(|page| page.data.len()).collect();
            let walked: Vec<String> = pages.iter().flat_map(|page| ids(&page.data)).collect();
            assert_eq!(&walked, expected, "{order:?} pages of {limit}: {sizes:?}");
            let expected_pages = expected.len().div_ceil(limit);
            assert_eq!(
                pages.len(),
                expected_pages,
                "{order:?} pages of {limit}: `has_more` must be false exactly on the last page"
            );
        }
        // A page in the middle, from an explicit cursor.
        let page = store
            .load_thread_items(&thread_id, Some(&expected[4]), 3, order, &ctx)
            .await
            .expect("page after the fifth item");
        assert_eq!(
            ids(&page.data),
            expected[5..8].to_vec(),
            "{order:?} page after a cursor"
        );
        assert!(page.has_more);
        // The last item as cursor gives an empty final page, not an error.
        let last = expected.last().expect("items exist");
        let page = store
            .load_thread_items(&thread_id, Some(last), 3, order, &ctx)
            .await
            .expect("page after the last item");
        assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
    }
}

/// Pages of threads by `created_at` (ties broken by id), both orders.
pub async fn pagination_of_threads_in_both_orders(store: Arc<dyn Store>) {
    let ctx = owner();
    let start = base_time();
    let mut threads = Vec::new();
    for n in 0..9i64 {
        // Three pairs share a timestamp, and creation order differs from time order.
        let created_at = start - Duration::seconds((n * 7) % 5);
        let thread = ThreadMetadata::new(store.generate_thread_id(&ctx), created_at);
        store.save_thread(&thread, &ctx).await.expect("save_thread");
        threads.push(thread);
    }
    threads.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let ascending: Vec<String> = threads.iter().map(|t| t.id.clone()).collect();
    let mut descending = ascending.clone();
    descending.reverse();
    for (order, expected) in [(Order::Asc, &ascending), (Order::Desc, &descending)] {
        for limit in [1, 2, 4, 9, 10] {
            let mut walked = Vec::new();
            let mut after: Option<String> = None;
            let mut pages = 0;
            loop {
                let page = store
                    .load_threads(limit, after.as_deref(), order, &ctx)
                    .await
                    .expect("load_threads");
                pages += 1;
                assert!(page.data.len() <= limit);
                assert_eq!(
                    page.after.as_deref(),
                    page.data.last().map(|t| t.id.as_str())
                );
                walked.extend(page.data.iter().map(|t| t.id.clone()));
                if !page.has_more {
                    break;
                }
                after = page.after;
                assert!(pages < 100, "pagination does not terminate");
            }
            assert_eq!(&walked, expected, "{order:?} thread pages of {limit}");
            assert_eq!(
                pages,
                expected.len().div_ceil(limit),
                "{order:?} limit {limit}"
            );
        }
    }
}

/// A cursor that names nothing in the listing is an error; so is a zero limit.
pub async fn cursor_errors_are_errors_not_empty_pages(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let other_thread = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let elsewhere = user_message(&other_thread, "elsewhere", base_time());
    add_all(
        store.as_ref(),
        &ctx,
        &other_thread,
        std::slice::from_ref(&elsewhere),
    )
    .await;

    for order in [Order::Asc, Order::Desc] {
        expect_invalid_cursor(
            store
                .load_thread_items(&thread_id, Some("msg_unknown"), 10, order, &ctx)
                .await,
            "items after an unknown id",
        );
        expect_invalid_cursor(
            store
                .load_thread_items(&thread_id, Some(elsewhere.id()), 10, order, &ctx)
                .await,
            "items after an item of another thread",
        );
        expect_invalid_cursor(
            store
                .load_threads(10, Some("thr_unknown"), order, &ctx)
                .await,
            "threads after an unknown id",
        );
    }
    store
        .delete_thread_item(&thread_id, items[1].id(), &ctx)
        .await
        .expect("delete_thread_item");
    expect_invalid_cursor(
        store
            .load_thread_items(&thread_id, Some(items[1].id()), 10, Order::Asc, &ctx)
            .await,
        "items after a deleted item",
    );
    for result in [
        store
            .load_thread_items(&thread_id, None, 0, Order::Asc, &ctx)
            .await
            .map(|_| ()),
        store
            .load_threads(0, None, Order::Asc, &ctx)
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(StoreError::InvalidInput(_))),
            "limit 0 must be InvalidInput, got {result:?}"
        );
    }
}
