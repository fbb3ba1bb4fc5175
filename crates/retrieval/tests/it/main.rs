//! Integration tests of the retrieval crate: every retriever through the conformance suite, the
//! embedded index on real files (ranking, incremental re-index, PDF, hybrid search against the
//! fake embeddings endpoint), the HTTP retriever against real local HTTP servers, and the search
//! tool.

mod conformance;
mod embedded;
mod http;
mod support;
mod tool;
