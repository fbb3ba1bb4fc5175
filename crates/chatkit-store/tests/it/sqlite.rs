use std::sync::Arc;

use chatkit_store::{SeaOrmStore, SqlBackend, Store, StoreConfig, conformance};

/// A store on a real SQLite file in `directory`.
pub async fn sqlite_store(directory: &std::path::Path, name: &str) -> (SeaOrmStore, String) {
    let url = format!("sqlite://{}?mode=rwc", directory.join(name).display());
    let store = SeaOrmStore::connect(StoreConfig {
        max_connections: 4,
        ..StoreConfig::with_url(url.clone())
    })
    .await
    .expect("connect to a SQLite file");
    assert_eq!(store.backend(), SqlBackend::Sqlite);
    (store, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    let report =
        conformance::run_all(|| {
            n += 1;
            let path = directory.path().to_owned();
            async move {
                Arc::new(sqlite_store(&path, &format!("case{n}.db")).await.0) as Arc<dyn Store>
            }
        })
        .await;
    report.assert_passed();
    assert_eq!(report.passed.len(), conformance::cases().len());
}

#[tokio::test]
async fn sqlite_in_memory_works_on_a_single_connection() {
    let store = SeaOrmStore::connect(StoreConfig::with_url("sqlite::memory:"))
        .await
        .expect("in-memory SQLite");
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::thread_round_trip_and_upsert(Arc::clone(&store)).await;
    // The one write that is a transaction runs on the pool here, not on a held writer.
    conformance::add_item_and_save_thread_writes_both_or_neither(store).await;
}

#[tokio::test]
async fn reconnecting_to_a_migrated_file_keeps_the_data() {
    let directory = tempfile::tempdir().expect("temp dir");
    let ctx = chatkit_store::StoreContext::new("alice");
    let thread = chatkit_protocol::ThreadMetadata::new("thr_keep", chatkit_protocol::time::now());
    {
        let (store, _) = sqlite_store(directory.path(), "keep.db").await;
        store.save_thread(&thread, &ctx).await.expect("save");
        store.close().await.expect("close");
    }
    let (store, _) = sqlite_store(directory.path(), "keep.db").await;
    assert_eq!(
        store.load_thread("thr_keep", &ctx).await.expect("load"),
        thread
    );
}

#[tokio::test]
async fn a_bad_url_is_rejected_before_connecting() {
    let error = SeaOrmStore::connect(StoreConfig::with_url("mysql://localhost/x"))
        .await
        .expect_err("mysql is not supported");
    assert!(
        matches!(error, chatkit_store::StoreError::InvalidInput(_)),
        "{error:?}"
    );
}

fn message(thread_id: &str, id: &str, text: &str) -> chatkit_protocol::ThreadItem {
    chatkit_protocol::ThreadItem::UserMessage(chatkit_protocol::UserMessageItem {
        id: id.to_owned(),
        thread_id: thread_id.to_owned(),
        created_at: chatkit_protocol::time::now(),
        content: vec![chatkit_protocol::UserMessageContent::text(text)],
        attachments: Vec::new(),
        quoted_text: None,
        inference_options: Default::default(),
    })
}

/// The item and thread write is one transaction in one call on the held writer. Neither a
/// refused call (a duplicate id) nor a call given up at any point (its future dropped while the
/// driver runs it) may leave that transaction open: the later writes, including one in a pool
/// transaction (feedback), must be committed, visible to another process's connection, and that
/// connection must be able to write. And what a given up call wrote is all or nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transaction_stays_open_on_the_writer_after_a_refused_or_abandoned_write() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (store, _) = sqlite_store(directory.path(), "settle.db").await;
    let (other, _) = sqlite_store(directory.path(), "settle.db").await;
    let ctx = chatkit_store::StoreContext::new("alice");
    let mut thread =
        chatkit_protocol::ThreadMetadata::new("thr_settle", chatkit_protocol::time::now());
    store.save_thread(&thread, &ctx).await.expect("save");
    store
        .add_thread_item_and_save_thread(&thread, &message(&thread.id, "msg_dup", "once"), &ctx)
        .await
        .expect("first write");
    let refused = store
        .add_thread_item_and_save_thread(&thread, &message(&thread.id, "msg_dup", "twice"), &ctx)
        .await;
    assert!(
        matches!(refused, Err(chatkit_store::StoreError::Conflict { .. })),
        "{refused:?}"
    );
    let mut expected = vec!["msg_dup".to_owned()];
    for round in 0..24 {
        // Give up after `round % 6` polls, with the driver given a moment to go on.
        thread
            .metadata
            .insert("round".to_owned(), serde_json::json!(round));
        let abandoned = format!("msg_abandoned_{round}");
        let item = message(&thread.id, &abandoned, "given up");
        {
            let mut call = Box::pin(store.add_thread_item_and_save_thread(&thread, &item, &ctx));
            for _ in 0..round % 6 {
                if futures::poll!(call.as_mut()).is_ready() {
                    break;
                }
                if round % 2 == 1 {
                    tokio::task::yield_now().await;
                }
            }
        }
        if round % 3 == 2 {
            // A write that runs in a pool transaction, not on the held writer, comes first.
            store
                .save_feedback(
                    &thread.id,
                    &["msg_dup".to_owned()],
                    chatkit_protocol::FeedbackKind::Positive,
                    &ctx,
                )
                .await
                .expect("feedback after an abandoned write");
        }
        let kept = format!("msg_kept_{round}");
        store
            .add_thread_item(&thread.id, &message(&thread.id, &kept, "kept"), &ctx)
            .await
            .expect("a write after an abandoned one");
        // Another connection sees the kept item (it was committed) and can write itself.
        let seen = other
            .load_thread_items(&thread.id, None, 1000, chatkit_protocol::Order::Asc, &ctx)
            .await
            .expect("items from the other connection");
        let seen: Vec<String> = seen.data.iter().map(|item| item.id().to_owned()).collect();
        let landed = seen.contains(&abandoned);
        if landed {
            expected.push(abandoned);
        }
        expected.push(kept);
        assert_eq!(seen, expected, "round {round}");
        let stored = other.load_thread(&thread.id, &ctx).await.expect("thread");
        assert_eq!(
            stored.metadata.get("round") == Some(&serde_json::json!(round)),
            landed,
            "round {round}: the thread's change and its item landed apart"
        );
        let mut touched = stored;
        touched.title = Some(format!("written by the other connection, round {round}"));
        other
            .save_thread(&touched, &ctx)
            .await
            .expect("the other connection writes");
        thread.title = touched.title;
    }
}
