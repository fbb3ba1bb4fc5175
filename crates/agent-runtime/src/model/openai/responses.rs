//! The OpenAI Responses API provider (`POST /responses` with `stream: true`).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{OpenAiConfig, Transport, WireParser, merge_extra_body};
use crate::error::AgentError;
use crate::model::{
    AnnotationSource, FinishReason, HostedTool, HostedToolEvent, HostedToolKind, Message,
    ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ReasoningItem, SearchKind,
    SearchSource, TextAnnotation, ToolCall, ToolChoice, Usage, UserContent, resolve_first_event,
};

/// A model behind the OpenAI Responses API.
///
/// Requests are stateless (`store: false` unless the settings say otherwise): the whole
/// conversation is sent every turn, exactly as with Chat Completions, so both providers are
/// interchangeable under the agent loop. Reasoning items the run kept are sent back with it.
/// Hosted tools (web search, file search, image generation) are passed through as tool specs and
/// their progress comes back as [`ModelEvent::HostedTool`].
#[derive(Clone)]
pub struct OpenAiResponsesProvider {
    transport: Transport,
    model: String,
}

impl std::fmt::Debug for OpenAiResponsesProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiResponsesProvider")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiResponsesProvider {
    /// Builds the provider; fails when the config cannot produce valid HTTP requests.
    pub fn new(config: OpenAiConfig) -> Result<Self, AgentError> {
        Ok(Self {
            transport: Transport::new(&config, "responses")?,
            model: config.model,
        })
    }

    fn request_body(&self, request: &ModelRequest) -> Value {
        let mut input = Vec::new();
        for message in &request.messages {
            push_input_items(message, &mut input);
        }
        let mut body = Map::new();
        body.insert(
            "model".to_owned(),
            json!(request.settings.model.as_deref().unwrap_or(&self.model)),
        );
        body.insert("input".to_owned(), Value::Array(input));
        body.insert("stream".to_owned(), json!(true));
        let settings = &request.settings;
        body.insert("store".to_owned(), json!(settings.store.unwrap_or(false)));
        if let Some(temperature) = settings.temperature {
            body.insert("temperature".to_owned(), json!(temperature));
        }
        if let Some(top_p) = settings.top_p {
            body.insert("top_p".to_owned(), json!(top_p));
        }
        if let Some(max_tokens) = settings.max_tokens {
            body.insert("max_output_tokens".to_owned(), json!(max_tokens));
        }
        if let Some(reasoning) = &settings.reasoning {
            let mut wire = Map::new();
            if let Some(effort) = reasoning.effort {
                wire.insert("effort".to_owned(), json!(effort.as_str()));
            }
            if let Some(summary) = reasoning.summary {
                wire.insert("summary".to_owned(), json!(summary.as_str()));
            }
            body.insert("reasoning".to_owned(), Value::Object(wire));
        }
        if !settings.metadata.is_empty() {
            body.insert("metadata".to_owned(), json!(settings.metadata));
        }
        if let Some(schema) = &settings.output_schema {
            body.insert(
                "text".to_owned(),
                json!({"format": {
                    "type": "json_schema",
                    "name": schema.name(),
                    "schema": schema.schema(),
                    "strict": schema.strict(),
                }}),
            );
        }
        let mut include: Vec<&str> = settings.include.iter().map(String::as_str).collect();
        // The sources are what a search shows its user; without these the vendor leaves them out.
        for hosted in &settings.hosted_tools {
            let needed = match hosted.kind() {
                HostedToolKind::WebSearch => Some("web_search_call.action.sources"),
                HostedToolKind::FileSearch => Some("file_search_call.results"),
                _ => None,
            };
            if let Some(needed) = needed
                && !include.contains(&needed)
            {
                include.push(needed);
            }
        }
        if !include.is_empty() {
            body.insert("include".to_owned(), json!(include));
        }
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                    "strict": false,
                })
            })
            .collect();
        tools.extend(settings.hosted_tools.iter().map(HostedTool::to_wire));
        if !tools.is_empty() {
            body.insert("tools".to_owned(), Value::Array(tools));
            if let Some(choice) = &settings.tool_choice {
                let choice = match choice {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Named(name) => json!({"type": "function", "name": name}),
                };
                body.insert("tool_choice".to_owned(), choice);
            }
            if let Some(parallel) = settings.parallel_tool_calls {
                body.insert("parallel_tool_calls".to_owned(), json!(parallel));
            }
        }
        merge_extra_body(&mut body, &settings.extra_body);
        Value::Object(body)
    }
}

fn push_input_items(message: &Message, input: &mut Vec<Value>) {
    match message {
        Message::System { content } => {
            input.push(json!({"type": "message", "role": "system", "content": content}));
        }
        Message::User { content } => {
            let parts: Vec<Value> = content
                .iter()
                .map(|part| match part {
                    UserContent::Text { text } => json!({"type": "input_text", "text": text}),
                    UserContent::Image { url, detail } => json!({
                        "type": "input_image",
                        "image_url": url,
                        "detail": detail.as_deref().unwrap_or("auto"),
                    }),
                })
                .collect();
            input.push(json!({"type": "message", "role": "user", "content": parts}));
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            if let Some(text) = content.as_ref().filter(|text| !text.is_empty()) {
                input.push(json!({
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }));
            }
            for call in tool_calls {
                input.push(json!({
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }));
            }
        }
        Message::Tool {
            call_id, content, ..
        } => {
            input.push(
                json!({"type": "function_call_output", "call_id": call_id, "output": content}),
            );
        }
        Message::Reasoning(item) => {
            let summary: Vec<Value> = item
                .summary
                .iter()
                .map(|text| json!({"type": "summary_text", "text": text}))
                .collect();
            let mut wire = json!({"type": "reasoning", "id": item.id, "summary": summary});
            if let Some(encrypted) = &item.encrypted_content {
                wire["encrypted_content"] = json!(encrypted);
            }
            input.push(wire);
        }
    }
}

#[async_trait]
impl ModelProvider for OpenAiResponsesProvider {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        let body = self.request_body(&request);
        tracing::debug!(
            model.name = %self.model,
            request.messages = request.messages.len(),
            request.tools = request.tools.len(),
            "starting responses stream"
        );
        let stream = self
            .transport
            .clone()
            .stream(body, ResponsesParser::default);
        resolve_first_event(stream).await
    }
}

#[derive(Debug, Default)]
struct PendingFunctionCall {
    call_id: String,
    name: String,
    arguments: String,
    reported: bool,
}

/// The Responses API stream parser: turns its events into normalized events. Function calls are
/// keyed by their `output_index`, which every related event carries.
///
/// Public, like [`ChatCompletionsParser`](super::ChatCompletionsParser), so a recorded stream can
/// be replayed through it (and fuzzed) without a network.
#[derive(Debug, Default)]
pub struct ResponsesParser {
    calls: BTreeMap<u64, PendingFunctionCall>,
    /// Hosted tool calls whose start was reported, so each starts exactly once even from a
    /// server that sends only the finished item.
    hosted_started: BTreeSet<String>,
}

fn text_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A non-empty string field, if there is one.
fn optional_text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The elements of an array field; none when it is missing or not an array.
fn elements<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The strings of an array field (other elements skipped).
fn strings(value: &Value, key: &str) -> Vec<String> {
    elements(value, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The queries and sources of a finished `web_search_call` (its `action` of type `search`:
/// `query`, or `queries` on newer models, and `sources` when included).
fn web_search_findings(item: &Value) -> (Vec<String>, Vec<SearchSource>) {
    let action = item.get("action").unwrap_or(&Value::Null);
    let mut queries = strings(action, "queries");
    if let Some(query) = optional_text(action, "query")
        && !queries.contains(&query)
    {
        queries.insert(0, query);
    }
    let sources = elements(action, "sources")
        .iter()
        .filter_map(|source| optional_text(source, "url"))
        .map(|url| SearchSource::Url { url })
        .collect();
    (queries, sources)
}

/// The queries and matched files of a finished `file_search_call` (`results` when included),
/// each file once.
fn file_search_findings(item: &Value) -> (Vec<String>, Vec<SearchSource>) {
    let queries = strings(item, "queries");
    let mut sources: Vec<SearchSource> = Vec::new();
    for result in elements(item, "results") {
        let file_id = text_field(result, "file_id").to_owned();
        let filename = text_field(result, "filename").to_owned();
        if file_id.is_empty() && filename.is_empty() {
            continue;
        }
        let source = SearchSource::File { file_id, filename };
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    (queries, sources)
}

/// A citation from an `output_text` annotation: `url_citation` (cited span `start_index` to
/// `end_index`) and `file_citation` (at `index`). Other kinds (`container_file_citation`,
/// `file_path`) cite nothing a user can open and are skipped.
fn annotation_from(value: &Value) -> Option<TextAnnotation> {
    let index = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|index| usize::try_from(index).ok())
    };
    match value.get("type").and_then(Value::as_str)? {
        "url_citation" => Some(TextAnnotation {
            index: index("end_index")?,
            source: AnnotationSource::Url {
                url: text_field(value, "url").to_owned(),
                title: text_field(value, "title").to_owned(),
            },
        }),
        "file_citation" => Some(TextAnnotation {
            index: index("index")?,
            source: AnnotationSource::File {
                file_id: text_field(value, "file_id").to_owned(),
                filename: text_field(value, "filename").to_owned(),
            },
        }),
        _ => None,
    }
}

fn error_from(value: &Value) -> AgentError {
    let code = value
        .get("code")
        .and_then(|code| match code {
            Value::String(code) => Some(code.clone()),
            Value::Number(code) => Some(code.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".to_owned());
    AgentError::Model {
        code,
        message: text_field(value, "message").to_owned(),
    }
}

impl ResponsesParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one server-sent event (its `event:` name, possibly empty, and its `data`),
    /// appending what it means to `out`. Returns true once the response is complete.
    pub fn push_event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<bool, AgentError> {
        self.on_event(event, data, out)
    }

    /// Handles the end of the body before the response completed: always an interrupted stream.
    pub fn end(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), AgentError> {
        self.on_end(out)
    }

    /// Reports `start` for hosted call `call_id` unless its start was reported already.
    fn hosted_started(&mut self, call_id: &str, start: HostedToolEvent, out: &mut Vec<ModelEvent>) {
        if self.hosted_started.insert(call_id.to_owned()) {
            out.push(ModelEvent::HostedTool(start));
        }
    }

    fn hosted_item_added(&mut self, item: &Value, out: &mut Vec<ModelEvent>) {
        let call_id = text_field(item, "id").to_owned();
        if call_id.is_empty() {
            return;
        }
        let start = match text_field(item, "type") {
            "web_search_call" => HostedToolEvent::SearchStarted {
                call_id: call_id.clone(),
                kind: SearchKind::Web,
            },
            "file_search_call" => HostedToolEvent::SearchStarted {
                call_id: call_id.clone(),
                kind: SearchKind::File,
            },
            "image_generation_call" => HostedToolEvent::ImageStarted {
                call_id: call_id.clone(),
            },
            _ => return,
        };
        self.hosted_started(&call_id, start, out);
    }

    /// A finished output item other than a function call: a reasoning item to keep, or the end
    /// of a hosted tool call.
    fn item_done(&mut self, item: &Value, out: &mut Vec<ModelEvent>) {
        let id = text_field(item, "id").to_owned();
        let kind = text_field(item, "type");
        if id.is_empty() {
            return;
        }
        let failed = text_field(item, "status") == "failed";
        match kind {
            "reasoning" => {
                let summary = elements(item, "summary")
                    .iter()
                    .map(|part| text_field(part, "text").to_owned())
                    .collect();
                out.push(ModelEvent::ReasoningItem(ReasoningItem {
                    id,
                    summary,
                    encrypted_content: optional_text(item, "encrypted_content"),
                }));
            }
            "web_search_call" | "file_search_call" => {
                let search = if kind == "web_search_call" {
                    SearchKind::Web
                } else {
                    SearchKind::File
                };
                self.hosted_started(
                    &id,
                    HostedToolEvent::SearchStarted {
                        call_id: id.clone(),
                        kind: search,
                    },
                    out,
                );
                let (queries, sources) = match search {
                    SearchKind::Web => web_search_findings(item),
                    _ => file_search_findings(item),
                };
                out.push(ModelEvent::HostedTool(HostedToolEvent::SearchFinished {
                    call_id: id,
                    kind: search,
                    queries,
                    sources,
                    failed,
                }));
            }
            "image_generation_call" => {
                self.hosted_started(
                    &id,
                    HostedToolEvent::ImageStarted {
                        call_id: id.clone(),
                    },
                    out,
                );
                out.push(ModelEvent::HostedTool(HostedToolEvent::ImageFinished {
                    call_id: id,
                    image_base64: optional_text(item, "result").filter(|_| !failed),
                    output_format: optional_text(item, "output_format"),
                }));
            }
            _ => {}
        }
    }

    fn report_call(&mut self, output_index: u64, out: &mut Vec<ModelEvent>) {
        if let Some(call) = self.calls.get_mut(&output_index)
            && !call.reported
        {
            call.reported = true;
            out.push(ModelEvent::ToolCall(ToolCall {
                id: call.call_id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            }));
        }
    }

    fn finish(&mut self, response: &Value, out: &mut Vec<ModelEvent>, reason: FinishReason) {
        let indexes: Vec<u64> = self.calls.keys().copied().collect();
        for index in indexes {
            self.report_call(index, out);
        }
        if let Some(usage) = response.get("usage").filter(|usage| usage.is_object()) {
            let number = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
            let (input_tokens, output_tokens) = (number("input_tokens"), number("output_tokens"));
            let total_tokens = usage
                .get("total_tokens")
                .and_then(Value::as_u64)
                // Off the wire: saturate rather than overflow (found by fuzzing).
                .unwrap_or(input_tokens.saturating_add(output_tokens));
            out.push(ModelEvent::Usage(Usage {
                input_tokens,
                output_tokens,
                total_tokens,
            }));
        }
        let reason = match reason {
            FinishReason::Stop if !self.calls.is_empty() => FinishReason::ToolCalls,
            other => other,
        };
        out.push(ModelEvent::Finished(reason));
    }
}

impl WireParser for ResponsesParser {
    fn on_event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<bool, AgentError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|error| AgentError::Protocol(format!("responses event: {error}")))?;
        // The `type` inside the data is authoritative; the SSE event name is the same string on
        // OpenAI but missing on some compatible servers.
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event)
            .to_owned();
        let output_index = value.get("output_index").and_then(Value::as_u64);
        match kind.as_str() {
            "response.output_text.delta" | "response.refusal.delta" => {
                let delta = text_field(&value, "delta");
                if !delta.is_empty() {
                    out.push(ModelEvent::TextDelta(delta.to_owned()));
                }
            }
            "response.output_text.annotation.added" => {
                if let Some(annotation) = value.get("annotation").and_then(annotation_from) {
                    out.push(ModelEvent::Annotation(annotation));
                }
            }
            // A summary in several parts reads as paragraphs of one thought.
            "response.reasoning_summary_part.added"
                if value.get("summary_index").and_then(Value::as_u64) > Some(0) =>
            {
                out.push(ModelEvent::ReasoningDelta("\n\n".to_owned()));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let delta = text_field(&value, "delta");
                if !delta.is_empty() {
                    out.push(ModelEvent::ReasoningDelta(delta.to_owned()));
                }
            }
            "response.output_item.added" => {
                let item = value.get("item").unwrap_or(&Value::Null);
                self.hosted_item_added(item, out);
                if text_field(item, "type") == "function_call"
                    && let Some(index) = output_index
                {
                    let call = PendingFunctionCall {
                        call_id: text_field(item, "call_id").to_owned(),
                        name: text_field(item, "name").to_owned(),
                        arguments: text_field(item, "arguments").to_owned(),
                        reported: false,
                    };
                    out.push(ModelEvent::ToolCallDelta {
                        index: usize::try_from(index).unwrap_or(usize::MAX),
                        id: Some(call.call_id.clone()),
                        name: Some(call.name.clone()),
                        arguments_delta: call.arguments.clone(),
                    });
                    self.calls.insert(index, call);
                }
            }
            "response.function_call_arguments.delta" => {
                let delta = text_field(&value, "delta");
                if let Some(index) = output_index
                    && let Some(call) = self.calls.get_mut(&index)
                {
                    call.arguments.push_str(delta);
                    out.push(ModelEvent::ToolCallDelta {
                        index: usize::try_from(index).unwrap_or(usize::MAX),
                        id: None,
                        name: None,
                        arguments_delta: delta.to_owned(),
                    });
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(index) = output_index
                    && let Some(call) = self.calls.get_mut(&index)
                    && let Some(arguments) = value.get("arguments").and_then(Value::as_str)
                {
                    arguments.clone_into(&mut call.arguments);
                }
            }
            "response.image_generation_call.partial_image" => {
                let call_id = text_field(&value, "item_id").to_owned();
                let image_base64 = text_field(&value, "partial_image_b64").to_owned();
                if !call_id.is_empty() && !image_base64.is_empty() {
                    self.hosted_started(
                        &call_id,
                        HostedToolEvent::ImageStarted {
                            call_id: call_id.clone(),
                        },
                        out,
                    );
                    out.push(ModelEvent::HostedTool(HostedToolEvent::ImagePartial {
                        index: value
                            .get("partial_image_index")
                            .and_then(Value::as_u64)
                            .and_then(|index| u32::try_from(index).ok())
                            .unwrap_or(0),
                        call_id,
                        image_base64,
                        output_format: optional_text(&value, "output_format"),
                    }));
                }
            }
            "response.output_item.done" => {
                let item = value.get("item").unwrap_or(&Value::Null);
                self.item_done(item, out);
                if text_field(item, "type") == "function_call"
                    && let Some(index) = output_index
                {
                    // The finished item is authoritative, and covers servers that skip deltas.
                    let call = self.calls.entry(index).or_default();
                    for (field, key) in [
                        (&mut call.call_id, "call_id"),
                        (&mut call.name, "name"),
                        (&mut call.arguments, "arguments"),
                    ] {
                        if let Some(text) = item.get(key).and_then(Value::as_str) {
                            text.clone_into(field);
                        }
                    }
                    self.report_call(index, out);
                }
            }
            "response.completed" => {
                let response = value.get("response").unwrap_or(&Value::Null);
                self.finish(response, out, FinishReason::Stop);
                return Ok(true);
            }
            "response.incomplete" => {
                let response = value.get("response").unwrap_or(&Value::Null);
                let reason = response
                    .get("incomplete_details")
                    .map(|details| text_field(details, "reason"))
                    .unwrap_or_default();
                let reason = match reason {
                    "max_output_tokens" => FinishReason::Length,
                    "content_filter" => FinishReason::ContentFilter,
                    other => FinishReason::Other(other.to_owned()),
                };
                self.finish(response, out, reason);
                return Ok(true);
            }
            "response.failed" => {
                let error = value
                    .get("response")
                    .and_then(|response| response.get("error"))
                    .unwrap_or(&Value::Null);
                return Err(error_from(error));
            }
            "error" => return Err(error_from(&value)),
            _ => {}
        }
        Ok(false)
    }

    fn on_end(&mut self, _out: &mut Vec<ModelEvent>) -> Result<(), AgentError> {
        Err(AgentError::StreamInterrupted(
            "the connection closed before the response completed".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_usage_counts_saturate_instead_of_overflowing() {
        let mut parser = ResponsesParser::new();
        let mut out = Vec::new();
        let done = parser
            .push_event(
                "",
                r#"{"type":"response.completed","response":{"usage":{"input_tokens":18446744073709551615,"output_tokens":9}}}"#,
                &mut out,
            )
            .expect("completes");
        assert!(done);
        assert!(
            out.iter().any(|event| matches!(
                event,
                ModelEvent::Usage(Usage {
                    total_tokens: u64::MAX,
                    ..
                })
            )),
            "{out:?}"
        );
    }

    #[test]
    fn failed_responses_carry_the_vendor_error() {
        let mut parser = ResponsesParser::default();
        let result = parser.on_event(
            "response.failed",
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}"#,
            &mut Vec::new(),
        );
        assert_eq!(
            result,
            Err(AgentError::Model {
                code: "server_error".to_owned(),
                message: "boom".to_owned()
            })
        );
    }

    #[test]
    fn summary_parts_after_the_first_start_a_new_paragraph() {
        let mut parser = ResponsesParser::new();
        let mut out = Vec::new();
        for data in [
            r#"{"type":"response.reasoning_summary_part.added","item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":0,"delta":"One."}"#,
            r#"{"type":"response.reasoning_summary_part.added","item_id":"rs_1","output_index":0,"summary_index":1,"part":{"type":"summary_text","text":""}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":1,"delta":"Two."}"#,
        ] {
            parser.push_event("", data, &mut out).expect("valid event");
        }
        let text: String = out
            .iter()
            .filter_map(|event| match event {
                ModelEvent::ReasoningDelta(delta) => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "One.\n\nTwo.");
    }

    #[test]
    fn incomplete_responses_finish_with_length() {
        let mut parser = ResponsesParser::default();
        let mut out = Vec::new();
        let done = parser
            .on_event(
                "response.incomplete",
                r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}}"#,
                &mut out,
            )
            .expect("valid event");
        assert!(done);
        assert_eq!(out, vec![ModelEvent::Finished(FinishReason::Length)]);
    }
}
