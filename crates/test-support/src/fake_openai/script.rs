//! What the fake server answers: scripted turns and the provider quirks it can imitate.

use std::time::Duration;

/// Where a Chat Completions stream puts reasoning text; vendors disagree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReasoningField {
    /// `delta.reasoning_content` (DeepSeek, older vLLM).
    #[default]
    ReasoningContent,
    /// `delta.reasoning` (OpenRouter, newer vLLM, Ollama).
    Reasoning,
}

/// Deviations from OpenAI's Chat Completions stream that compatible servers are known for.
/// All off by default, which gives the exact OpenAI shape. The Responses stream ignores them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatQuirks {
    /// Send a first chunk with an empty `choices` array (Azure's prompt filter results).
    pub empty_choices_first: bool,
    /// Send the chunk carrying `finish_reason` without a `delta` key.
    pub finish_without_delta: bool,
    /// Send all tool calls whole (id, name, full arguments) in one chunk.
    pub whole_tool_calls: bool,
    /// Leave `index` out of tool-call deltas.
    pub omit_tool_call_index: bool,
    /// Say `finish_reason: "stop"` although the answer is tool calls.
    pub stop_with_tool_calls: bool,
    /// Which delta field carries reasoning.
    pub reasoning_field: ReasoningField,
    /// End the body without `data: [DONE]`.
    pub omit_done: bool,
}

/// A tool call in a scripted turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedToolCall {
    /// The call id.
    pub id: String,
    /// The tool name.
    pub name: String,
    /// The full arguments text (sent in pieces unless a quirk says otherwise).
    pub arguments: String,
}

/// How a scripted turn fails, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedFailure {
    /// Answer with this HTTP status and an OpenAI-style JSON error body instead of a stream.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The error message in the body.
        message: String,
        /// A `Retry-After` header, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// Abort the connection after this many events (no clean end of the body).
    DropAfterEvents(usize),
    /// Stop sending after this many events and keep the connection open until the client
    /// leaves.
    HangAfterEvents(usize),
    /// After the content, report an error inside the stream: a `data: {"error": ...}` chunk for
    /// Chat Completions, an `error` event for the Responses API.
    StreamError {
        /// The error code.
        code: String,
        /// The error message.
        message: String,
    },
    /// Responses API: end with `response.failed` (Chat Completions sends the error chunk).
    ResponseFailed {
        /// The error code.
        code: String,
        /// The error message.
        message: String,
    },
}

/// A call of a tool the vendor runs itself, as the Responses API streams it (Chat Completions
/// has no such calls; its stream leaves them out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedHostedCall {
    /// A `web_search_call`: `in_progress`, `searching`, `completed`, then the item with its
    /// `action` (`query` and the `sources` OpenAI sends when `include` asks for them).
    WebSearch {
        /// The item id (`ws_...`).
        id: String,
        /// The query the model ran.
        query: String,
        /// The URLs found.
        sources: Vec<String>,
    },
    /// A `file_search_call`: `in_progress`, `searching`, `completed`, then the item with its
    /// `queries` and `results`.
    FileSearch {
        /// The item id (`fs_...`).
        id: String,
        /// The queries the model ran.
        queries: Vec<String>,
        /// Matches as `(file_id, filename, text)`.
        results: Vec<(String, String, String)>,
    },
    /// An `image_generation_call`: `in_progress`, `generating`, one `partial_image` per preview,
    /// `completed`, then the item with the final image in `result` (or `status: failed` and no
    /// result when `result` is `None`).
    ImageGeneration {
        /// The item id (`ig_...`).
        id: String,
        /// The previews, base64.
        partial_images: Vec<String>,
        /// The image, base64; `None` for a failed generation.
        result: Option<String>,
    },
}

/// One scripted model answer. Turns are served in the order they were pushed, one per request,
/// in whichever wire format the request's endpoint speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptedTurn {
    /// Reasoning text, in the chunks it is streamed in.
    pub reasoning: Vec<String>,
    /// Answer text, in the chunks it is streamed in.
    pub text: Vec<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Reported usage `(input, output)`; when `None`, a usage is made up from the chunk counts.
    pub usage: Option<(u64, u64)>,
    /// Pause before each event.
    pub chunk_latency: Duration,
    /// Chat Completions deviations.
    pub quirks: ChatQuirks,
    /// How the turn fails, if it does.
    pub failure: Option<ScriptedFailure>,
    /// Annotations on the answer text, as the Responses API sends them (`url_citation`,
    /// `file_citation` objects); Chat Completions carries none.
    pub annotations: Vec<serde_json::Value>,
    /// Hosted tool calls (Responses API only), streamed after the reasoning and before the text.
    pub hosted_calls: Vec<ScriptedHostedCall>,
    /// The `encrypted_content` of the reasoning item (Responses API; OpenAI sends it when the
    /// request's `include` asks for `reasoning.encrypted_content`).
    pub reasoning_encrypted_content: Option<String>,
}

/// Splits text into word-sized chunks, each keeping its trailing space, as models stream.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

impl ScriptedTurn {
    /// A turn answering `text`, streamed word by word.
    pub fn text(text: &str) -> Self {
        Self::default().with_text(text)
    }

    /// A turn that only calls one tool.
    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Self {
        Self::default().with_tool_call(id, name, arguments)
    }

    /// A turn answering with an HTTP error status instead of a stream.
    pub fn http_error(status: u16, message: &str) -> Self {
        Self {
            failure: Some(ScriptedFailure::HttpStatus {
                status,
                message: message.to_owned(),
                retry_after_secs: None,
            }),
            ..Self::default()
        }
    }

    /// Appends answer text, streamed word by word.
    pub fn with_text(mut self, text: &str) -> Self {
        self.text.extend(words(text));
        self
    }

    /// Adds a Responses API annotation on the answer text, for example
    /// `{"type": "url_citation", "start_index": 0, "end_index": 5, "url": "...", "title": "..."}`.
    pub fn with_annotation(mut self, annotation: serde_json::Value) -> Self {
        self.annotations.push(annotation);
        self
    }

    /// Appends answer text as exactly these chunks.
    pub fn with_text_chunks(mut self, chunks: &[&str]) -> Self {
        self.text
            .extend(chunks.iter().map(|chunk| (*chunk).to_owned()));
        self
    }

    /// Appends reasoning text, streamed word by word before the answer.
    pub fn with_reasoning(mut self, text: &str) -> Self {
        self.reasoning.extend(words(text));
        self
    }

    /// Adds a hosted tool call (Responses API only).
    pub fn with_hosted_call(mut self, call: ScriptedHostedCall) -> Self {
        self.hosted_calls.push(call);
        self
    }

    /// Sets the reasoning item's `encrypted_content` (Responses API only).
    pub fn with_encrypted_reasoning(mut self, encrypted_content: &str) -> Self {
        self.reasoning_encrypted_content = Some(encrypted_content.to_owned());
        self
    }

    /// Appends a tool call.
    pub fn with_tool_call(mut self, id: &str, name: &str, arguments: &str) -> Self {
        self.tool_calls.push(ScriptedToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        });
        self
    }

    /// Sets the reported usage.
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some((input_tokens, output_tokens));
        self
    }

    /// Pauses before each event.
    pub fn with_chunk_latency(mut self, latency: Duration) -> Self {
        self.chunk_latency = latency;
        self
    }

    /// Imitates a compatible server's deviations (Chat Completions only).
    pub fn with_quirks(mut self, quirks: ChatQuirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// Adds a `Retry-After` header to an HTTP error turn.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        if let Some(ScriptedFailure::HttpStatus {
            retry_after_secs, ..
        }) = &mut self.failure
        {
            *retry_after_secs = Some(seconds);
        }
        self
    }

    /// Aborts the connection after `events` events.
    pub fn drop_connection_after(mut self, events: usize) -> Self {
        self.failure = Some(ScriptedFailure::DropAfterEvents(events));
        self
    }

    /// Stops sending after `events` events but keeps the connection open until the client leaves.
    pub fn hang_after(mut self, events: usize) -> Self {
        self.failure = Some(ScriptedFailure::HangAfterEvents(events));
        self
    }

    /// Ends the stream with an in-stream error after the content.
    pub fn with_stream_error(mut self, code: &str, message: &str) -> Self {
        self.failure = Some(ScriptedFailure::StreamError {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        self
    }

    /// Ends a Responses stream with `response.failed` after the content.
    pub fn with_response_failed(mut self, code: &str, message: &str) -> Self {
        self.failure = Some(ScriptedFailure::ResponseFailed {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        self
    }
}
