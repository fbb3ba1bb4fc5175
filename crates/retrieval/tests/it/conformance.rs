//! Every retriever runs the same conformance suite.

use std::sync::Arc;

use retrieval::{
    EmbeddingsConfig, HttpRetriever, HttpRetrieverConfig, IndexConfig, MemoryRetriever, Retriever,
    SourceFolder, conformance,
};
use test_support::FakeOpenAi;

use crate::http::SearchService;
use crate::support::{build, write_corpus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_retriever_keeps_the_contract() {
    conformance::run_all(|corpus| async move {
        Arc::new(MemoryRetriever::new(corpus)) as Arc<dyn Retriever>
    })
    .await
    .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_bm25_index_keeps_the_contract() {
    let mut folders = Vec::new();
    let report = conformance::run_all(|corpus| {
        let folder = tempfile::tempdir().expect("a temp dir");
        let documents = folder.path().join("documents");
        write_corpus(&documents, &corpus);
        let config = IndexConfig::new(folder.path().join("index"));
        folders.push(folder);
        async move {
            let (index, _) = build(config, &[SourceFolder::new(documents)]).await;
            Arc::new(index) as Arc<dyn Retriever>
        }
    })
    .await;
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_hybrid_index_keeps_the_contract() {
    let server = FakeOpenAi::start().await;
    let mut folders = Vec::new();
    let report = conformance::run_all(|corpus| {
        let folder = tempfile::tempdir().expect("a temp dir");
        let documents = folder.path().join("documents");
        write_corpus(&documents, &corpus);
        let mut config = IndexConfig::new(folder.path().join("index"));
        config.embeddings = Some(EmbeddingsConfig {
            base_url: server.base_url(),
            ..EmbeddingsConfig::default()
        });
        folders.push(folder);
        async move {
            let (index, _) = build(config, &[SourceFolder::new(documents)]).await;
            Arc::new(index) as Arc<dyn Retriever>
        }
    })
    .await;
    report.assert_passed();
    assert!(
        server
            .requests()
            .iter()
            .all(|request| request.path == "/v1/embeddings"),
        "hybrid search asked the fake model only for embeddings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_retriever_keeps_the_contract() {
    let mut services = Vec::new();
    let report = conformance::run_all(|corpus| {
        let service = SearchService::backed_by(MemoryRetriever::new(corpus));
        let ready = service.clone();
        services.push(service);
        async move {
            let url = ready.start().await;
            Arc::new(HttpRetriever::new(HttpRetrieverConfig::new(url)).expect("a valid config"))
                as Arc<dyn Retriever>
        }
    })
    .await;
    report.assert_passed();
}
