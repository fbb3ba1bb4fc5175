//! The OpenAI Chat Completions provider (`POST /chat/completions` with `stream: true`).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{OpenAiConfig, Transport, WireParser, merge_extra_body};
use crate::error::AgentError;
use crate::model::{
    FinishReason, Message, ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ToolCall,
    ToolChoice, Usage, UserContent, resolve_first_event,
};

/// A model behind an OpenAI-compatible Chat Completions endpoint (OpenAI, Azure OpenAI, vLLM,
/// Ollama, OpenRouter, LiteLLM...).
///
/// Tolerates the usual deviations of compatible servers: a first chunk with no choices, chunks
/// without a `delta`, whole tool calls in one chunk, tool-call deltas without an `index`, a
/// `finish_reason` of `stop` for an answer with tool calls, and reasoning text in either
/// `reasoning` or `reasoning_content`.
#[derive(Clone)]
pub struct OpenAiChatProvider {
    transport: Transport,
    model: String,
    legacy_max_tokens_field: bool,
}

impl std::fmt::Debug for OpenAiChatProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiChatProvider")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiChatProvider {
    /// Builds the provider; fails when the config cannot produce valid HTTP requests.
    pub fn new(config: OpenAiConfig) -> Result<Self, AgentError> {
        Ok(Self {
            transport: Transport::new(&config, "chat/completions")?,
            model: config.model,
            legacy_max_tokens_field: config.legacy_max_tokens_field,
        })
    }

    fn request_body(&self, request: &ModelRequest) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter_map(message_to_wire)
            .collect();
        let mut body = Map::new();
        body.insert(
            "model".to_owned(),
            json!(request.settings.model.as_deref().unwrap_or(&self.model)),
        );
        body.insert("messages".to_owned(), Value::Array(messages));
        body.insert("stream".to_owned(), json!(true));
        body.insert("stream_options".to_owned(), json!({"include_usage": true}));
        let settings = &request.settings;
        if let Some(temperature) = settings.temperature {
            body.insert("temperature".to_owned(), json!(temperature));
        }
        if let Some(top_p) = settings.top_p {
            body.insert("top_p".to_owned(), json!(top_p));
        }
        if !settings.stop.is_empty() {
            body.insert("stop".to_owned(), json!(settings.stop));
        }
        if let Some(seed) = settings.seed {
            body.insert("seed".to_owned(), json!(seed));
        }
        if let Some(effort) = settings.reasoning.and_then(|reasoning| reasoning.effort) {
            body.insert("reasoning_effort".to_owned(), json!(effort.as_str()));
        }
        if !settings.metadata.is_empty() {
            body.insert("metadata".to_owned(), json!(settings.metadata));
        }
        if let Some(store) = settings.store {
            body.insert("store".to_owned(), json!(store));
        }
        if let Some(schema) = &settings.output_schema {
            body.insert(
                "response_format".to_owned(),
                json!({"type": "json_schema", "json_schema": {
                    "name": schema.name(),
                    "schema": schema.schema(),
                    "strict": schema.strict(),
                }}),
            );
        }
        if let Some(max_tokens) = settings.max_tokens {
            let field = if self.legacy_max_tokens_field {
                "max_tokens"
            } else {
                "max_completion_tokens"
            };
            body.insert(field.to_owned(), json!(max_tokens));
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.parameters,
                        }
                    })
                })
                .collect();
            body.insert("tools".to_owned(), Value::Array(tools));
            if let Some(choice) = &settings.tool_choice {
                let choice = match choice {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Named(name) => {
                        json!({"type": "function", "function": {"name": name}})
                    }
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

/// The wire form of a message; `None` for what Chat Completions cannot carry (reasoning items
/// of the Responses API).
fn message_to_wire(message: &Message) -> Option<Value> {
    Some(match message {
        Message::System { content } => json!({"role": "system", "content": content}),
        Message::User { content } => {
            if let [UserContent::Text { text }] = content.as_slice() {
                return Some(json!({"role": "user", "content": text}));
            }
            let parts: Vec<Value> = content
                .iter()
                .map(|part| match part {
                    UserContent::Text { text } => json!({"type": "text", "text": text}),
                    UserContent::Image { url, detail } => {
                        let mut image = json!({"url": url});
                        if let Some(detail) = detail {
                            image["detail"] = json!(detail);
                        }
                        json!({"type": "image_url", "image_url": image})
                    }
                })
                .collect();
            json!({"role": "user", "content": parts})
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut wire = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                wire["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        })
                    })
                    .collect();
            }
            wire
        }
        Message::Tool {
            call_id, content, ..
        } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        Message::Reasoning(_) => return None,
    })
}

#[async_trait]
impl ModelProvider for OpenAiChatProvider {
    fn model_name(&self) -> &str {
        &self.model
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        if !request.settings.hosted_tools.is_empty() {
            // Silently dropping them would let the model claim it searched when it could not.
            return Err(AgentError::Configuration(
                "hosted tools (web search, file search, image generation) need the Responses API"
                    .to_owned(),
            ));
        }
        let body = self.request_body(&request);
        tracing::debug!(
            model.name = %self.model,
            request.messages = request.messages.len(),
            request.tools = request.tools.len(),
            "starting chat completions stream"
        );
        let stream = self
            .transport
            .clone()
            .stream(body, ChatCompletionsParser::new);
        resolve_first_event(stream).await
    }
}

#[derive(Deserialize)]
struct ChunkWire {
    #[serde(default)]
    choices: Vec<ChoiceWire>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    error: Option<ErrorWire>,
}

#[derive(Deserialize)]
struct ChoiceWire {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    delta: Option<DeltaWire>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaWire {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDeltaWire>>,
}

#[derive(Deserialize)]
struct ToolCallDeltaWire {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDeltaWire>,
}

#[derive(Deserialize)]
struct FunctionDeltaWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorWire {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default)]
struct PartialToolCall {
    wire_index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// The Chat Completions stream parser, public so a recorded stream can be replayed through it
/// (and so it can be benchmarked) without a network.
///
/// Feed it the `data` field of each server-sent event in order; it returns the normalized events.
#[derive(Debug, Default)]
pub struct ChatCompletionsParser {
    tool_calls: Vec<PartialToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

impl ChatCompletionsParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles the `data` of one event, appending what it means to `out`. Returns true once the
    /// stream is complete (`[DONE]`); the final events are in `out` then.
    pub fn push_data(&mut self, data: &str, out: &mut Vec<ModelEvent>) -> Result<bool, AgentError> {
        if self.done {
            return Ok(true);
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.flush(out);
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: ChunkWire = serde_json::from_str(data)
            .map_err(|error| AgentError::Protocol(format!("chat completion chunk: {error}")))?;
        if let Some(error) = chunk.error {
            let code = match error.code {
                Some(Value::String(code)) => code,
                Some(Value::Number(code)) => code.to_string(),
                _ => error.kind.unwrap_or_else(|| "unknown".to_owned()),
            };
            return Err(AgentError::Model {
                code,
                message: error.message.unwrap_or_default(),
            });
        }
        if let Some(usage) = chunk.usage {
            // Some servers repeat usage in every chunk; the last one is the total.
            self.usage = Some(Usage {
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
                total_tokens: usage
                    .total_tokens
                    // The counts come off the wire: a hostile or broken server must not be able to
                    // overflow the sum (found by fuzzing).
                    .unwrap_or(usage.prompt_tokens.saturating_add(usage.completion_tokens)),
            });
        }
        // Only the first choice matters: requests never ask for `n > 1`. A chunk with no choices
        // at all (Azure's prompt filter results, the usage chunk) is fine.
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(delta) = choice.delta {
                self.push_delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        Ok(false)
    }

    /// Handles the end of the body when no `[DONE]` came: fine if the model had finished (some
    /// servers omit `[DONE]`), an interrupted stream otherwise.
    pub fn finish(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), AgentError> {
        if self.done {
            return Ok(());
        }
        if self.finish_reason.is_some() {
            self.flush(out);
            return Ok(());
        }
        Err(AgentError::StreamInterrupted(
            "the connection closed before the model finished".to_owned(),
        ))
    }

    fn push_delta(&mut self, delta: DeltaWire, out: &mut Vec<ModelEvent>) {
        for reasoning in [delta.reasoning, delta.reasoning_content]
            .into_iter()
            .flatten()
        {
            if !reasoning.is_empty() {
                out.push(ModelEvent::ReasoningDelta(reasoning));
            }
        }
        for text in [delta.content, delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                out.push(ModelEvent::TextDelta(text));
            }
        }
        for call in delta.tool_calls.into_iter().flatten() {
            let slot = self.slot_for(&call);
            let partial = &mut self.tool_calls[slot];
            let (name, arguments) = match call.function {
                Some(function) => (function.name, function.arguments.unwrap_or_default()),
                None => (None, String::new()),
            };
            if let Some(id) = call.id.as_ref().filter(|id| !id.is_empty()) {
                partial.id.clone_from(id);
            }
            if let Some(name) = name.as_ref().filter(|name| !name.is_empty()) {
                partial.name.clone_from(name);
            }
            partial.arguments.push_str(&arguments);
            out.push(ModelEvent::ToolCallDelta {
                index: slot,
                id: call.id,
                name,
                arguments_delta: arguments,
            });
        }
    }

    /// Finds which call a delta belongs to. With an `index` that is the call at that index; a
    /// delta without one (some compatible servers) belongs to the call with the same id, or starts
    /// a new call when it brings a new id, or continues the latest call otherwise.
    fn slot_for(&mut self, call: &ToolCallDeltaWire) -> usize {
        let by_id = |calls: &[PartialToolCall]| {
            call.id
                .as_ref()
                .filter(|id| !id.is_empty())
                .and_then(|id| calls.iter().position(|partial| &partial.id == id))
        };
        let found = match call.index {
            Some(index) => self
                .tool_calls
                .iter()
                .position(|partial| partial.wire_index == Some(index))
                .or_else(|| by_id(&self.tool_calls)),
            None => by_id(&self.tool_calls).or_else(|| {
                let brings_new_id = call.id.as_ref().is_some_and(|id| !id.is_empty());
                if brings_new_id {
                    None
                } else {
                    self.tool_calls.len().checked_sub(1)
                }
            }),
        };
        found.unwrap_or_else(|| {
            self.tool_calls.push(PartialToolCall {
                wire_index: call.index,
                ..PartialToolCall::default()
            });
            self.tool_calls.len() - 1
        })
    }

    fn flush(&mut self, out: &mut Vec<ModelEvent>) {
        self.done = true;
        let has_tool_calls = !self.tool_calls.is_empty();
        for (position, partial) in self.tool_calls.drain(..).enumerate() {
            let id = if partial.id.is_empty() {
                format!("call_{position}")
            } else {
                partial.id
            };
            out.push(ModelEvent::ToolCall(ToolCall {
                id,
                name: partial.name,
                arguments: partial.arguments,
            }));
        }
        if let Some(usage) = self.usage.take() {
            out.push(ModelEvent::Usage(usage));
        }
        let reason = match self.finish_reason.take().as_deref() {
            // Several servers say `stop` although the answer is tool calls.
            _ if has_tool_calls => FinishReason::ToolCalls,
            None | Some("stop") => FinishReason::Stop,
            Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
            Some("length") => FinishReason::Length,
            Some("content_filter") => FinishReason::ContentFilter,
            Some(other) => FinishReason::Other(other.to_owned()),
        };
        out.push(ModelEvent::Finished(reason));
    }
}

impl WireParser for ChatCompletionsParser {
    fn on_event(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<bool, AgentError> {
        self.push_data(data, out)
    }

    fn on_end(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), AgentError> {
        self.finish(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_usage_counts_saturate_instead_of_overflowing() {
        let events = parse(&[
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":1}}"#,
            "[DONE]",
        ]);
        assert!(
            events.iter().any(|event| matches!(
                event,
                ModelEvent::Usage(Usage {
                    total_tokens: u64::MAX,
                    ..
                })
            )),
            "{events:?}"
        );
    }

    fn parse(chunks: &[&str]) -> Vec<ModelEvent> {
        let mut parser = ChatCompletionsParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push_data(chunk, &mut out).expect("valid chunk");
        }
        out
    }

    fn calls(events: &[ModelEvent]) -> Vec<ToolCall> {
        events
            .iter()
            .filter_map(|event| match event {
                ModelEvent::ToolCall(call) => Some(call.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn tool_call_deltas_are_assembled_by_index() {
        let events = parse(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"one","arguments":""}},{"index":1,"id":"b","function":{"name":"two","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        let calls = calls(&events);
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].id.as_str(),
                calls[0].name.as_str(),
                calls[0].arguments.as_str()
            ),
            ("a", "one", r#"{"x":1}"#)
        );
        assert_eq!(calls[1].arguments, "{}");
        assert_eq!(
            events.last(),
            Some(&ModelEvent::Finished(FinishReason::ToolCalls))
        );
    }

    #[test]
    fn error_chunks_become_model_errors() {
        let mut parser = ChatCompletionsParser::new();
        let result = parser.push_data(
            r#"{"error":{"message":"overloaded","code":"server_error"}}"#,
            &mut Vec::new(),
        );
        assert_eq!(
            result,
            Err(AgentError::Model {
                code: "server_error".to_owned(),
                message: "overloaded".to_owned()
            })
        );
    }

    #[test]
    fn end_without_finish_is_an_interruption_and_with_finish_is_fine() {
        let mut parser = ChatCompletionsParser::new();
        let mut out = Vec::new();
        parser
            .push_data(
                r#"{"choices":[{"index":0,"delta":{"content":"hi"}}]}"#,
                &mut out,
            )
            .expect("valid chunk");
        assert!(matches!(
            parser.finish(&mut out),
            Err(AgentError::StreamInterrupted(_))
        ));
        parser
            .push_data(
                r#"{"choices":[{"index":0,"finish_reason":"length"}]}"#,
                &mut out,
            )
            .expect("valid chunk");
        parser.finish(&mut out).expect("finished stream");
        assert_eq!(
            out.last(),
            Some(&ModelEvent::Finished(FinishReason::Length))
        );
    }

    #[test]
    fn garbage_is_a_protocol_error_not_a_panic() {
        let mut parser = ChatCompletionsParser::new();
        assert!(matches!(
            parser.push_data("{not json", &mut Vec::new()),
            Err(AgentError::Protocol(_))
        ));
    }
}
