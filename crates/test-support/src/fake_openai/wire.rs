//! The two OpenAI streaming wire formats, produced from a scripted turn.

use serde_json::{Value, json};

use super::script::{ReasoningField, ScriptedFailure, ScriptedHostedCall, ScriptedTurn};

const CREATED: u64 = 1_700_000_000;

/// Splits tool arguments into a few pieces, the way models stream them.
fn argument_pieces(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(3).max(1);
    chars
        .chunks(size)
        .map(|piece| piece.iter().collect())
        .collect()
}

fn usage_of(turn: &ScriptedTurn) -> (u64, u64) {
    turn.usage.unwrap_or_else(|| {
        let output = turn.text.len() + turn.reasoning.len() + turn.tool_calls.len();
        (10, u64::try_from(output).unwrap_or(u64::MAX))
    })
}

fn data_frame(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// The `data:` frames of a Chat Completions stream, `[DONE]` included.
pub(crate) fn chat_frames(
    turn: &ScriptedTurn,
    model: &str,
    id: &str,
    include_usage: bool,
) -> Vec<String> {
    let quirks = turn.quirks;
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        data_frame(&chunk)
    };
    let delta_chunk = |delta: Value| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]))
    };
    let mut frames = Vec::new();
    if quirks.empty_choices_first {
        frames.push(data_frame(&json!({
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        })));
    }
    frames.push(delta_chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
    ));
    let reasoning_key = match quirks.reasoning_field {
        ReasoningField::ReasoningContent => "reasoning_content",
        ReasoningField::Reasoning => "reasoning",
    };
    for piece in &turn.reasoning {
        frames.push(delta_chunk(json!({ reasoning_key: piece })));
    }
    for piece in &turn.text {
        frames.push(delta_chunk(json!({"content": piece})));
    }
    let with_index = |mut call: Value, index: usize| {
        if !quirks.omit_tool_call_index {
            call["index"] = json!(index);
        }
        call
    };
    if quirks.whole_tool_calls && !turn.tool_calls.is_empty() {
        let calls: Vec<Value> = turn
            .tool_calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                with_index(
                    json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}),
                    index,
                )
            })
            .collect();
        frames.push(delta_chunk(json!({"tool_calls": calls})));
    } else {
        for (index, call) in turn.tool_calls.iter().enumerate() {
            let first = with_index(
                json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}),
                index,
            );
            frames.push(delta_chunk(json!({"tool_calls": [first]})));
            for piece in argument_pieces(&call.arguments) {
                let next = with_index(json!({"function": {"arguments": piece}}), index);
                frames.push(delta_chunk(json!({"tool_calls": [next]})));
            }
        }
    }
    if let Some(ScriptedFailure::StreamError { code, message })
    | Some(ScriptedFailure::ResponseFailed { code, message }) = &turn.failure
    {
        frames.push(data_frame(&json!({
            "error": {"message": message, "type": "server_error", "param": null, "code": code}
        })));
        return frames;
    }
    let finish_reason = if turn.tool_calls.is_empty() || quirks.stop_with_tool_calls {
        "stop"
    } else {
        "tool_calls"
    };
    let mut finish = json!({"index": 0, "logprobs": null, "finish_reason": finish_reason});
    if !quirks.finish_without_delta {
        finish["delta"] = json!({});
    }
    frames.push(chunk(json!([finish])));
    if include_usage {
        let (input, output) = usage_of(turn);
        frames.push(data_frame(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": {
                "prompt_tokens": input,
                "completion_tokens": output,
                "total_tokens": input + output,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        })));
    }
    if !quirks.omit_done {
        frames.push("data: [DONE]\n\n".to_owned());
    }
    frames
}

/// Builds Responses API events, numbering them as OpenAI does.
struct ResponsesWriter {
    frames: Vec<String>,
    sequence_number: u64,
}

impl ResponsesWriter {
    fn event(&mut self, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.sequence_number);
        self.sequence_number += 1;
        self.frames.push(format!("event: {kind}\ndata: {body}\n\n"));
    }
}

/// The frames of a Responses API stream.
pub(crate) fn responses_frames(turn: &ScriptedTurn, model: &str, id: &str) -> Vec<String> {
    let mut writer = ResponsesWriter {
        frames: Vec::new(),
        sequence_number: 0,
    };
    let response = |status: &str, output: &[Value], usage: Value| {
        json!({
            "id": id,
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": model,
            "output": output,
            "parallel_tool_calls": true,
            "store": false,
            "usage": usage,
        })
    };
    writer.event(
        "response.created",
        json!({"response": response("in_progress", &[], Value::Null)}),
    );
    writer.event(
        "response.in_progress",
        json!({"response": response("in_progress", &[], Value::Null)}),
    );
    let mut output: Vec<Value> = Vec::new();
    if !turn.reasoning.is_empty() {
        let index = output.len();
        let item_id = format!("rs_{id}");
        let full: String = turn.reasoning.concat();
        writer.event(
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": item_id, "type": "reasoning", "summary": []}}),
        );
        let part = |text: &str| json!({"type": "summary_text", "text": text});
        writer.event(
            "response.reasoning_summary_part.added",
            json!({"item_id": item_id, "output_index": index, "summary_index": 0, "part": part("")}),
        );
        for piece in &turn.reasoning {
            writer.event(
                "response.reasoning_summary_text.delta",
                json!({"item_id": item_id, "output_index": index, "summary_index": 0, "delta": piece}),
            );
        }
        writer.event(
            "response.reasoning_summary_text.done",
            json!({"item_id": item_id, "output_index": index, "summary_index": 0, "text": full}),
        );
        writer.event(
            "response.reasoning_summary_part.done",
            json!({"item_id": item_id, "output_index": index, "summary_index": 0, "part": part(&full)}),
        );
        let mut item = json!({"id": item_id, "type": "reasoning", "summary": [part(&full)]});
        if let Some(encrypted) = &turn.reasoning_encrypted_content {
            item["encrypted_content"] = json!(encrypted);
        }
        writer.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        output.push(item);
    }
    for call in &turn.hosted_calls {
        let index = output.len();
        output.push(hosted_call_events(&mut writer, call, index));
    }
    if !turn.text.is_empty() {
        let index = output.len();
        let item_id = format!("msg_{id}");
        let full: String = turn.text.concat();
        let item = |status: &str, content: Value| json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content});
        // As OpenAI does: the streamed part starts without annotations, each arrives as an
        // `annotation.added` event after the text, and the finished part carries them all.
        let part = |text: &str, annotations: &[Value]| json!({"type": "output_text", "text": text, "annotations": annotations});
        writer.event(
            "response.output_item.added",
            json!({"output_index": index, "item": item("in_progress", json!([]))}),
        );
        writer.event(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part("", &[])}),
        );
        for piece in &turn.text {
            writer.event(
                "response.output_text.delta",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "delta": piece, "logprobs": []}),
            );
        }
        for (annotation_index, annotation) in turn.annotations.iter().enumerate() {
            writer.event(
                "response.output_text.annotation.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0,
                    "annotation_index": annotation_index, "annotation": annotation}),
            );
        }
        writer.event(
            "response.output_text.done",
            json!({"item_id": item_id, "output_index": index, "content_index": 0, "text": full, "logprobs": []}),
        );
        writer.event(
            "response.content_part.done",
            json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": part(&full, &turn.annotations)}),
        );
        let done = item("completed", json!([part(&full, &turn.annotations)]));
        writer.event(
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        output.push(done);
    }
    for call in &turn.tool_calls {
        let index = output.len();
        let item_id = format!("fc_{}", call.id);
        let item = |status: &str, arguments: &str| json!({"id": item_id, "type": "function_call", "status": status, "arguments": arguments, "call_id": call.id, "name": call.name});
        writer.event(
            "response.output_item.added",
            json!({"output_index": index, "item": item("in_progress", "")}),
        );
        for piece in argument_pieces(&call.arguments) {
            writer.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": piece}),
            );
        }
        writer.event(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": index, "arguments": call.arguments}),
        );
        let done = item("completed", &call.arguments);
        writer.event(
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        output.push(done);
    }
    match &turn.failure {
        Some(ScriptedFailure::StreamError { code, message }) => {
            writer.event(
                "error",
                json!({"code": code, "message": message, "param": null}),
            );
        }
        Some(ScriptedFailure::ResponseFailed { code, message }) => {
            let mut failed = response("failed", &output, Value::Null);
            failed["error"] = json!({"code": code, "message": message});
            writer.event("response.failed", json!({"response": failed}));
        }
        _ => {
            let (input, output_tokens) = usage_of(turn);
            let usage = json!({
                "input_tokens": input,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input + output_tokens,
            });
            writer.event(
                "response.completed",
                json!({"response": response("completed", &output, usage)}),
            );
        }
    }
    writer.frames
}

/// Streams one hosted tool call the way OpenAI does (item added, the call's own progress events,
/// item done) and returns the finished item for the response's `output`.
fn hosted_call_events(
    writer: &mut ResponsesWriter,
    call: &ScriptedHostedCall,
    index: usize,
) -> Value {
    let (item_id, prefix, added, progress, done) = match call {
        ScriptedHostedCall::WebSearch { id, query, sources } => {
            let sources: Vec<Value> = sources
                .iter()
                .map(|url| json!({"type": "url", "url": url}))
                .collect();
            (
                id,
                "response.web_search_call",
                json!({"id": id, "type": "web_search_call", "status": "in_progress", "action": {"type": "search", "query": query}}),
                vec!["in_progress", "searching", "completed"],
                json!({"id": id, "type": "web_search_call", "status": "completed",
                    "action": {"type": "search", "query": query, "sources": sources}}),
            )
        }
        ScriptedHostedCall::FileSearch {
            id,
            queries,
            results,
        } => {
            let results: Vec<Value> = results
                .iter()
                .map(|(file_id, filename, text)| {
                    json!({"file_id": file_id, "filename": filename, "score": 0.9, "text": text, "attributes": {}})
                })
                .collect();
            (
                id,
                "response.file_search_call",
                json!({"id": id, "type": "file_search_call", "status": "in_progress", "queries": [], "results": null}),
                vec!["in_progress", "searching", "completed"],
                json!({"id": id, "type": "file_search_call", "status": "completed", "queries": queries, "results": results}),
            )
        }
        ScriptedHostedCall::ImageGeneration {
            id,
            partial_images,
            result,
        } => {
            writer.event(
                "response.output_item.added",
                json!({"output_index": index, "item": {"id": id, "type": "image_generation_call", "status": "in_progress", "result": null}}),
            );
            for step in ["in_progress", "generating"] {
                writer.event(
                    &format!("response.image_generation_call.{step}"),
                    json!({"item_id": id, "output_index": index}),
                );
            }
            for (partial_index, image) in partial_images.iter().enumerate() {
                writer.event(
                    "response.image_generation_call.partial_image",
                    json!({"item_id": id, "output_index": index, "partial_image_index": partial_index,
                        "partial_image_b64": image, "background": "opaque", "output_format": "png",
                        "quality": "medium", "size": "1024x1024"}),
                );
            }
            let done = match result {
                Some(image) => {
                    writer.event(
                        "response.image_generation_call.completed",
                        json!({"item_id": id, "output_index": index}),
                    );
                    json!({"id": id, "type": "image_generation_call", "status": "completed", "result": image,
                        "background": "opaque", "output_format": "png", "quality": "medium",
                        "size": "1024x1024", "revised_prompt": "an image"})
                }
                None => {
                    json!({"id": id, "type": "image_generation_call", "status": "failed", "result": null})
                }
            };
            writer.event(
                "response.output_item.done",
                json!({"output_index": index, "item": done}),
            );
            return done;
        }
    };
    writer.event(
        "response.output_item.added",
        json!({"output_index": index, "item": added}),
    );
    for step in progress {
        writer.event(
            &format!("{prefix}.{step}"),
            json!({"item_id": item_id, "output_index": index}),
        );
    }
    writer.event(
        "response.output_item.done",
        json!({"output_index": index, "item": done}),
    );
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_stream_has_openai_shape() {
        let turn = ScriptedTurn::text("Hi there").with_tool_call("c1", "f", r#"{"a":1}"#);
        let frames = chat_frames(&turn, "m", "chatcmpl-1", true);
        assert!(frames[0].contains(r#""role":"assistant""#));
        assert_eq!(frames.last().map(String::as_str), Some("data: [DONE]\n\n"));
        let usage_frame = &frames[frames.len() - 2];
        assert!(usage_frame.contains(r#""choices":[]"#) && usage_frame.contains("total_tokens"));
        assert!(
            frames
                .iter()
                .any(|frame| frame.contains(r#""finish_reason":"tool_calls""#))
        );
        let arguments: String = argument_pieces(r#"{"a":1}"#).concat();
        assert_eq!(arguments, r#"{"a":1}"#);
    }

    #[test]
    fn hosted_calls_stream_their_own_events_between_added_and_done() {
        let turn =
            ScriptedTurn::text("Done").with_hosted_call(ScriptedHostedCall::ImageGeneration {
                id: "ig_1".to_owned(),
                partial_images: vec!["AA==".to_owned()],
                result: Some("AQ==".to_owned()),
            });
        let frames = responses_frames(&turn, "m", "resp_1");
        let names: Vec<&str> = frames
            .iter()
            .filter_map(|frame| frame.strip_prefix("event: ")?.split('\n').next())
            .collect();
        assert_eq!(
            names[2..8],
            [
                "response.output_item.added",
                "response.image_generation_call.in_progress",
                "response.image_generation_call.generating",
                "response.image_generation_call.partial_image",
                "response.image_generation_call.completed",
                "response.output_item.done",
            ]
        );
        let completed = frames.last().expect("completed");
        assert!(completed.contains(r#""result":"AQ==""#), "{completed}");
    }

    #[test]
    fn responses_stream_numbers_events_and_completes() {
        let turn = ScriptedTurn::text("Hi").with_reasoning("hmm");
        let frames = responses_frames(&turn, "m", "resp_1");
        assert!(frames[0].starts_with("event: response.created\ndata: "));
        assert!(frames[1].contains(r#""sequence_number":1"#));
        assert!(
            frames
                .last()
                .is_some_and(|frame| frame.starts_with("event: response.completed"))
        );
    }
}
