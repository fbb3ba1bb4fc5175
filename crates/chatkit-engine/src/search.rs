//! The retrieval crate's search tool, speaking ChatKit: the client sees a search task with the
//! query while it runs and the sources it found when done, and the sources are recorded with
//! the numbers the model cites them by.
//!
//! It lives here, not in `retrieval`, because the dependency is one-way: retrieval knows the
//! agent runtime and the protocol's types, the engine knows retrieval (behind the `retrieval`
//! feature), never the reverse.

use agent_runtime::{RunContext, Tool, ToolDefinition, ToolError, ToolOutput};
use async_trait::async_trait;
use chatkit_protocol::items::{FileSourceTagged, StatusIndicator, UrlSourceTagged};
use chatkit_protocol::{Source, Task};
use retrieval::{SearchResult, SearchTool, failure_message, reserve_citation_numbers};
use serde_json::Value;

use crate::ChatKitToolContext;

/// A [`SearchTool`] whose calls show a search task and record their sources for citations.
///
/// The task is the reference's: a `web_search` task (`title_query` and `queries` hold the query;
/// its URL sources appear when the search is done), or a `file` task when every passage found
/// is a file. Outside a ChatKit run (no tool call context) it answers like the plain tool.
#[derive(Debug, Clone)]
pub struct ChatKitSearchTool {
    inner: SearchTool,
}

impl ChatKitSearchTool {
    /// Wraps `tool`.
    pub fn new(tool: SearchTool) -> Self {
        Self { inner: tool }
    }

    /// The wrapped tool.
    pub fn inner(&self) -> &SearchTool {
        &self.inner
    }
}

/// The task a search shows: loading while `result` is `None`, complete with its sources after.
pub fn search_task(query: &str, result: Option<&SearchResult>) -> Task {
    // Several passages often come from one section of one page: the task lists each source once
    // (the citations keep one number per passage).
    let mut sources: Vec<Source> = Vec::new();
    for source in result.map(SearchResult::sources).unwrap_or_default() {
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let status_indicator = if result.is_some() {
        StatusIndicator::Complete
    } else {
        StatusIndicator::Loading
    };
    let only_files = !sources.is_empty()
        && sources
            .iter()
            .all(|source| matches!(source, Source::File(_)));
    if only_files {
        return Task::File {
            status_indicator,
            title: Some(format!("Searched for “{query}”")),
            sources: sources
                .into_iter()
                .filter_map(|source| match source {
                    Source::File(source) => Some(FileSourceTagged { source }),
                    _ => None,
                })
                .collect(),
        };
    }
    Task::WebSearch {
        status_indicator,
        title: None,
        title_query: Some(query.to_owned()),
        queries: vec![query.to_owned()],
        sources: sources
            .into_iter()
            .filter_map(|source| match source {
                Source::Url(source) => Some(UrlSourceTagged { source }),
                _ => None,
            })
            .collect(),
    }
}

#[async_trait]
impl Tool for ChatKitSearchTool {
    fn definition(&self) -> ToolDefinition {
        self.inner.definition()
    }

    async fn call(&self, ctx: &RunContext, arguments: Value) -> Result<ToolOutput, ToolError> {
        let Some(chatkit) = ChatKitToolContext::of(ctx) else {
            return self.inner.call(ctx, arguments).await;
        };
        let query = arguments
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        // What the client sees is best effort: a client that left does not stop the answer the
        // model is waiting for.
        let shown = chatkit
            .add_workflow_task(search_task(&query, None))
            .await
            .is_ok();
        let outcome = self.inner.search(ctx, &arguments).await;
        let result = match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => {
                if shown {
                    let _ = chatkit
                        .update_last_task(search_task(
                            &query,
                            Some(&SearchResult {
                                query: query.clone(),
                                passages: Vec::new(),
                            }),
                        ))
                        .await;
                }
                tracing::warn!(tool.name = %self.inner.config().name, error.kind = %error, "search failed");
                return Ok(ToolOutput::error(failure_message(&error)));
            }
            Err(error) => return Err(error),
        };
        let first_number = reserve_citation_numbers(ctx, result.passages.len());
        if shown {
            let _ = chatkit
                .update_last_task(search_task(&query, Some(&result)))
                .await;
        }
        if !result.passages.is_empty() {
            let _ = chatkit
                .add_numbered_sources(result.sources(), first_number)
                .await;
        }
        Ok(ToolOutput::text(result.render_for_model(first_number)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrieval::{Passage, PassageSource, SourceLocation, Visibility};

    fn passage(id: &str, anchor: &str) -> Passage {
        Passage {
            id: id.to_owned(),
            text: format!("text of {id}"),
            score: 1.0,
            source: PassageSource {
                title: "Configuration".to_owned(),
                location: SourceLocation::Url(format!("https://docs.example/config#{anchor}")),
                section: Some(format!("Configuration > {anchor}")),
                anchor: Some(anchor.to_owned()),
                metadata: Default::default(),
            },
            visibility: Visibility::Public,
        }
    }

    #[test]
    fn a_search_task_lists_a_source_once_however_many_of_its_passages_were_found() {
        let result = SearchResult {
            query: "jwks".to_owned(),
            passages: vec![
                passage("config#1", "auth"),
                passage("config#2", "auth"),
                passage("config#3", "retrieval"),
            ],
        };
        let Task::WebSearch { sources, .. } = search_task("jwks", Some(&result)) else {
            panic!("URL sources make a web search task");
        };
        let urls: Vec<&str> = sources.iter().map(|s| s.source.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://docs.example/config#auth",
                "https://docs.example/config#retrieval"
            ]
        );
        // The citations still number every passage.
        assert_eq!(result.sources().len(), 3);
    }
}
