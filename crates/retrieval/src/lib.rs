#![doc = include_str!("../README.md")]

pub mod chunk;
pub mod citations;
#[cfg(feature = "test-utils")]
pub mod conformance;
pub mod documents;
pub mod embedded;
pub mod embeddings;
pub mod error;
pub mod http;
pub mod memory;
pub mod retriever;
pub mod tool;
pub mod types;

pub use chunk::{Chunk, ChunkConfig, Section, chunk_sections};
pub use citations::{Citation, CitedText, MarkerMode, annotation_source, map_citations};
pub use embedded::{
    EmbeddedIndex, IndexConfig, IndexProgress, IndexReport, SkippedFile, SourceFolder,
};
pub use embeddings::{EmbeddingsClient, EmbeddingsConfig, EncodingFormat, reciprocal_rank_fusion};
pub use error::RetrievalError;
pub use http::{FieldMapping, HttpRetriever, HttpRetrieverConfig};
pub use memory::MemoryRetriever;
pub use retriever::{DynRetriever, Retriever};
pub use tool::{
    GrantsFn, SearchResult, SearchTool, SearchToolConfig, failure_message, reserve_citation_numbers,
};
pub use types::{
    Access, Filters, MAX_K, PageContext, Passage, PassageSource, Query, SourceLocation, Visibility,
    page_key,
};
