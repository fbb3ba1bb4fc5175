//! Concurrent writers on one thread.

use std::collections::HashSet;
use std::sync::Arc;

use chatkit_protocol::Order;

use crate::Store;

use super::support::*;

/// Eight writers appending to one thread at once: every item lands exactly once, each writer's
/// items keep their relative order, and pages agree with the full listing.
pub async fn concurrent_writers_keep_a_gap_free_duplicate_free_order(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let ctx = ctx.clone();
        let thread_id = thread_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for n in 0..PER_WRITER {
                let item = user_message(&thread_id, &format!("w{writer} n{n}"), base_time());
                // Half the writers use the upsert path, which must append the same way.
                if writer % 2 == 0 {
                    store.add_thread_item(&thread_id, &item, &ctx).await
                } else {
                    store.save_item(&thread_id, &item, &ctx).await
                }
                .expect("concurrent write");
                written.push(item.id().to_owned());
            }
            written
        }));
    }
    let mut per_writer = Vec::new();
    for task in tasks {
        per_writer.push(task.await.expect("writer task"));
    }
    let listed = ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await);
    assert_eq!(
        listed.len(),
        WRITERS * PER_WRITER,
        "every write is listed once"
    );
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no duplicates");
    for written in &per_writer {
        let positions: Vec<usize> = written
            .iter()
            .map(|id| {
                listed
                    .iter()
                    .position(|listed| listed == id)
                    .expect("listed")
            })
            .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "a writer's items keep the order in which it added them"
        );
    }
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 7, Order::Asc).await;
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        listed
    );
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 9, Order::Desc).await;
    let mut reversed = listed.clone();
    reversed.reverse();
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        reversed
    );
}
