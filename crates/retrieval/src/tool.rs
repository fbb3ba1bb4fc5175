//! The search tool: any [`Retriever`] as an `agent_runtime::Tool`.

use std::fmt::Write as _;
use std::sync::Arc;

use agent_runtime::{RunContext, Tool, ToolDefinition, ToolError, ToolOutput};
use async_trait::async_trait;
use chatkit_protocol::items::Source;
use serde_json::{Value, json};

use crate::citations::annotation_source;
use crate::{Access, DynRetriever, PageContext, Passage, Query, RetrievalError, SourceLocation};

/// Settings of a [`SearchTool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchToolConfig {
    /// The name the model calls the tool by.
    pub name: String,
    /// What the model is told the tool searches.
    pub description: String,
    /// Passages per call.
    pub k: usize,
    /// The request-metadata key holding the page context (a URL string, or an object with `url`
    /// or `path` and `title`).
    pub page_metadata_key: String,
}

impl Default for SearchToolConfig {
    fn default() -> Self {
        Self {
            name: "search_documentation".to_owned(),
            description: "Searches the documentation and course material for passages that \
                          answer a question. Use it before answering questions about the \
                          product or the course, and cite what you use."
                .to_owned(),
            k: 5,
            page_metadata_key: "page".to_owned(),
        }
    }
}

/// Decides, from the verified run context, which visibility grants the acting user holds.
pub type GrantsFn = Arc<dyn Fn(&RunContext) -> Vec<String> + Send + Sync>;

/// The outcome of one search, kept structured so that a caller can show the query and its
/// sources (a ChatKit `search` task) as well as give the model the numbered text.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The query text the model asked for.
    pub query: String,
    /// The passages, best first; passage `i` is cited as `[i + first_number]`.
    pub passages: Vec<Passage>,
}

impl SearchResult {
    /// The text the model reads: the passages numbered from `first_number` with titles and
    /// sources, and the instruction to cite them inline.
    pub fn render_for_model(&self, first_number: usize) -> String {
        if self.passages.is_empty() {
            return format!(
                "No passages matched \"{}\". Try other words, or tell the user that the \
                 documentation does not cover it; do not invent sources.",
                self.query
            );
        }
        let mut text = format!("Passages for \"{}\":\n", self.query);
        for (offset, passage) in self.passages.iter().enumerate() {
            let number = first_number + offset;
            let source = &passage.source;
            let _ = write!(text, "\n[{number}] {}", source.title);
            if let Some(section) = &source.section {
                let _ = write!(text, " — {section}");
            }
            let location = match &source.location {
                SourceLocation::Url(url) | SourceLocation::File(url) => url,
            };
            let _ = write!(text, "\nSource: {location}\n{}\n", passage.text.trim());
        }
        text.push_str(
            "\nCite the passages you use inline with their numbers in square brackets right after \
             the statement they support, like [1] or [1][2]. Cite only these numbers, and only \
             passages you used.",
        );
        text
    }

    /// The ChatKit sources of the passages, in order (for a `search` task or a sources list).
    pub fn sources(&self) -> Vec<Source> {
        self.passages
            .iter()
            .map(|passage| annotation_source(&passage.source))
            .collect()
    }
}

/// A search tool over any [`Retriever`](crate::Retriever).
///
/// The acting user comes from the run context; the grants from the [`GrantsFn`] given to
/// [`with_grants`](Self::with_grants) (none by default: public passages and the user's own).
/// Nothing the model writes in the arguments widens what it can see. The page context comes
/// from the request metadata and only ranks.
#[derive(Clone)]
pub struct SearchTool {
    retriever: DynRetriever,
    config: SearchToolConfig,
    grants: GrantsFn,
}

impl std::fmt::Debug for SearchTool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SearchTool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SearchTool {
    /// A tool over `retriever`.
    pub fn new(retriever: DynRetriever, config: SearchToolConfig) -> Self {
        Self {
            retriever,
            config,
            grants: Arc::new(|_| Vec::new()),
        }
    }

    /// Sets how grants are derived from the verified run context.
    pub fn with_grants(mut self, grants: GrantsFn) -> Self {
        self.grants = grants;
        self
    }

    /// The settings.
    pub fn config(&self) -> &SearchToolConfig {
        &self.config
    }

    /// The query the tool runs for `text` in `ctx`.
    pub fn query_for(&self, ctx: &RunContext, text: &str) -> Query {
        let access = Access {
            user_id: ctx.user.id.clone(),
            grants: (self.grants)(ctx),
        };
        let mut query = Query::new(text, access).with_k(self.config.k);
        query.page = page_context(ctx.metadata.get(&self.config.page_metadata_key));
        query
    }

    /// Runs a search for the tool's `arguments` (`{"query": "..."}`).
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] when there is no query string, or the retriever's error.
    pub async fn search(
        &self,
        ctx: &RunContext,
        arguments: &Value,
    ) -> Result<Result<SearchResult, RetrievalError>, ToolError> {
        let text = arguments
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidArguments("`query` must be a string".into()))?;
        let query = self.query_for(ctx, text);
        let started = std::time::Instant::now();
        let outcome = self.retriever.retrieve(&query).await;
        tracing::info!(
            tool.name = %self.config.name,
            user.id = %ctx.user.id,
            retrieval.passages = outcome.as_ref().map_or(0, Vec::len),
            retrieval.ok = outcome.is_ok(),
            duration_ms = started.elapsed().as_millis() as u64,
            "search tool ran"
        );
        Ok(outcome.map(|passages| SearchResult {
            query: text.to_owned(),
            passages,
        }))
    }
}

/// The next free citation number of a run (0 before the first search, read as 1).
#[derive(Debug, Default)]
struct NextCitationNumber(usize);

/// Reserves `count` citation numbers in the run `ctx` belongs to and returns the first: the
/// first search of a run numbers its passages from 1, the next one after the last number the
/// first used, so that `[n]` names one passage however many searches the answer draws on.
pub fn reserve_citation_numbers(ctx: &RunContext, count: usize) -> usize {
    ctx.run_state.with(|next: &mut NextCitationNumber| {
        let first = next.0.max(1);
        next.0 = first + count;
        first
    })
}

/// Reads the page context from the metadata value: a string is the URL; an object may carry
/// `url` (or `path`) and `title`.
fn page_context(value: Option<&Value>) -> Option<PageContext> {
    match value? {
        Value::String(url) if !url.trim().is_empty() => Some(PageContext::url(url.clone())),
        Value::Object(object) => {
            let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
            let page = PageContext {
                url: text("url").or_else(|| text("path")),
                title: text("title"),
            };
            (page.url.is_some() || page.title.is_some()).then_some(page)
        }
        _ => None,
    }
}

/// The message the model reads when a search fails: what happened and what to do, without the
/// service's internals.
pub fn failure_message(error: &RetrievalError) -> String {
    match error {
        RetrievalError::InvalidQuery(reason) => format!("The search was not run: {reason}."),
        RetrievalError::Timeout => "The search service did not answer in time. Answer without \
                                    sources and say so, or suggest trying again."
            .to_owned(),
        _ => "The search service is unavailable right now. Answer without sources and say so."
            .to_owned(),
    }
}

#[async_trait]
impl Tool for SearchTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.config.name.clone(),
            description: self.config.description.clone(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "What to look for, in the user's words or better ones."
                    }
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, ctx: &RunContext, arguments: Value) -> Result<ToolOutput, ToolError> {
        match self.search(ctx, &arguments).await? {
            Ok(result) => {
                let first_number = reserve_citation_numbers(ctx, result.passages.len());
                Ok(ToolOutput::text(result.render_for_model(first_number)))
            }
            Err(error) => {
                tracing::warn!(tool.name = %self.config.name, error.kind = %error, "search failed");
                Ok(ToolOutput::error(failure_message(&error)))
            }
        }
    }
}
