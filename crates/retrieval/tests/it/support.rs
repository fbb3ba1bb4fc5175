//! Shared helpers: writing corpora as files, and the labelled corpus.

use std::path::{Path, PathBuf};

use retrieval::{
    EmbeddedIndex, IndexConfig, IndexReport, Passage, SourceFolder, SourceLocation, Visibility,
};
use serde::Deserialize;

/// Writes `path` (creating folders) under `root`.
pub fn write(root: &Path, path: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folders");
    std::fs::write(path, contents).expect("write a file");
}

/// Writes each passage of a conformance corpus as a Markdown file with front matter: URL
/// passages as `<id>.md` with a `url`, file passages at their path.
pub fn write_corpus(root: &Path, corpus: &[Passage]) {
    for passage in corpus {
        let mut front = format!("title: {:?}\n", passage.source.title);
        let path = match &passage.source.location {
            SourceLocation::Url(url) => {
                front.push_str(&format!("url: {url:?}\n"));
                format!("{}.md", passage.id)
            }
            SourceLocation::File(path) => path.clone(),
        };
        if let Visibility::Restricted(tags) = &passage.visibility {
            front.push_str(&format!("visibility: {tags:?}\n"));
        }
        for (key, value) in &passage.source.metadata {
            front.push_str(&format!("{key}: {value:?}\n"));
        }
        write(root, &path, format!("---\n{front}---\n{}\n", passage.text));
    }
}

/// Opens an index in `index_dir` and indexes `sources`.
pub async fn build(config: IndexConfig, sources: &[SourceFolder]) -> (EmbeddedIndex, IndexReport) {
    let index = EmbeddedIndex::open(config).expect("open the index");
    let report = index
        .update(sources, &mut |_| {})
        .await
        .expect("index the sources");
    (index, report)
}

/// The frozen copy of the project's docs.
pub fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/docs")
}

/// One labelled question.
#[derive(Debug, Deserialize)]
pub struct Label {
    pub query: String,
    pub key: String,
    pub section: String,
}

/// The labelled questions of the docs corpus.
pub fn labels() -> Vec<Label> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/labels.json");
    serde_json::from_slice(&std::fs::read(path).expect("labels.json")).expect("valid labels")
}

/// Whether `passage` is the labelled answer.
pub fn answers(passage: &Passage, label: &Label) -> bool {
    passage.id.starts_with(&format!("{}#", label.key))
        && passage
            .source
            .section
            .as_deref()
            .unwrap_or_default()
            .contains(&label.section)
}
