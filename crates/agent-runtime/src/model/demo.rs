//! A scripted, in-process DEMO model: no network, no API key, no intelligence.
//!
//! It exists so that a newcomer running the server without credentials still sees a streamed
//! answer and a tool call in the UI. It is not a test double for real models and must never be
//! configured in production.
//!
//! What it does, in order:
//! - a message about tasks or todos calls a tool named like `add_task` or `list_tasks`, when one
//!   is offered;
//! - a message that reads like a question about the product ("how do I configure JWKS?", see
//!   [`looks_like_a_docs_question`]) calls the *search tool*: the offered tool whose parameters
//!   take a `query` string (one whose name says `search` first). The model knows nothing of how
//!   that tool is built: it sends the user's words as `query`, and reads the result back by the
//!   convention every search tool of this workspace follows, one passage per `[n] Title` line;
//! - after such a search, it answers with the first sentence of each of the first passages,
//!   each followed by its `[n]` marker, so the bridge turns the markers into citations;
//! - after any other tool, it reports the tool's answer; otherwise it echoes the message.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::json;

use crate::error::AgentError;
use crate::model::{
    FinishReason, Message, ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ToolCall,
    Usage,
};

/// The demo model (see the module documentation): answers with canned streamed text and, when
/// the user asks about tasks or todos and a tool like `add_task` or `list_tasks` is offered,
/// calls it.
#[derive(Debug, Clone)]
pub struct DemoModel {
    chunk_delay: Duration,
}

impl Default for DemoModel {
    fn default() -> Self {
        Self {
            chunk_delay: Duration::from_millis(30),
        }
    }
}

impl DemoModel {
    /// A demo model pausing `chunk_delay` between words, so the streaming is visible.
    pub fn new(chunk_delay: Duration) -> Self {
        Self { chunk_delay }
    }

    fn answer(request: &ModelRequest) -> Answer {
        match request.messages.last() {
            Some(Message::Tool {
                call_id, content, ..
            }) => {
                if called_tool(&request.messages, call_id)
                    .is_some_and(|name| search_tool(request).is_some_and(|search| search == name))
                    && let Some(answer) = answer_from_passages(content, &last_question(request))
                {
                    return Answer::Text(answer);
                }
                return Answer::Text(format!("Done. The tool answered: {content}"));
            }
            Some(Message::User { .. }) => {}
            _ => return Answer::Text("This is the demo model. Ask me about your tasks!".into()),
        }
        let text = request
            .messages
            .last()
            .and_then(Message::user_text)
            .unwrap_or_default();
        let lower = text.to_lowercase();
        if lower.contains("task") || lower.contains("todo") {
            let find = |needle: &str| {
                request
                    .tools
                    .iter()
                    .find(|tool| tool.name.contains(needle))
                    .map(|tool| tool.name.clone())
            };
            let wants_new = ["add", "create", "new", "remember"]
                .iter()
                .any(|word| lower.contains(word));
            if wants_new && let Some(name) = find("add_task") {
                return Answer::Tool(name, json!({ "title": text }).to_string());
            }
            if let Some(name) = find("list_tasks") {
                return Answer::Tool(name, "{}".to_owned());
            }
        }
        if looks_like_a_docs_question(&lower)
            && let Some(name) = search_tool(request)
        {
            return Answer::Tool(name.to_owned(), json!({ "query": text }).to_string());
        }
        Answer::Text(format!(
            "Hello from the demo model (no API key is configured, so nothing here is real). \
             You said: {text}"
        ))
    }
}

/// The text of the user's last message.
fn last_question(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find_map(Message::user_text)
        .unwrap_or_default()
}

/// Whether a (lower-cased) message reads like a question about how to use or run the product,
/// the kind the demo answers from the documentation. Deliberately narrow, so that small talk and
/// questions about an attachment ("what is in this picture?") keep their echo.
pub fn looks_like_a_docs_question(lower: &str) -> bool {
    const PHRASES: [&str; 12] = [
        "how do i",
        "how can i",
        "how to ",
        "how does",
        "configure",
        "configuration",
        "set up",
        "deploy",
        "install",
        "documentation",
        "the docs",
        "what is the architecture",
    ];
    PHRASES.iter().any(|phrase| lower.contains(phrase))
}

/// The name of the offered search tool: a tool whose parameters take a `query` string, one
/// whose name says `search` preferred.
fn search_tool(request: &ModelRequest) -> Option<&str> {
    let takes_query = |parameters: &serde_json::Value| {
        parameters["properties"]["query"]["type"].as_str() == Some("string")
    };
    let candidates = || {
        request
            .tools
            .iter()
            .filter(|tool| takes_query(&tool.parameters))
    };
    candidates()
        .find(|tool| tool.name.to_lowercase().contains("search"))
        .or_else(|| candidates().next())
        .map(|tool| tool.name.as_str())
}

/// The name of the tool the call `call_id` went to.
fn called_tool<'a>(messages: &'a [Message], call_id: &str) -> Option<&'a str> {
    messages.iter().rev().find_map(|message| match message {
        Message::Assistant { tool_calls, .. } => tool_calls
            .iter()
            .find(|call| call.id == call_id)
            .map(|call| call.name.as_str()),
        _ => None,
    })
}

/// Passages the demo quotes at most.
const QUOTED_PASSAGES: usize = 2;
/// Characters of a passage the demo quotes at most.
const QUOTE_CHARS: usize = 240;

/// An answer quoting, from each of the first passages of a search result, the sentence (or table
/// row) that shares most words with `question`, cited with the passage's number; `None` when the
/// result holds no numbered passage (nothing matched, or the search failed).
///
/// The result is read by convention: a passage starts with a line `[n] Title`, then a `Source:`
/// line, then its text up to the next `[n] Title` line; the closing `Cite the passages...`
/// instruction is no passage's text.
fn answer_from_passages(result: &str, question: &str) -> Option<String> {
    let mut passages: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in result.lines() {
        if let Some((number, _title)) = numbered_line(line) {
            passages.push((number, Vec::new()));
        } else if let Some((_, lines)) = passages.last_mut()
            && !line.starts_with("Source: ")
            && !line.starts_with("Cite the passages")
        {
            lines.push(line);
        }
    }
    if passages.is_empty() {
        return None;
    }
    let terms = question_terms(question);
    let mut answer = "Here is what the documentation says (the demo model quotes the search \
                      results; it does not understand them):"
        .to_owned();
    for (number, lines) in passages.into_iter().take(QUOTED_PASSAGES) {
        let quoted = best_unit(&lines, &terms);
        if !quoted.is_empty() {
            answer.push_str(&format!("\n\n{quoted} [{number}]"));
        }
    }
    Some(answer)
}

/// `[n] Title` → (`n`, `Title`).
fn numbered_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (number, title) = rest.split_once("] ")?;
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then_some((number, title))
}

/// The words of a question worth looking for (lower case, three letters or more, not the
/// question's own phrasing).
fn question_terms(question: &str) -> Vec<String> {
    const COMMON: [&str; 16] = [
        "how",
        "the",
        "and",
        "can",
        "what",
        "does",
        "for",
        "with",
        "you",
        "are",
        "use",
        "set",
        "configure",
        "this",
        "that",
        "there",
    ];
    let mut terms: Vec<String> = question
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|word| word.chars().count() >= 3 && !COMMON.contains(word))
        .map(str::to_owned)
        .collect();
    terms.dedup();
    terms
}

/// The sentence or table row of a passage sharing most `terms` (prose before code, the first on
/// a tie), as plain text of at most [`QUOTE_CHARS`]. Each line of a passage is a block: a
/// paragraph, a table row (cells separated by `|`), a line of code.
fn best_unit(lines: &[&str], terms: &[String]) -> String {
    // (text, reads as prose)
    let mut units: Vec<(String, bool)> = Vec::new();
    for line in lines {
        let line = line.trim();
        if line.contains(" | ") || line.starts_with('|') {
            let cells: Vec<&str> = line
                .split('|')
                .map(str::trim)
                .filter(|cell| !cell.is_empty() && !cell.chars().all(|c| matches!(c, '-' | ':')))
                .collect();
            if !cells.is_empty() {
                units.push((cells.join(" — "), true));
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with("```") {
            continue;
        }
        for sentence in line.split_inclusive(". ").map(str::trim) {
            let prose = sentence.ends_with(['.', ':', '?', '!']);
            units.push((sentence.to_owned(), prose));
        }
    }
    let score = |(unit, prose): &(String, bool)| {
        let lower = unit.to_lowercase();
        let found = terms
            .iter()
            .filter(|term| lower.contains(term.as_str()))
            .count();
        (found, *prose)
    };
    let best = units
        .iter()
        .enumerate()
        .max_by_key(|(position, unit)| (score(unit), std::cmp::Reverse(*position)))
        .map(|(_, (unit, _))| unit.as_str())
        .unwrap_or_default();
    plain(best)
}

/// A quote as plain text: at most [`QUOTE_CHARS`], no brackets that would read as citation
/// markers, and backticks only in pairs (an unpaired one would put the marker after it "in
/// code").
fn plain(text: &str) -> String {
    let flat = text.replace(['[', ']'], "");
    let mut quoted: String = flat.chars().take(QUOTE_CHARS).collect();
    if flat.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    if quoted.matches('`').count() % 2 == 1 {
        quoted.retain(|c| c != '`');
    }
    quoted.trim().to_owned()
}

enum Answer {
    Text(String),
    Tool(String, String),
}

#[async_trait]
impl ModelProvider for DemoModel {
    fn model_name(&self) -> &str {
        "demo"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        let events: Vec<ModelEvent> = match Self::answer(&request) {
            Answer::Text(text) => {
                let mut events: Vec<ModelEvent> = text
                    .split_inclusive(' ')
                    .map(|word| ModelEvent::TextDelta(word.to_owned()))
                    .collect();
                events.push(ModelEvent::Usage(Usage::default()));
                events.push(ModelEvent::Finished(FinishReason::Stop));
                events
            }
            Answer::Tool(name, arguments) => vec![
                ModelEvent::ToolCall(ToolCall {
                    id: format!("call_demo_{}", request.messages.len()),
                    name,
                    arguments,
                }),
                ModelEvent::Finished(FinishReason::ToolCalls),
            ],
        };
        let delay = self.chunk_delay;
        Ok(Box::pin(futures::stream::iter(events).then(
            move |event| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(event)
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolDefinition;

    fn tool(name: &str, parameters: serde_json::Value) -> ToolDefinition {
        ToolDefinition {
            name: name.to_owned(),
            description: String::new(),
            parameters,
        }
    }

    fn request(messages: Vec<Message>) -> ModelRequest {
        let query = json!({"type": "object", "properties": {"query": {"type": "string"}}});
        ModelRequest {
            messages,
            tools: vec![
                tool("lookup", query.clone()),
                tool("search_documentation", query),
                tool("list_tasks", json!({"type": "object", "properties": {}})),
            ],
            settings: crate::model::ModelSettings::default(),
        }
    }

    const RESULT: &str = "Passages for \"configure jwks\":\n\n\
        [4] Configuration — auth\nSource: /docs/CONFIGURATION.md\n\
        Keys are cached. Set `jwks_url` to the JWKS endpoint of your identity provider. More.\n\n\
        [5] Deployment\nSource: /docs/DEPLOYMENT.md\n| key | meaning |\n|---|---|\n\
        | `jwks_url` | [the] JWKS endpoint |\n\n\
        [6] Testing\nSource: /docs/TESTING.md\nNot quoted.\n\n\
        Cite the passages you use inline with their numbers in square brackets.";

    #[test]
    fn a_docs_question_searches_then_quotes_the_passages_with_their_numbers() {
        let question = Message::user("How do I configure JWKS?");
        let Answer::Tool(name, arguments) = DemoModel::answer(&request(vec![question.clone()]))
        else {
            panic!("a search");
        };
        assert_eq!(name, "search_documentation", "a name saying search wins");
        assert_eq!(
            arguments,
            json!({"query": "How do I configure JWKS?"}).to_string()
        );

        let call = Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name,
                arguments,
            }],
        };
        let result = Message::tool_result("c1", RESULT);
        let Answer::Text(text) = DemoModel::answer(&request(vec![question, call, result])) else {
            panic!("an answer");
        };
        assert!(
            text.contains(
                "\n\nSet `jwks_url` to the JWKS endpoint of your identity provider. [4]\n\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\n\n`jwks_url` — the JWKS endpoint [5]"),
            "{text}"
        );
        assert!(!text.contains("[6]"), "{text}");
    }

    #[test]
    fn other_messages_and_other_tools_keep_their_behaviour() {
        let Answer::Text(echo) =
            DemoModel::answer(&request(vec![Message::user("What is in this picture?")]))
        else {
            panic!("an echo");
        };
        assert!(echo.contains("You said: What is in this picture?"));
        assert!(matches!(
            DemoModel::answer(&request(vec![Message::user("list my tasks")])),
            Answer::Tool(name, _) if name == "list_tasks"
        ));
        // Without a search tool, the question is echoed.
        let mut bare = request(vec![Message::user("how do I deploy?")]);
        bare.tools.clear();
        assert!(matches!(DemoModel::answer(&bare), Answer::Text(_)));
        // A search that found nothing is reported as a tool answer.
        let call = Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c2".into(),
                name: "search_documentation".into(),
                arguments: "{}".into(),
            }],
        };
        let nothing = Message::tool_result("c2", "No passages matched \"x\".");
        let Answer::Text(text) =
            DemoModel::answer(&request(vec![Message::user("how to x"), call, nothing]))
        else {
            panic!("an answer");
        };
        assert!(
            text.starts_with("Done. The tool answered: No passages"),
            "{text}"
        );
    }
}
