//! Per-chunk cost of the Chat Completions stream parser on an in-memory stream.
//!
//! Run with `cargo bench -p agent-runtime --bench chat_parser`. No criterion: a plain timing
//! loop is enough to notice a regression of an order of magnitude, which is what matters for a
//! parser that sits behind a network stream.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agent_runtime::ModelEvent;
use agent_runtime::model::openai::ChatCompletionsParser;

/// A realistic stream: 400 text chunks, then two tool calls with arguments in 50 pieces each.
fn recorded_stream() -> Vec<String> {
    let envelope = |choices: &str| {
        format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4.1-mini","system_fingerprint":"fp_1","choices":{choices},"usage":null}}"#
        )
    };
    let mut chunks = vec![envelope(
        r#"[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]"#,
    )];
    for index in 0..400 {
        chunks.push(envelope(&format!(
            r#"[{{"index":0,"delta":{{"content":"word{index} "}},"logprobs":null,"finish_reason":null}}]"#
        )));
    }
    for call in 0..2 {
        chunks.push(envelope(&format!(
            r#"[{{"index":0,"delta":{{"tool_calls":[{{"index":{call},"id":"call_{call}","type":"function","function":{{"name":"add_task","arguments":""}}}}]}},"logprobs":null,"finish_reason":null}}]"#
        )));
        for piece in 0..50 {
            chunks.push(envelope(&format!(
                r#"[{{"index":0,"delta":{{"tool_calls":[{{"index":{call},"function":{{"arguments":"p{piece}"}}}}]}},"logprobs":null,"finish_reason":null}}]"#
            )));
        }
    }
    chunks.push(envelope(
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]"#,
    ));
    chunks.push(r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":500,"total_tokens":600}}"#.to_owned());
    chunks.push("[DONE]".to_owned());
    chunks
}

fn parse_all(chunks: &[String], out: &mut Vec<ModelEvent>) -> usize {
    let mut parser = ChatCompletionsParser::new();
    out.clear();
    for chunk in chunks {
        match parser.push_data(chunk, out) {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => panic!("the recorded stream is valid: {error}"),
        }
    }
    out.len()
}

fn main() {
    let chunks = recorded_stream();
    let mut out = Vec::with_capacity(chunks.len() + 8);
    // Warm-up, and a check that the benchmark parses what it claims to.
    let events = parse_all(&chunks, &mut out);
    assert!(
        out.iter()
            .any(|event| matches!(event, ModelEvent::ToolCall(_)))
    );
    let budget = Duration::from_secs(2);
    let started = Instant::now();
    let mut streams = 0u64;
    while started.elapsed() < budget {
        black_box(parse_all(black_box(&chunks), &mut out));
        streams += 1;
    }
    let elapsed = started.elapsed();
    let total_chunks = streams * chunks.len() as u64;
    let per_chunk_ns = elapsed.as_nanos() as f64 / total_chunks as f64;
    println!(
        "chat_parser: {streams} streams of {} chunks ({events} events each) in {elapsed:?}: {per_chunk_ns:.0} ns per chunk",
        chunks.len()
    );
}
