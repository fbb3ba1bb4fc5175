//! `[retrieval]`: the search tool over the embedded index or a platform's search service, built
//! from the settings file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::{ApiKey, DynTool};
use anyhow::{Context as _, bail};
use chatkit_engine::ChatKitSearchTool;
use chatkit_protocol::citations::MarkerMode;
use retrieval::{
    ChunkConfig, DynRetriever, EmbeddedIndex, EmbeddingsConfig, FieldMapping, HttpRetriever,
    HttpRetrieverConfig, IndexConfig, IndexProgress, IndexReport, SearchTool, SearchToolConfig,
    SourceFolder,
};
use serde::Deserialize;

use crate::settings::Settings;

/// Retrieval settings. Present (even empty) means the agent gets a search tool, unless
/// `enabled = false`. Absent, the demo model searches this project's own documentation
/// ([`crate::demo_corpus`]).
///
/// ```toml
/// [retrieval]
/// enabled = true                     # false: no search tool, not even the demo's
/// index_dir = "chatkit-index"        # the embedded index
/// chunk_size = 1200                  # largest passage, in characters
/// k = 5                              # passages per search
/// tool_name = "search_documentation"
/// citation_markers = "strip"         # or "keep"
/// [[retrieval.sources]]
/// path = "docs"
/// base_url = "https://docs.example.com/"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalSettings {
    /// Give the agent the search tool; `false` also turns off the demo's documentation search.
    pub enabled: bool,
    /// Where the embedded index lives.
    pub index_dir: PathBuf,
    /// The folders the embedded index holds (indexed at start-up and by `chatkit-server index`).
    pub sources: Vec<SourceSettings>,
    /// Largest passage, in characters.
    pub chunk_size: usize,
    /// Characters a long section's next passage repeats from the previous one.
    pub chunk_overlap: usize,
    /// Dense vectors from the model provider's `/embeddings` (hybrid search); off by default.
    pub embeddings: bool,
    /// The embeddings model.
    pub embeddings_model: String,
    /// Passages per search.
    pub k: usize,
    /// The tool's name, as the model calls it.
    pub tool_name: String,
    /// What the model is told the tool searches.
    pub tool_description: String,
    /// `strip` (the annotation carries the citation) or `keep` the `[n]` markers in the text.
    pub citation_markers: String,
    /// A search service the platform already runs, instead of the embedded index.
    pub http: Option<HttpSettings>,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        let tool = SearchToolConfig::default();
        let chunk = ChunkConfig::default();
        Self {
            enabled: true,
            index_dir: PathBuf::from("chatkit-index"),
            sources: Vec::new(),
            chunk_size: chunk.max_chars,
            chunk_overlap: chunk.overlap_chars,
            embeddings: false,
            embeddings_model: EmbeddingsConfig::default().model,
            k: tool.k,
            tool_name: tool.name,
            tool_description: tool.description,
            citation_markers: "strip".to_owned(),
            http: None,
        }
    }
}

/// A folder of documents for the embedded index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// The folder.
    pub path: PathBuf,
    /// The URL it is published at (a file's URL is this joined with its relative path).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Put before each file's relative path (needed when two folders share file names).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// `[retrieval.http]`: the platform's own search service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// The endpoint the query is POSTed to.
    pub url: String,
    /// How long a search may take, in seconds.
    #[serde(default = "default_http_timeout")]
    pub timeout_secs: u64,
    /// Where the passage fields are in the response (JSON pointers); unset fields keep their
    /// defaults (`/results`, `/text`, `/title`, `/url`, ...).
    #[serde(default)]
    pub fields: FieldSettings,
}

fn default_http_timeout() -> u64 {
    10
}

/// JSON pointers of the passage fields in the search service's response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FieldSettings {
    pub results: Option<String>,
    pub text: Option<String>,
    pub score: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub file: Option<String>,
    pub section: Option<String>,
    pub anchor: Option<String>,
    pub id: Option<String>,
    pub visibility: Option<String>,
    pub metadata: Option<String>,
}

impl FieldSettings {
    fn mapping(&self) -> FieldMapping {
        let mut mapping = FieldMapping::default();
        let fields = [
            (&self.results, &mut mapping.results),
            (&self.text, &mut mapping.text),
            (&self.score, &mut mapping.score),
            (&self.title, &mut mapping.title),
            (&self.url, &mut mapping.url),
            (&self.file, &mut mapping.file),
            (&self.section, &mut mapping.section),
            (&self.anchor, &mut mapping.anchor),
            (&self.id, &mut mapping.id),
            (&self.visibility, &mut mapping.visibility),
            (&self.metadata, &mut mapping.metadata),
        ];
        for (setting, field) in fields {
            if let Some(pointer) = setting {
                *field = pointer.clone();
            }
        }
        mapping
    }
}

impl RetrievalSettings {
    /// Checks what serde cannot (for `check-config` and start-up).
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if self.k == 0 || self.k > 50 {
            bail!("retrieval.k must be between 1 and 50");
        }
        if self.tool_name.trim().is_empty()
            || !self
                .tool_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!("retrieval.tool_name must be letters, digits, `_` or `-`");
        }
        if !["strip", "keep"].contains(&self.citation_markers.as_str()) {
            bail!("retrieval.citation_markers must be strip or keep");
        }
        self.chunk()
            .validate()
            .map_err(|error| anyhow::anyhow!("retrieval.chunk_size/chunk_overlap: {error}"))?;
        match &self.http {
            Some(http) => {
                if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
                    bail!("retrieval.http.url must be an http:// or https:// URL");
                }
                if http.timeout_secs == 0 {
                    bail!("retrieval.http.timeout_secs must be at least 1");
                }
                for pointer in [&http.fields.results, &http.fields.text, &http.fields.title]
                    .into_iter()
                    .flatten()
                {
                    if !pointer.is_empty() && !pointer.starts_with('/') {
                        bail!("retrieval.http.fields: `{pointer}` is not a JSON pointer (`/a/b`)");
                    }
                }
            }
            None if self.sources.is_empty() => {
                bail!("retrieval needs [[retrieval.sources]] to index, or [retrieval.http]");
            }
            None => {}
        }
        Ok(())
    }

    /// What happens to the `[n]` markers.
    pub fn markers(&self) -> MarkerMode {
        if self.citation_markers == "keep" {
            MarkerMode::Keep
        } else {
            MarkerMode::Strip
        }
    }

    fn chunk(&self) -> ChunkConfig {
        ChunkConfig {
            max_chars: self.chunk_size,
            overlap_chars: self.chunk_overlap,
        }
    }

    /// The folders, as the index takes them.
    pub fn source_folders(&self) -> Vec<SourceFolder> {
        self.sources
            .iter()
            .map(|source| SourceFolder {
                path: source.path.clone(),
                prefix: source.prefix.clone(),
                base_url: source.base_url.clone(),
            })
            .collect()
    }

    /// Opens (or creates) the embedded index.
    pub fn open_index(&self, settings: &Settings) -> anyhow::Result<EmbeddedIndex> {
        let mut config = IndexConfig::new(self.index_dir.clone());
        config.chunk = self.chunk();
        if self.embeddings {
            let model = &settings.model;
            config.embeddings = Some(EmbeddingsConfig {
                base_url: model
                    .base_url
                    .clone()
                    .unwrap_or_else(|| EmbeddingsConfig::default().base_url),
                api_key: model.api_key.clone().map(ApiKey::new),
                model: self.embeddings_model.clone(),
                ..EmbeddingsConfig::default()
            });
        }
        EmbeddedIndex::open(config)
            .with_context(|| format!("opening the index in {}", self.index_dir.display()))
    }
}

/// Brings the embedded index up to date with its folders (only changed files are re-read).
pub async fn update_index(
    index: &EmbeddedIndex,
    folders: &[SourceFolder],
    progress: &mut (dyn FnMut(&IndexProgress) + Send),
) -> anyhow::Result<IndexReport> {
    index
        .update(folders, progress)
        .await
        .context("updating the index")
}

/// The search tool `[retrieval]` describes, its index brought up to date first.
pub async fn search_tool(
    settings: &Settings,
    retrieval: &RetrievalSettings,
) -> anyhow::Result<DynTool> {
    let retriever: DynRetriever = match &retrieval.http {
        Some(http) => {
            let mut config = HttpRetrieverConfig::new(http.url.clone());
            config.timeout = Duration::from_secs(http.timeout_secs);
            config.fields = http.fields.mapping();
            Arc::new(HttpRetriever::new(config).context("the HTTP retriever")?)
        }
        None => {
            let index = retrieval.open_index(settings)?;
            let report = update_index(&index, &retrieval.source_folders(), &mut |_| {}).await?;
            tracing::info!(
                retrieval.files = report.files_seen,
                retrieval.chunks = index.chunk_count(),
                "the search index is up to date"
            );
            Arc::new(index)
        }
    };
    let tool = SearchTool::new(
        retriever,
        SearchToolConfig {
            name: retrieval.tool_name.clone(),
            description: retrieval.tool_description.clone(),
            k: retrieval.k,
            ..SearchToolConfig::default()
        },
    );
    Ok(Arc::new(ChatKitSearchTool::new(tool)))
}

/// `chatkit-server index PATH...`: updates the embedded index of `[retrieval]` (defaults when
/// absent) with `paths` (or the configured folders), with a progress bar on the terminal and a
/// summary line.
pub async fn index_command(settings: &Settings, paths: &[PathBuf]) -> anyhow::Result<()> {
    let retrieval = settings.retrieval.clone().unwrap_or_default();
    let folders = if paths.is_empty() {
        retrieval.source_folders()
    } else {
        paths.iter().map(SourceFolder::new).collect()
    };
    if folders.is_empty() {
        bail!(
            "nothing to index: name folders (`chatkit-server index docs`) or configure [[retrieval.sources]]"
        );
    }
    let index = retrieval.open_index(settings)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files · {msg} · {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = {
        let bar = bar.clone();
        update_index(&index, &folders, &mut move |progress: &IndexProgress| {
            bar.set_length(progress.files_total as u64);
            bar.set_position(progress.files_done as u64);
            let seconds = started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} chunks · {:.1} MB/s",
                progress.chunks_written,
                progress.bytes_indexed as f64 / 1e6 / seconds
            ));
        })
        .await
    };
    bar.finish_and_clear();
    let report = report?;
    for skipped in &report.skipped {
        eprintln!("skipped {}: {}", skipped.key, skipped.reason);
    }
    let seconds = report.duration.as_secs_f64().max(0.001);
    println!(
        "indexed {} files ({} unchanged, {} removed, {} skipped): {} chunks written, {} in the index, {:.1} MB/s, {:.0} chunks/s, {:.2}s",
        report.files_indexed,
        report.files_unchanged,
        report.files_removed,
        report.skipped.len(),
        report.chunks_written,
        report.chunks_total,
        report.bytes_indexed as f64 / 1e6 / seconds,
        report.chunks_written as f64 / seconds,
        seconds,
    );
    Ok(())
}
