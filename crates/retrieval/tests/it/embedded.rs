//! The embedded index on real files.

use retrieval::{
    Access, ChunkConfig, EmbeddedIndex, EmbeddingsConfig, EncodingFormat, IndexConfig, PageContext,
    Query, RetrievalError, Retriever, SourceFolder, SourceLocation,
};
use test_support::FakeOpenAi;

use crate::support::{answers, build, docs_dir, labels, write};

fn anyone() -> Access {
    Access::user("reader")
}

#[tokio::test]
async fn labelled_questions_find_their_passage_in_the_top_three() {
    let folder = tempfile::tempdir().unwrap();
    let (index, report) = build(
        IndexConfig::new(folder.path().join("index")),
        &[SourceFolder::new(docs_dir()).with_base_url("https://docs.example.test/docs")],
    )
    .await;
    assert_eq!(report.files_seen, 6);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(report.chunks_total > 40, "{} chunks", report.chunks_total);
    let mut misses = Vec::new();
    for label in labels() {
        let found = index
            .retrieve(&Query::new(&label.query, anyone()).with_k(3))
            .await
            .unwrap();
        if !found.iter().any(|passage| answers(passage, &label)) {
            let got: Vec<_> = found
                .iter()
                .map(|p| format!("{} / {:?}", p.id, p.source.section))
                .collect();
            misses.push(format!("{:?} -> {got:?}", label.query));
        }
    }
    assert!(
        misses.is_empty(),
        "not in the top 3:\n{}",
        misses.join("\n")
    );
    // Sources carry the base URL, the file's path and the heading's anchor.
    let jwks = index
        .retrieve(&Query::new("how do I configure JWKS?", anyone()).with_k(1))
        .await
        .unwrap();
    assert_eq!(jwks[0].source.title, "Configuration");
    assert_eq!(
        jwks[0].source.location,
        SourceLocation::Url("https://docs.example.test/docs/CONFIGURATION.md#auth".into())
    );
}

#[tokio::test]
async fn re_indexing_re_chunks_only_changed_files_and_removes_deleted_ones() {
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    write(&documents, "a.md", "# Alpha\n\nAardvarks live in Africa.\n");
    write(
        &documents,
        "b/b.html",
        "<title>Beta</title><h1>Beta</h1><p>Badgers dig burrows.</p>",
    );
    write(&documents, "c.txt", "Cats chase mice.");
    write(&documents, "ignored.png", "not a document");
    write(&documents, ".git/d.md", "hidden folders are never content");
    let config = IndexConfig::new(folder.path().join("index"));
    let sources = [SourceFolder::new(&documents)];
    let (index, first) = build(config.clone(), &sources).await;
    assert_eq!(
        (first.files_seen, first.files_indexed, first.chunks_total),
        (3, 3, 3)
    );

    let mut progress = Vec::new();
    let again = index
        .update(&sources, &mut |state| progress.push(*state))
        .await
        .unwrap();
    assert_eq!((again.files_indexed, again.files_unchanged), (0, 3));
    assert_eq!(progress.len(), 3);
    assert_eq!(progress[2].files_done, 3);
    assert_eq!(progress[2].files_total, 3);

    write(
        &documents,
        "a.md",
        "# Alpha\n\nAlpacas live in the Andes.\n",
    );
    std::fs::remove_file(documents.join("c.txt")).unwrap();
    write(&documents, "e.md", "Eagles fly.");
    // A fresh process sees what the last one recorded.
    drop(index);
    let index = EmbeddedIndex::open(config.clone()).unwrap();
    let changed = index.update(&sources, &mut |_| {}).await.unwrap();
    assert_eq!(
        (
            changed.files_indexed,
            changed.files_unchanged,
            changed.files_removed,
            changed.chunks_total
        ),
        (2, 1, 1, 3)
    );
    let search = |text: &'static str| {
        let index = index.clone();
        async move {
            index
                .retrieve(&Query::new(text, anyone()))
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("alpacas andes").await, vec!["a.md#0"]);
    assert!(search("aardvarks").await.is_empty(), "the old text is gone");
    assert!(
        search("cats mice").await.is_empty(),
        "the deleted file is gone"
    );
    assert_eq!(search("badgers").await, vec!["b/b.html#0"]);

    // New chunk settings re-chunk everything.
    let mut smaller = config;
    smaller.chunk = ChunkConfig {
        max_chars: 500,
        overlap_chars: 50,
    };
    let rebuilt = build(smaller, &sources).await.1;
    assert_eq!((rebuilt.files_indexed, rebuilt.files_unchanged), (3, 0));
    assert_eq!(rebuilt.chunks_total, 3);
}

#[tokio::test]
async fn another_users_private_document_never_comes_back() {
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    write(
        &documents,
        "alice/diary.md",
        "---\ntitle: Diary\nvisibility: user:alice\n---\nMy secret sourdough starter recipe.\n",
    );
    write(
        &documents,
        "public.md",
        "---\ntitle: Bread\n---\nA sourdough starter needs flour and water.\n",
    );
    let (index, _) = build(
        IndexConfig::new(folder.path().join("index")),
        &[SourceFolder::new(&documents)],
    )
    .await;
    let titles = |access: Access| {
        let index = index.clone();
        async move {
            // Every trick a model could try: the exact words, the title, a filter on the path.
            let mut seen = Vec::new();
            for text in ["secret sourdough starter recipe", "Diary", "alice diary"] {
                for passage in index
                    .retrieve(&Query::new(text, access.clone()).with_k(10))
                    .await
                    .unwrap()
                {
                    seen.push(passage.source.title);
                }
            }
            seen
        }
    };
    let bob = titles(Access::user("bob")).await;
    assert!(!bob.contains(&"Diary".to_owned()), "{bob:?}");
    assert!(bob.contains(&"Bread".to_owned()));
    let alice = titles(Access::user("alice")).await;
    assert!(alice.contains(&"Diary".to_owned()), "{alice:?}");
}

#[tokio::test]
async fn the_current_page_is_boosted_in_the_docs_corpus() {
    let folder = tempfile::tempdir().unwrap();
    let (index, _) = build(
        IndexConfig::new(folder.path().join("index")),
        &[SourceFolder::new(docs_dir()).with_base_url("https://docs.example.test/docs")],
    )
    .await;
    let question = "logs";
    let plain = index
        .retrieve(&Query::new(question, anyone()).with_k(3))
        .await
        .unwrap();
    let on_page = index
        .retrieve(
            &Query::new(question, anyone())
                .with_k(3)
                .with_page(PageContext::url(
                    "https://docs.example.test/docs/DEPLOYMENT.md",
                )),
        )
        .await
        .unwrap();
    assert!(
        on_page[0].id.starts_with("DEPLOYMENT.md#"),
        "without page: {:?}, with page: {:?}",
        plain.iter().map(|p| &p.id).collect::<Vec<_>>(),
        on_page.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
}

/// A one-page PDF with `text`, made with lopdf.
fn pdf_with_text(text: &str) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font_id = document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(text)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = document.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = document.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = document.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    document.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn pdf_text_is_indexed_by_page_and_a_broken_pdf_is_skipped_not_fatal() {
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    write(
        &documents,
        "syllabus.pdf",
        pdf_with_text("Exams take place in the great hall."),
    );
    write(
        &documents,
        "broken.pdf",
        b"%PDF-1.5 this is not really a pdf",
    );
    write(
        &documents,
        "bad-front-matter.md",
        "---\ntitle: [unclosed\n---\nbody",
    );
    let (index, report) = build(
        IndexConfig::new(folder.path().join("index")),
        &[SourceFolder::new(&documents).with_prefix("course")],
    )
    .await;
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        skipped,
        vec!["course/bad-front-matter.md", "course/broken.pdf"]
    );
    assert_eq!(report.files_indexed, 1);
    let found = index
        .retrieve(&Query::new("where are the exams?", anyone()))
        .await
        .unwrap();
    let first = found.first().expect("the PDF's text is searchable");
    assert!(first.text.contains("great hall"), "{:?}", first.text);
    assert_eq!(first.source.title, "syllabus");
    assert_eq!(first.source.section.as_deref(), Some("Page 1"));
    assert_eq!(
        first.source.location,
        SourceLocation::File("course/syllabus.pdf".into())
    );
    assert_eq!(first.source.anchor.as_deref(), Some("page=1"));
}

#[tokio::test]
async fn an_index_folder_that_holds_something_else_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "precious.txt", "not an index");
    match EmbeddedIndex::open(IndexConfig::new(folder.path())) {
        Err(RetrievalError::Config(message)) => assert!(message.contains("not empty"), "{message}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(folder.path().join("precious.txt").exists());
}

fn hybrid_config(
    server: &FakeOpenAi,
    dir: &std::path::Path,
    format: EncodingFormat,
) -> IndexConfig {
    let mut config = IndexConfig::new(dir);
    config.embeddings = Some(EmbeddingsConfig {
        base_url: server.base_url(),
        batch_size: 2,
        encoding_format: format,
        ..EmbeddingsConfig::default()
    });
    config
}

#[tokio::test]
async fn hybrid_search_finds_what_bm25_misses_and_embeds_only_changed_files() {
    let server = FakeOpenAi::start().await;
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    write(
        &documents,
        "auth.md",
        "# Authentication\n\nTokens are verified with keys.\n",
    );
    write(
        &documents,
        "jam.md",
        "# Marmalade\n\nOranges and sugar, boiled.\n",
    );
    write(
        &documents,
        "other.md",
        "# Deployment\n\nRun it behind a proxy.\n",
    );
    let sources = [SourceFolder::new(&documents)];

    let (bm25, _) = build(IndexConfig::new(folder.path().join("bm25")), &sources).await;
    // A misspelling shares no stem with the text, so BM25 alone finds nothing...
    let typo = Query::new("authentification", anyone());
    assert!(bm25.retrieve(&typo).await.unwrap().is_empty());

    let config = hybrid_config(
        &server,
        &folder.path().join("hybrid"),
        EncodingFormat::Base64,
    );
    let (hybrid, report) = build(config.clone(), &sources).await;
    assert_eq!(report.chunks_total, 3);
    // ...but its trigrams are close to "Authentication", so the dense side does.
    let found = hybrid.retrieve(&typo).await.unwrap();
    assert_eq!(
        found.first().map(|p| p.source.title.as_str()),
        Some("Authentication")
    );
    // Where both agree, fusion keeps the agreed passage first.
    let both = hybrid
        .retrieve(&Query::new("marmalade oranges", anyone()))
        .await
        .unwrap();
    assert_eq!(both[0].source.title, "Marmalade");
    assert!(both.windows(2).all(|pair| pair[0].score >= pair[1].score));

    let embedded_inputs = |server: &FakeOpenAi| -> Vec<String> {
        server
            .requests()
            .iter()
            .filter(|request| request.path == "/v1/embeddings")
            .filter_map(|request| request.body["input"].as_array().cloned())
            .flatten()
            .filter_map(|input| input.as_str().map(str::to_owned))
            .collect()
    };
    let before = embedded_inputs(&server).len();
    // 3 passages in batches of 2, plus one query each (sent as a one-item list).
    assert_eq!(before, 3 + 2);
    assert_eq!(server.requests()[0].body["encoding_format"], "base64");

    write(
        &documents,
        "jam.md",
        "# Marmalade\n\nSeville oranges only.\n",
    );
    let update = hybrid.update(&sources, &mut |_| {}).await.unwrap();
    assert_eq!(update.files_indexed, 1);
    let new_inputs = embedded_inputs(&server)[before..].to_vec();
    assert_eq!(new_inputs.len(), 1, "only the changed file: {new_inputs:?}");
    assert!(new_inputs[0].contains("Seville"));
    // Vectors survive a restart: a new process finds the typo without re-embedding the files.
    drop(hybrid);
    let reopened = EmbeddedIndex::open(config).unwrap();
    let found = reopened.retrieve(&typo).await.unwrap();
    assert_eq!(found[0].source.title, "Authentication");
    assert_eq!(embedded_inputs(&server).len(), before + 1 + 1);
}

#[tokio::test]
async fn hybrid_search_falls_back_to_bm25_when_the_query_cannot_be_embedded() {
    let server = FakeOpenAi::start().await;
    let folder = tempfile::tempdir().unwrap();
    let documents = folder.path().join("documents");
    write(&documents, "jam.md", "# Marmalade\n\nOranges and sugar.\n");
    let config = hybrid_config(&server, &folder.path().join("index"), EncodingFormat::Float);
    let (index, _) = build(config.clone(), &[SourceFolder::new(&documents)]).await;
    drop(index);
    // Same index, but the endpoint now rejects the model.
    let mut broken = config;
    if let Some(embeddings) = broken.embeddings.as_mut() {
        embeddings.base_url = format!("{}/missing", server.base_url());
    }
    let index = EmbeddedIndex::open(broken).unwrap();
    let found = index
        .retrieve(&Query::new("marmalade", anyone()))
        .await
        .unwrap();
    assert_eq!(found[0].source.title, "Marmalade");
}
