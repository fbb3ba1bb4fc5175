//! Dense vectors from an OpenAI-compatible `POST /embeddings` endpoint, and the fusion of dense
//! and BM25 rankings.

use std::time::Duration;

use agent_runtime::ApiKey;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::RetrievalError;

/// How vectors travel on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EncodingFormat {
    /// `"float"`: JSON arrays of numbers.
    Float,
    /// `"base64"`: little-endian `f32`s in base64, about a quarter of the bytes.
    #[default]
    Base64,
}

/// Where and how to get embeddings.
#[derive(Debug, Clone)]
pub struct EmbeddingsConfig {
    /// API root including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer ...`; `None` for local servers that need no key.
    pub api_key: Option<ApiKey>,
    /// The embedding model (`text-embedding-3-small`).
    pub model: String,
    /// Asks the model for shorter vectors, when it supports it.
    pub dimensions: Option<usize>,
    /// Texts per request.
    pub batch_size: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// Wire encoding of the vectors.
    pub encoding_format: EncodingFormat,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            model: "text-embedding-3-small".to_owned(),
            dimensions: None,
            batch_size: 64,
            timeout: Duration::from_secs(30),
            encoding_format: EncodingFormat::default(),
        }
    }
}

/// A client of the `/embeddings` endpoint.
#[derive(Debug, Clone)]
pub struct EmbeddingsClient {
    config: EmbeddingsConfig,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    index: usize,
    embedding: WireVector,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireVector {
    Float(Vec<f32>),
    Base64(String),
}

impl EmbeddingsClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`RetrievalError::Config`] when the batch size is zero or the HTTP client cannot be built.
    pub fn new(config: EmbeddingsConfig) -> Result<Self, RetrievalError> {
        if config.batch_size == 0 {
            return Err(RetrievalError::Config(
                "embeddings batch_size must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|error| RetrievalError::Config(format!("HTTP client: {error}")))?;
        Ok(Self { config, http })
    }

    /// The model name, which the index records so that changing it rebuilds the vectors.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Embeds `texts`, in batches, returning one vector per text in order.
    ///
    /// # Errors
    /// [`RetrievalError::Timeout`] or [`RetrievalError::Embeddings`] when the endpoint fails or
    /// answers something other than one vector per input.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size) {
            vectors.extend(self.embed_batch(batch).await?);
        }
        Ok(vectors)
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        let mut body = json!({
            "model": self.config.model,
            "input": texts,
            "encoding_format": match self.config.encoding_format {
                EncodingFormat::Float => "float",
                EncodingFormat::Base64 => "base64",
            },
        });
        if let Some(dimensions) = self.config.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        let url = format!("{}/embeddings", self.config.base_url.trim_end_matches('/'));
        let mut request = self.http.post(url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                RetrievalError::Timeout
            } else {
                RetrievalError::Embeddings(format!("request failed: {error}"))
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|error| {
            if error.is_timeout() {
                RetrievalError::Timeout
            } else {
                RetrievalError::Embeddings(format!("reading the response failed: {error}"))
            }
        })?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(RetrievalError::Embeddings(format!(
                "status {status}: {body}"
            )));
        }
        let parsed: EmbeddingsResponse = serde_json::from_slice(&bytes)
            .map_err(|error| RetrievalError::Embeddings(format!("malformed response: {error}")))?;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in parsed.data {
            let vector = match item.embedding {
                WireVector::Float(vector) => vector,
                WireVector::Base64(text) => decode_base64_vector(&text)?,
            };
            let slot = vectors.get_mut(item.index).ok_or_else(|| {
                RetrievalError::Embeddings(format!("index {} out of range", item.index))
            })?;
            *slot = Some(normalize(vector));
        }
        vectors
            .into_iter()
            .enumerate()
            .map(|(index, vector)| {
                vector.ok_or_else(|| {
                    RetrievalError::Embeddings(format!("no vector for input {index}"))
                })
            })
            .collect()
    }
}

fn decode_base64_vector(text: &str) -> Result<Vec<f32>, RetrievalError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| RetrievalError::Embeddings(format!("bad base64 vector: {error}")))?;
    if bytes.len() % 4 != 0 {
        return Err(RetrievalError::Embeddings(
            "base64 vector is not whole f32s".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|quad| f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]))
        .collect())
}

/// Scales `vector` to length 1, so that a dot product is the cosine similarity.
pub fn normalize(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// The dot product of two vectors of equal length (0 when the lengths differ).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The constant of reciprocal rank fusion: a document at rank `r` (from 1) of a list gains
/// `1 / (RRF_K + r)`. 60 is the value of the original paper (Cormack et al., 2009), which damps
/// the difference between the first few ranks so that neither list dominates.
pub const RRF_K: f32 = 60.0;

/// Fuses ranked lists of ids by reciprocal rank fusion: best first, ties by first appearance.
pub fn reciprocal_rank_fusion(lists: &[Vec<String>]) -> Vec<(String, f32)> {
    let mut fused: Vec<(String, f32)> = Vec::new();
    for list in lists {
        for (rank, id) in list.iter().enumerate() {
            let gain = 1.0 / (RRF_K + rank as f32 + 1.0);
            match fused.iter_mut().find(|(seen, _)| seen == id) {
                Some((_, score)) => *score += gain,
                None => fused.push((id.clone(), gain)),
            }
        }
    }
    // A stable sort keeps first appearance as the tie-break.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fusion_rewards_agreement_and_keeps_documents_only_one_list_found() {
        let bm25 = ids(&["a", "b", "c"]);
        let dense = ids(&["c", "d", "a"]);
        let fused = reciprocal_rank_fusion(&[bm25, dense]);
        let order: Vec<&str> = fused.iter().map(|(id, _)| id.as_str()).collect();
        // a: 1/61 + 1/63, c: 1/63 + 1/61 (tie, a seen first), b: 1/62, d: 1/62.
        assert_eq!(order, vec!["a", "c", "b", "d"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert!((fused[0].1 - fused[1].1).abs() < 1e-6);
    }

    #[test]
    fn fusion_of_one_list_keeps_its_order() {
        let fused = reciprocal_rank_fusion(&[ids(&["x", "y", "z"])]);
        let order: Vec<&str> = fused.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, vec!["x", "y", "z"]);
    }

    #[test]
    fn base64_vectors_decode_little_endian_floats() {
        let bytes: Vec<u8> = [1.0f32, -0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(decode_base64_vector(&text).unwrap(), vec![1.0, -0.5]);
        assert!(decode_base64_vector("AAA=").is_err());
    }

    #[test]
    fn normalized_vectors_have_unit_dot_product_with_themselves() {
        let vector = normalize(vec![3.0, 4.0]);
        assert!((dot(&vector, &vector) - 1.0).abs() < 1e-6);
        assert_eq!(dot(&[1.0], &[1.0, 2.0]), 0.0);
    }
}
