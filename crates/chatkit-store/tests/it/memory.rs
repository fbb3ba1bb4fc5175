use std::sync::Arc;

use chatkit_store::{MemoryStore, Store, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    let report =
        conformance::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
    report.assert_passed();
    assert_eq!(report.passed.len(), conformance::cases().len());
}
