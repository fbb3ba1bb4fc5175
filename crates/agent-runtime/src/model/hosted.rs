//! What a provider reports about the tools the vendor runs itself (web search, file search,
//! image generation), in normalized form: no wire type and nothing of ChatKit.

use serde::{Deserialize, Serialize};

/// Which kind of search a hosted search call ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchKind {
    /// A web search.
    Web,
    /// A search of the vendor's vector stores.
    File,
}

/// Something a hosted search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SearchSource {
    /// A web page.
    Url {
        /// The page's URL.
        url: String,
    },
    /// A file of a vector store.
    File {
        /// The vendor's file id.
        file_id: String,
        /// The file's name.
        filename: String,
    },
}

/// Progress of a hosted tool call. Events of one call share its `call_id` (the vendor's item
/// id); a call starts once and finishes once, in that order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostedToolEvent {
    /// A hosted search started.
    SearchStarted {
        /// The vendor's id of the call.
        call_id: String,
        /// Web or file search.
        kind: SearchKind,
    },
    /// A hosted search finished.
    SearchFinished {
        /// The vendor's id of the call.
        call_id: String,
        /// Web or file search.
        kind: SearchKind,
        /// The queries it ran.
        queries: Vec<String>,
        /// What it found, when the vendor reports it (web search sources need the
        /// `web_search_call.action.sources` include, file results `file_search_call.results`;
        /// the Responses provider asks for both).
        sources: Vec<SearchSource>,
        /// True when the vendor reports the search failed.
        failed: bool,
    },
    /// An image generation started.
    ImageStarted {
        /// The vendor's id of the call.
        call_id: String,
    },
    /// A preview of the image being generated.
    ImagePartial {
        /// The vendor's id of the call.
        call_id: String,
        /// Which preview (0 first).
        index: u32,
        /// The preview, base64-encoded.
        image_base64: String,
        /// Its format (`png`, `webp`, `jpeg`), when the vendor says.
        output_format: Option<String>,
    },
    /// An image generation finished.
    ImageFinished {
        /// The vendor's id of the call.
        call_id: String,
        /// The image, base64-encoded; `None` when the generation failed.
        image_base64: Option<String>,
        /// Its format, when the vendor says.
        output_format: Option<String>,
    },
}

impl HostedToolEvent {
    /// The vendor's id of the call the event belongs to.
    pub fn call_id(&self) -> &str {
        match self {
            Self::SearchStarted { call_id, .. }
            | Self::SearchFinished { call_id, .. }
            | Self::ImageStarted { call_id }
            | Self::ImagePartial { call_id, .. }
            | Self::ImageFinished { call_id, .. } => call_id,
        }
    }
}
