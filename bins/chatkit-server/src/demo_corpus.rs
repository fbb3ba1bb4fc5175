//! The demo's documentation search: with no `[retrieval]` settings and the demo model, the agent
//! searches this project's own documentation, so that a fresh clone can ask "how do I configure
//! JWKS?" and get an answer with sources.
//!
//! The documents are embedded in the binary (`include_str!`), so the demo works from any working
//! directory and a release binary needs no source tree. At start-up they are written to
//! `<demo.docs_dir>/corpus` (only the files whose bytes changed) and indexed into
//! `<demo.docs_dir>/index`, which re-reads only changed files: a restart is cheap. The playground
//! serves each document at `/playground/docs/<name>`, the URL its passages cite.

use std::path::{Path, PathBuf};

use agent_runtime::DynTool;
use anyhow::Context as _;

use crate::retrieval::{RetrievalSettings, SourceSettings};
use crate::settings::Settings;

/// One embedded document.
#[derive(Debug, Clone, Copy)]
pub struct DemoDoc {
    /// Its file name (also the last segment of its URL).
    pub name: &'static str,
    /// Its Markdown.
    pub text: &'static str,
}

macro_rules! docs {
    ($($name:literal => $path:literal),* $(,)?) => {
        &[$(DemoDoc { name: $name, text: include_str!($path) }),*]
    };
}

/// The corpus: the README and every document in `docs/` (a test checks that none is missing).
pub const DEMO_DOCS: &[DemoDoc] = docs![
    "README.md" => "../../../README.md",
    "ARCHITECTURE.md" => "../../../docs/ARCHITECTURE.md",
    "BENCHMARKS.md" => "../../../docs/BENCHMARKS.md",
    "CHATKIT-REACT.md" => "../../../docs/CHATKIT-REACT.md",
    "CONFIGURATION.md" => "../../../docs/CONFIGURATION.md",
    "DEPLOYMENT.md" => "../../../docs/DEPLOYMENT.md",
    "EMBEDDING.md" => "../../../docs/EMBEDDING.md",
    "REFERENCE.md" => "../../../docs/REFERENCE.md",
    "TESTING.md" => "../../../docs/TESTING.md",
    "TOOLS.md" => "../../../docs/TOOLS.md",
];

/// Where the playground serves the documents; the passages cite `<this>/<name>`.
pub const DEMO_DOCS_PATH: &str = "/playground/docs";

/// The `[retrieval]` the demo runs with: the embedded corpus under `demo.docs_dir`, every other
/// setting at its default.
pub fn demo_retrieval(settings: &Settings) -> RetrievalSettings {
    let dir = &settings.demo.docs_dir;
    RetrievalSettings {
        index_dir: dir.join("index"),
        sources: vec![SourceSettings {
            path: corpus_dir(dir),
            base_url: Some(DEMO_DOCS_PATH.to_owned()),
            prefix: None,
        }],
        ..RetrievalSettings::default()
    }
}

fn corpus_dir(docs_dir: &Path) -> PathBuf {
    docs_dir.join("corpus")
}

/// Makes `dir` hold exactly the embedded documents: writes those whose bytes differ (so the
/// index sees unchanged files as unchanged) and removes files an older binary left.
pub fn write_corpus(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for doc in DEMO_DOCS {
        let path = dir.join(doc.name);
        if std::fs::read(&path).is_ok_and(|bytes| bytes == doc.text.as_bytes()) {
            continue;
        }
        std::fs::write(&path, doc.text).with_context(|| format!("writing {}", path.display()))?;
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if !DEMO_DOCS.iter().any(|doc| name == doc.name) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The demo's search tool over the embedded documentation, its index brought up to date.
pub async fn search_tool(settings: &Settings) -> anyhow::Result<DynTool> {
    let retrieval = demo_retrieval(settings);
    write_corpus(&corpus_dir(&settings.demo.docs_dir))?;
    let documents = DEMO_DOCS.len();
    tracing::info!(
        demo.docs_dir = %settings.demo.docs_dir.display(),
        demo.documents = documents,
        "demo: the search tool answers from this project's own documentation, embedded in the binary \
         (configure [retrieval], or set [retrieval] enabled = false to turn it off)"
    );
    crate::retrieval::search_tool(settings, &retrieval).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_of_the_docs_folder_is_in_the_corpus() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        for entry in std::fs::read_dir(&docs).expect("the docs folder") {
            let name = entry.expect("an entry").file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".md") {
                assert!(
                    DEMO_DOCS.iter().any(|doc| doc.name == name),
                    "docs/{name} is not embedded in DEMO_DOCS"
                );
            }
        }
    }

    #[test]
    fn the_corpus_folder_holds_exactly_the_embedded_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("OLD.md"), "# An older document").expect("writes");
        std::fs::write(dir.path().join("README.md"), "stale").expect("writes");
        write_corpus(dir.path()).expect("writes the corpus");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("lists")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        let mut expected: Vec<&str> = DEMO_DOCS.iter().map(|doc| doc.name).collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
        let readme = std::fs::read_to_string(dir.path().join("README.md")).expect("reads");
        assert_eq!(readme, DEMO_DOCS[0].text);
    }
}
