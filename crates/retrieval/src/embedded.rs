//! The embedded default: a BM25 index on disk built with tantivy, over a folder of Markdown,
//! HTML, plain text and PDF files, with optional dense vectors fused by reciprocal rank fusion.
//!
//! Files on disk:
//! - the tantivy index (one document per passage);
//! - `manifest.json`: the settings the index was built with and, per file, the SHA-256 of its
//!   bytes, so that [`EmbeddedIndex::update`] re-chunks only the files that changed;
//! - `vectors.jsonl`: one line per passage with its vector, when embeddings are on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query as TantivyQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::chunk::{ChunkConfig, chunk_sections};
use crate::documents::{FileKind, parse};
use crate::embeddings::{EmbeddingsClient, EmbeddingsConfig, RRF_K, dot, reciprocal_rank_fusion};
use crate::types::page_key;
use crate::{
    Access, Passage, PassageSource, Query, RetrievalError, Retriever, SourceLocation, Visibility,
};

/// The version of the on-disk layout; a different one is rebuilt from the sources.
const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const VECTORS: &str = "vectors.jsonl";

/// A folder of documents to index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFolder {
    /// The folder.
    pub path: PathBuf,
    /// Put before each file's relative path to form its key (`docs` makes `docs/AUTH.md`);
    /// needed when two folders hold files with the same relative path.
    pub prefix: Option<String>,
    /// The URL the folder is published at: a file's URL is this joined with its relative path,
    /// unless its front matter names a `url`. Without either, passages cite the file.
    pub base_url: Option<String>,
}

impl SourceFolder {
    /// A folder without prefix or base URL.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            prefix: None,
            base_url: None,
        }
    }

    /// Sets the base URL.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
}

/// Settings of an [`EmbeddedIndex`].
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Where the index lives. Created when missing; must be empty or an index made by this crate.
    pub index_dir: PathBuf,
    /// How files are cut into passages.
    pub chunk: ChunkConfig,
    /// Dense vectors for hybrid search; `None` is BM25 only.
    pub embeddings: Option<EmbeddingsConfig>,
    /// Added to the BM25 score of passages from the query's page.
    pub page_boost: f32,
    /// Memory the index writer may use before it flushes a segment.
    pub writer_memory_bytes: usize,
    /// Hybrid search only: the cosine similarity a passage's vector needs to enter the dense
    /// ranking. Every vector has nearest neighbours; without a floor, a question the content
    /// does not cover would still return the least unrelated passages.
    pub dense_min_similarity: f32,
}

impl IndexConfig {
    /// Defaults for an index at `index_dir`.
    pub fn new(index_dir: impl Into<PathBuf>) -> Self {
        Self {
            index_dir: index_dir.into(),
            chunk: ChunkConfig::default(),
            embeddings: None,
            page_boost: 2.0,
            writer_memory_bytes: 100_000_000,
            dense_min_similarity: 0.3,
        }
    }
}

/// Progress of [`EmbeddedIndex::update`], reported after each file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    /// Files looked at so far.
    pub files_done: usize,
    /// Files found in all folders.
    pub files_total: usize,
    /// Passages written so far.
    pub chunks_written: usize,
    /// Bytes of the files re-chunked so far.
    pub bytes_indexed: u64,
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file's key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What [`EmbeddedIndex::update`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexReport {
    /// Files of a supported kind found.
    pub files_seen: usize,
    /// Files (new or changed) that were re-chunked.
    pub files_indexed: usize,
    /// Files whose bytes had not changed.
    pub files_unchanged: usize,
    /// Files that disappeared and whose passages were removed.
    pub files_removed: usize,
    /// Passages written.
    pub chunks_written: usize,
    /// Bytes of the re-chunked files.
    pub bytes_indexed: u64,
    /// Files that could not be read or parsed; their old passages are gone.
    pub skipped: Vec<SkippedFile>,
    /// Passages in the index afterwards.
    pub chunks_total: u64,
    /// Wall time.
    pub duration: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// Everything that changes how a file becomes passages; a change rebuilds every file.
    settings: String,
    files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileEntry {
    sha256: String,
    chunks: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VectorEntry {
    id: String,
    key: String,
    /// Little-endian f32s, base64: a third of the size of a JSON number array.
    vector: String,
    visibility: Visibility,
    metadata: BTreeMap<String, String>,
    page: Option<String>,
}

struct LoadedVector {
    entry: VectorEntry,
    vector: Vec<f32>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    key: Field,
    title: Field,
    section: Field,
    body: Field,
    url: Field,
    file: Field,
    anchor: Field,
    page: Field,
    visibility: Field,
    meta: Field,
    metadata: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        key: builder.add_text_field("key", STRING | STORED),
        title: builder.add_text_field("title", text.clone()),
        section: builder.add_text_field("section", text.clone()),
        body: builder.add_text_field("body", text),
        url: builder.add_text_field("url", STORED),
        file: builder.add_text_field("file", STORED),
        anchor: builder.add_text_field("anchor", STORED),
        page: builder.add_text_field("page", STRING),
        visibility: builder.add_text_field("visibility", STRING | STORED),
        meta: builder.add_text_field("meta", STRING),
        metadata: builder.add_text_field("metadata", STORED),
    };
    (builder.build(), fields)
}

struct Inner {
    config: IndexConfig,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    embeddings: Option<EmbeddingsClient>,
    vectors: RwLock<Vec<LoadedVector>>,
    /// One update at a time: tantivy allows one writer per index.
    update_lock: tokio::sync::Mutex<()>,
    manifest: Mutex<Manifest>,
}

/// The embedded BM25 (and optionally hybrid) retriever. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmbeddedIndex")
            .field("index_dir", &self.inner.config.index_dir)
            .field("hybrid", &self.inner.embeddings.is_some())
            .finish_non_exhaustive()
    }
}

fn read_json_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, RetrievalError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| RetrievalError::Index(format!("{}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(RetrievalError::io(path, error)),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a manifest.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RetrievalError> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).map_err(|error| RetrievalError::io(&temporary, error))?;
    std::fs::rename(&temporary, path).map_err(|error| RetrievalError::io(path, error))
}

fn decode_vector(text: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    (bytes.len() % 4 == 0).then(|| {
        bytes
            .chunks_exact(4)
            .map(|quad| f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]))
            .collect()
    })
}

fn encode_vector(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl EmbeddedIndex {
    /// Opens the index at `config.index_dir`, creating it when the folder is missing or empty.
    /// An index from another format version is emptied (the next [`update`](Self::update)
    /// rebuilds it from the sources).
    ///
    /// # Errors
    /// [`RetrievalError::Config`] for bad settings or a non-empty folder that is not an index;
    /// [`RetrievalError::Io`] / [`RetrievalError::Index`] when the folder or index is unreadable.
    pub fn open(config: IndexConfig) -> Result<Self, RetrievalError> {
        config.chunk.validate()?;
        let dir = config.index_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|error| RetrievalError::io(&dir, error))?;
        let manifest_path = dir.join(MANIFEST);
        let mut manifest: Option<Manifest> = read_json_file(&manifest_path)?;
        let non_empty = std::fs::read_dir(&dir)
            .map_err(|error| RetrievalError::io(&dir, error))?
            .next()
            .is_some();
        if manifest.is_none() && non_empty {
            return Err(RetrievalError::Config(format!(
                "{} is not empty and holds no search index; choose an empty folder",
                dir.display()
            )));
        }
        if manifest
            .as_ref()
            .is_some_and(|manifest| manifest.format != FORMAT)
        {
            // Our own files only: the manifest proves the folder is an index of this crate.
            std::fs::remove_dir_all(&dir).map_err(|error| RetrievalError::io(&dir, error))?;
            std::fs::create_dir_all(&dir).map_err(|error| RetrievalError::io(&dir, error))?;
            manifest = None;
        }
        let (schema, fields) = schema();
        let index = if manifest.is_some() {
            let index = Index::open_in_dir(&dir)?;
            if index.schema() != schema {
                return Err(RetrievalError::Index(format!(
                    "{} was built with another schema; delete it and index again",
                    dir.display()
                )));
            }
            index
        } else {
            Index::create_in_dir(&dir, schema)?
        };
        let manifest = manifest.unwrap_or(Manifest {
            format: FORMAT,
            settings: String::new(),
            files: BTreeMap::new(),
        });
        write_atomically(
            &manifest_path,
            &serde_json::to_vec_pretty(&manifest)
                .map_err(|e| RetrievalError::Index(e.to_string()))?,
        )?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let embeddings = config
            .embeddings
            .clone()
            .map(EmbeddingsClient::new)
            .transpose()?;
        let vectors = if embeddings.is_some() {
            load_vectors(&dir.join(VECTORS))?
        } else {
            Vec::new()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                index,
                reader,
                fields,
                embeddings,
                vectors: RwLock::new(vectors),
                update_lock: tokio::sync::Mutex::new(()),
                manifest: Mutex::new(manifest),
            }),
        })
    }

    /// Passages in the index.
    pub fn chunk_count(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Bytes the index folder takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        walkdir::WalkDir::new(&self.inner.config.index_dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.metadata().ok())
            .filter(|metadata| metadata.is_file())
            .map(|metadata| metadata.len())
            .sum()
    }

    fn settings_fingerprint(&self, sources: &[SourceFolder]) -> String {
        let settings = serde_json::json!({
            "chunk": self.inner.config.chunk,
            "embeddings_model": self.inner.embeddings.as_ref().map(EmbeddingsClient::model),
            "sources": sources.iter().map(|s| (&s.prefix, &s.base_url)).collect::<Vec<_>>(),
        });
        hex::encode(Sha256::digest(settings.to_string().as_bytes()))
    }

    /// Makes the index hold exactly the supported files of `sources`: new and changed files
    /// (by SHA-256 of their bytes) are re-chunked, unchanged ones are left alone, and files no
    /// longer present are removed. Changing the chunk settings, the embedding model or a
    /// folder's prefix or base URL re-chunks everything. `progress` is called after each file.
    ///
    /// # Errors
    /// [`RetrievalError::Io`] when a folder cannot be walked, [`RetrievalError::Index`] when the
    /// index cannot be written, [`RetrievalError::Embeddings`] / [`RetrievalError::Timeout`] when
    /// embeddings are on and fail. On error nothing of this update is committed. A single file
    /// that cannot be read or parsed is not an error: it is listed in
    /// [`IndexReport::skipped`].
    pub async fn update(
        &self,
        sources: &[SourceFolder],
        progress: &mut (dyn FnMut(&IndexProgress) + Send),
    ) -> Result<IndexReport, RetrievalError> {
        let started = Instant::now();
        let _guard = self.inner.update_lock.lock().await;
        let inner = &self.inner;
        let fields = inner.fields;
        let files = collect_files(sources)?;
        let settings = self.settings_fingerprint(sources);
        let previous = inner
            .manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let rebuild = previous.settings != settings;
        let mut writer: tantivy::IndexWriter<TantivyDocument> =
            inner.index.writer(inner.config.writer_memory_bytes)?;
        if rebuild {
            writer.delete_all_documents()?;
        }
        let mut next = Manifest {
            format: FORMAT,
            settings,
            files: BTreeMap::new(),
        };
        let mut vectors: Vec<VectorEntry> = if rebuild {
            Vec::new()
        } else {
            read_vector_entries(&inner.config.index_dir.join(VECTORS))?
        };
        let mut report = IndexReport {
            files_seen: files.len(),
            ..IndexReport::default()
        };
        let mut state = IndexProgress {
            files_total: files.len(),
            ..IndexProgress::default()
        };
        let mut changed_keys: HashSet<String> = HashSet::new();
        for file in &files {
            state.files_done += 1;
            let bytes = match std::fs::read(&file.path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    writer.delete_term(Term::from_field_text(fields.key, &file.key));
                    changed_keys.insert(file.key.clone());
                    report.skipped.push(SkippedFile {
                        key: file.key.clone(),
                        reason: format!("unreadable: {error}"),
                    });
                    progress(&state);
                    continue;
                }
            };
            let sha256 = hex::encode(Sha256::digest(&bytes));
            if !rebuild
                && let Some(entry) = previous.files.get(&file.key)
                && entry.sha256 == sha256
            {
                next.files.insert(file.key.clone(), entry.clone());
                report.files_unchanged += 1;
                progress(&state);
                continue;
            }
            writer.delete_term(Term::from_field_text(fields.key, &file.key));
            changed_keys.insert(file.key.clone());
            vectors.retain(|entry| entry.key != file.key);
            let document = match parse(file.kind, &bytes) {
                Ok(document) => document,
                Err(failure) => {
                    report.skipped.push(SkippedFile {
                        key: file.key.clone(),
                        reason: failure.0,
                    });
                    progress(&state);
                    continue;
                }
            };
            let chunks = chunk_sections(&document.sections, inner.config.chunk);
            let title = document.title.clone().unwrap_or_else(|| file.stem());
            let url = document.url.clone().or_else(|| file.url());
            let page = url.as_deref().map(page_key);
            let mut embed_inputs = Vec::new();
            let mut pending = Vec::new();
            for chunk in &chunks {
                let id = format!("{}#{}", file.key, chunk.ordinal);
                let mut doc = TantivyDocument::default();
                doc.add_text(fields.id, &id);
                doc.add_text(fields.key, &file.key);
                doc.add_text(fields.title, &title);
                if let Some(section) = &chunk.section {
                    doc.add_text(fields.section, section);
                }
                doc.add_text(fields.body, &chunk.text);
                match &url {
                    Some(url) => doc.add_text(fields.url, url),
                    None => doc.add_text(fields.file, &file.key),
                }
                if let Some(anchor) = &chunk.anchor {
                    doc.add_text(fields.anchor, anchor);
                }
                if let Some(page) = &page {
                    doc.add_text(fields.page, page);
                }
                for tag in document.visibility.index_tags() {
                    doc.add_text(fields.visibility, &tag);
                }
                for (key, value) in &document.metadata {
                    doc.add_text(fields.meta, format!("{key}={value}"));
                }
                doc.add_text(
                    fields.metadata,
                    serde_json::to_string(&document.metadata).unwrap_or_default(),
                );
                writer.add_document(doc)?;
                if inner.embeddings.is_some() {
                    embed_inputs.push(embedding_input(
                        &title,
                        chunk.section.as_deref(),
                        &chunk.text,
                    ));
                    pending.push(VectorEntry {
                        id,
                        key: file.key.clone(),
                        vector: String::new(),
                        visibility: document.visibility.clone(),
                        metadata: document.metadata.clone(),
                        page: page.clone(),
                    });
                }
            }
            if let Some(client) = &inner.embeddings
                && !embed_inputs.is_empty()
            {
                let embedded = client.embed(&embed_inputs).await?;
                for (mut entry, vector) in pending.into_iter().zip(embedded) {
                    entry.vector = encode_vector(&vector);
                    vectors.push(entry);
                }
            }
            next.files.insert(
                file.key.clone(),
                FileEntry {
                    sha256,
                    chunks: chunks.len(),
                },
            );
            report.files_indexed += 1;
            report.chunks_written += chunks.len();
            report.bytes_indexed += bytes.len() as u64;
            state.chunks_written = report.chunks_written;
            state.bytes_indexed = report.bytes_indexed;
            progress(&state);
        }
        for key in previous.files.keys() {
            if !next.files.contains_key(key) && !changed_keys.contains(key) {
                writer.delete_term(Term::from_field_text(fields.key, key));
                changed_keys.insert(key.clone());
                report.files_removed += 1;
            }
        }
        writer.commit()?;
        drop(writer);
        inner.reader.reload()?;
        if inner.embeddings.is_some() {
            // Vectors of changed files were dropped when each was re-chunked; removed files go now.
            vectors.retain(|entry| next.files.contains_key(&entry.key));
            let kept = vectors;
            write_vector_entries(&inner.config.index_dir.join(VECTORS), &kept)?;
            let loaded = kept
                .into_iter()
                .filter_map(|entry| {
                    decode_vector(&entry.vector).map(|vector| LoadedVector { entry, vector })
                })
                .collect();
            *inner
                .vectors
                .write()
                .unwrap_or_else(PoisonError::into_inner) = loaded;
        }
        write_atomically(
            &inner.config.index_dir.join(MANIFEST),
            &serde_json::to_vec_pretty(&next).map_err(|e| RetrievalError::Index(e.to_string()))?,
        )?;
        *inner
            .manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = next;
        report.chunks_total = self.chunk_count();
        report.duration = started.elapsed();
        tracing::info!(
            retrieval.files_indexed = report.files_indexed,
            retrieval.files_unchanged = report.files_unchanged,
            retrieval.files_removed = report.files_removed,
            retrieval.chunks_total = report.chunks_total,
            duration_ms = report.duration.as_millis() as u64,
            "retrieval index updated"
        );
        Ok(report)
    }

    fn build_query(&self, query: &Query) -> Result<Option<Box<dyn TantivyQuery>>, RetrievalError> {
        let inner = &self.inner;
        let fields = inner.fields;
        let mut analyzer = inner.index.tokenizer_for_field(fields.body)?;
        let mut terms: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(&query.text);
        while let Some(token) = stream.next() {
            if !terms.contains(&token.text) {
                terms.push(token.text.clone());
            }
        }
        if terms.is_empty() {
            return Ok(None);
        }
        let mut text_clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for term in &terms {
            // Words in titles and headings say more about a passage than words in its body.
            for (field, boost) in [
                (fields.title, 2.0),
                (fields.section, 1.5),
                (fields.body, 1.0),
            ] {
                let term_query = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                text_clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term_query), boost)),
                ));
            }
        }
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(text_clauses)))];
        clauses.push((
            Occur::Must,
            visibility_filter(fields.visibility, &query.access),
        ));
        for (key, value) in &query.filters.metadata {
            let term = TermQuery::new(
                Term::from_field_text(fields.meta, &format!("{key}={value}")),
                IndexRecordOption::Basic,
            );
            // Filters decide membership only; a zero constant keeps them out of the ranking.
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(term), 0.0)),
            ));
        }
        if let Some(page) = query.page.as_ref().and_then(|page| page.key()) {
            let term = TermQuery::new(
                Term::from_field_text(fields.page, &page),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(
                    Box::new(term),
                    inner.config.page_boost,
                )),
            ));
        }
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    fn bm25(&self, query: &Query, limit: usize) -> Result<Vec<Passage>, RetrievalError> {
        let Some(tantivy_query) = self.build_query(query)? else {
            return Ok(Vec::new());
        };
        let searcher = self.inner.reader.searcher();
        let hits = searcher.search(&tantivy_query, &TopDocs::with_limit(limit).order_by_score())?;
        hits.into_iter()
            .map(|(score, address)| self.passage_at(&searcher, address, score))
            .collect()
    }

    fn passage_at(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
        score: f32,
    ) -> Result<Passage, RetrievalError> {
        let fields = self.inner.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|value| value.as_str().map(str::to_owned))
        };
        let location = match (text(fields.url), text(fields.file)) {
            (Some(url), _) => SourceLocation::Url(url),
            (None, Some(file)) => SourceLocation::File(file),
            (None, None) => return Err(RetrievalError::Index("a passage has no location".into())),
        };
        let tags: Vec<String> = doc
            .get_all(fields.visibility)
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect();
        let metadata = text(fields.metadata)
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        let anchor = text(fields.anchor);
        let location = match (location, &anchor) {
            (SourceLocation::Url(url), Some(anchor)) if !url.contains('#') => {
                SourceLocation::Url(format!("{url}#{anchor}"))
            }
            (location, _) => location,
        };
        Ok(Passage {
            id: text(fields.id).unwrap_or_default(),
            text: text(fields.body).unwrap_or_default(),
            score,
            source: PassageSource {
                title: text(fields.title).unwrap_or_default(),
                location,
                section: text(fields.section),
                anchor,
                metadata,
            },
            visibility: Visibility::from_tags(tags),
        })
    }

    fn passages_by_id(&self, ids: &[String]) -> Result<HashMap<String, Passage>, RetrievalError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let searcher = self.inner.reader.searcher();
        // One query for all ids: a search per id cost more than the rest of the fusion.
        let clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = ids
            .iter()
            .map(|id| {
                let term = TermQuery::new(
                    Term::from_field_text(self.inner.fields.id, id),
                    IndexRecordOption::Basic,
                );
                (Occur::Should, Box::new(term) as Box<dyn TantivyQuery>)
            })
            .collect();
        let hits = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(ids.len()).order_by_score(),
        )?;
        let mut found = HashMap::new();
        for (_, address) in hits {
            let passage = self.passage_at(&searcher, address, 0.0)?;
            found.insert(passage.id.clone(), passage);
        }
        Ok(found)
    }

    fn dense(&self, query: &Query, vector: &[f32], limit: usize) -> Vec<String> {
        let vectors = self
            .inner
            .vectors
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // The caller's tags once, not once per vector.
        let own = query.access.tags();
        let allowed = |visibility: &Visibility| match visibility {
            Visibility::Public => true,
            Visibility::Restricted(tags) => tags.iter().any(|tag| own.contains(tag)),
        };
        let floor = self.inner.config.dense_min_similarity;
        let mut scored: Vec<(f32, &str)> = vectors
            .iter()
            .filter(|loaded| allowed(&loaded.entry.visibility))
            .filter(|loaded| query.filters.matches(&loaded.entry.metadata))
            .map(|loaded| (dot(vector, &loaded.vector), loaded.entry.id.as_str()))
            .filter(|(similarity, _)| *similarity >= floor)
            .collect();
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(limit);
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(_, id)| id.to_owned()).collect()
    }

    /// Fuses a BM25 list with the dense ranking for `vector`.
    fn fuse(
        &self,
        query: &Query,
        bm25: Vec<Passage>,
        vector: &[f32],
        depth: usize,
    ) -> Result<Vec<Passage>, RetrievalError> {
        let dense = self.dense(query, vector, depth);
        let bm25_ids: Vec<String> = bm25.iter().map(|passage| passage.id.clone()).collect();
        let mut fused = reciprocal_rank_fusion(&[bm25_ids, dense]);
        let page = query.page.as_ref().and_then(|page| page.key());
        let mut by_id: HashMap<String, Passage> = bm25
            .into_iter()
            .map(|passage| (passage.id.clone(), passage))
            .collect();
        let missing: Vec<String> = fused
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !by_id.contains_key(id))
            .collect();
        by_id.extend(self.passages_by_id(&missing)?);
        if page.is_some() {
            for (id, score) in &mut fused {
                if by_id.get(id.as_str()).and_then(|p| p.source.page_key()) == page {
                    // Worth a first place in one list: enough to order equal matches by page.
                    *score += 1.0 / (RRF_K + 1.0);
                }
            }
            fused.sort_by(|a, b| b.1.total_cmp(&a.1));
        }
        Ok(fused
            .into_iter()
            .filter_map(|(id, score)| {
                let mut passage = by_id.remove(&id)?;
                // The dense side filtered too; this keeps a stale vector file from leaking.
                if !query.access.allows(&passage.visibility)
                    || !query.filters.matches(&passage.source.metadata)
                {
                    return None;
                }
                passage.score = score;
                Some(passage)
            })
            .take(query.k)
            .collect())
    }

    async fn hybrid(
        &self,
        client: &EmbeddingsClient,
        query: &Query,
    ) -> Result<Vec<Passage>, RetrievalError> {
        // Each list is cut deeper than k so that fusion can promote what only one list found.
        let depth = (query.k * 5).max(50);
        let this = self.clone();
        let bm25_query = query.clone();
        // BM25 runs while the query is being embedded.
        let bm25_task = tokio::task::spawn_blocking(move || this.bm25(&bm25_query, depth));
        let embedded = client.embed(std::slice::from_ref(&query.text)).await;
        let bm25 = bm25_task
            .await
            .map_err(|error| RetrievalError::Index(format!("search task failed: {error}")))??;
        let vector = match embedded {
            Ok(mut vectors) => vectors.pop().unwrap_or_default(),
            Err(error) => {
                // The index still answers without the vector side; a flaky embeddings endpoint
                // must not take search down with it.
                tracing::warn!(error.kind = %error, "query embedding failed; BM25 results only");
                let mut bm25 = bm25;
                bm25.truncate(query.k);
                return Ok(bm25);
            }
        };
        let this = self.clone();
        let query = query.clone();
        // The vector scan is CPU work proportional to the corpus: off the async threads.
        tokio::task::spawn_blocking(move || this.fuse(&query, bm25, &vector, depth))
            .await
            .map_err(|error| RetrievalError::Index(format!("search task failed: {error}")))?
    }
}

fn visibility_filter(field: Field, access: &Access) -> Box<dyn TantivyQuery> {
    let mut tags = access.tags();
    tags.push("public".to_owned());
    let clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = tags
        .iter()
        .map(|tag| {
            let term = TermQuery::new(Term::from_field_text(field, tag), IndexRecordOption::Basic);
            (Occur::Should, Box::new(term) as Box<dyn TantivyQuery>)
        })
        .collect();
    Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::new(clauses)),
        0.0,
    ))
}

/// Title and heading go into the embedded text: a passage's meaning often sits in its heading.
fn embedding_input(title: &str, section: Option<&str>, text: &str) -> String {
    match section {
        Some(section) => format!("{title} > {section}\n\n{text}"),
        None => format!("{title}\n\n{text}"),
    }
}

struct FoundFile {
    path: PathBuf,
    key: String,
    relative: String,
    kind: FileKind,
    base_url: Option<String>,
}

impl FoundFile {
    fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.key.clone())
    }

    fn url(&self) -> Option<String> {
        let base = self.base_url.as_ref()?;
        Some(format!("{}/{}", base.trim_end_matches('/'), self.relative))
    }
}

fn collect_files(sources: &[SourceFolder]) -> Result<Vec<FoundFile>, RetrievalError> {
    let mut files = Vec::new();
    for source in sources {
        let metadata = std::fs::metadata(&source.path)
            .map_err(|error| RetrievalError::io(&source.path, error))?;
        if !metadata.is_dir() {
            return Err(RetrievalError::Config(format!(
                "{} is not a folder",
                source.path.display()
            )));
        }
        let walker = walkdir::WalkDir::new(&source.path)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            // Hidden folders (.git, .cache) are never content.
            .filter_entry(|entry| {
                entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
            });
        for entry in walker {
            let entry = entry.map_err(|error| {
                let path = error.path().map(Path::to_path_buf).unwrap_or_default();
                RetrievalError::io(path, error.into())
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(kind) = FileKind::of(entry.path()) else {
                continue;
            };
            let relative = entry
                .path()
                .strip_prefix(&source.path)
                .unwrap_or(entry.path())
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let key = match &source.prefix {
                Some(prefix) => format!("{}/{relative}", prefix.trim_end_matches('/')),
                None => relative.clone(),
            };
            files.push(FoundFile {
                path: entry.path().to_path_buf(),
                key,
                relative,
                kind,
                base_url: source.base_url.clone(),
            });
        }
    }
    Ok(files)
}

fn read_vector_entries(path: &Path) -> Result<Vec<VectorEntry>, RetrievalError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(RetrievalError::io(path, error)),
    };
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.map_err(|error| RetrievalError::io(path, error))?;
            serde_json::from_str(&line)
                .map_err(|error| RetrievalError::Index(format!("{}: {error}", path.display())))
        })
        .collect()
}

fn write_vector_entries(path: &Path, entries: &[VectorEntry]) -> Result<(), RetrievalError> {
    let mut bytes = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut bytes, entry)
            .map_err(|e| RetrievalError::Index(e.to_string()))?;
        bytes
            .write_all(b"\n")
            .map_err(|error| RetrievalError::io(path, error))?;
    }
    write_atomically(path, &bytes)
}

fn load_vectors(path: &Path) -> Result<Vec<LoadedVector>, RetrievalError> {
    Ok(read_vector_entries(path)?
        .into_iter()
        .filter_map(|entry| {
            decode_vector(&entry.vector).map(|vector| LoadedVector { entry, vector })
        })
        .collect())
}

#[async_trait]
impl Retriever for EmbeddedIndex {
    async fn retrieve(&self, query: &Query) -> Result<Vec<Passage>, RetrievalError> {
        query.validate()?;
        if let Some(client) = &self.inner.embeddings {
            return self.hybrid(client, query).await;
        }
        let this = self.clone();
        let query = query.clone();
        // A search takes well under a millisecond to a few; off the async threads all the same,
        // since it reads the index through memory-mapped files that may fault to disk.
        tokio::task::spawn_blocking(move || this.bm25(&query, query.k))
            .await
            .map_err(|error| RetrievalError::Index(format!("search task failed: {error}")))?
    }
}

impl EmbeddedIndex {
    /// Runs a BM25 query on the calling thread (for benchmarks and synchronous callers).
    ///
    /// # Errors
    /// As [`Retriever::retrieve`].
    pub fn search_blocking(&self, query: &Query) -> Result<Vec<Passage>, RetrievalError> {
        query.validate()?;
        self.bm25(query, query.k)
    }
}
