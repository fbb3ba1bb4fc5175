//! `POST /v1/embeddings`: deterministic vectors in the true wire format.
//!
//! A text's vector is the sum of hashed character trigrams of its lower-cased words, normalized
//! to length 1. Texts that share words or word parts get similar vectors, so hybrid search has
//! something meaningful to fuse, and the same text always gets the same vector.

use base64::Engine as _;
use serde_json::{Value, json};

/// The vector length when the request does not ask for `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 64;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The fake model's vector for `text`.
pub fn fake_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let dimensions = dimensions.max(1);
    let mut vector = vec![0.0f32; dimensions];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let padded: Vec<char> = format!("#{}#", word.to_lowercase()).chars().collect();
        for trigram in padded.windows(3) {
            let trigram: String = trigram.iter().collect();
            let hash = fnv1a(trigram.as_bytes());
            let bucket = usize::try_from(hash % dimensions as u64).unwrap_or(0);
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign;
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// The response to an embeddings request body, or an error message for a 400.
pub(crate) fn respond(body: &Value) -> Result<Value, String> {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    "the fake server embeds strings only, not token arrays".to_owned()
                })
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("'input' must be a string or a non-empty array of strings".into()),
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| "'model' is required".to_owned())?;
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(value) => value
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
            .filter(|d| *d > 0)
            .ok_or_else(|| "'dimensions' must be a positive integer".to_owned())?,
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => return Err(format!("unknown encoding_format '{other}'")),
    };
    let mut tokens = 0usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            tokens += text.split_whitespace().count().max(1);
            let vector = fake_embedding(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}
