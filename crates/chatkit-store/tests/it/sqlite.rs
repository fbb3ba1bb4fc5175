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
    conformance::thread_round_trip_and_upsert(Arc::new(store)).await;
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
