//! A retriever that asks a search service the platform already runs.
//!
//! The request is `POST <url>` with a JSON body:
//!
//! ```json
//! {"query": "how do I configure JWKS?", "k": 5,
//!  "user": {"id": "user_123", "grants": ["course:42"]},
//!  "page": {"url": "/courses/42/auth", "title": "Auth"},
//!  "filters": {"kind": "guide"}}
//! ```
//!
//! The response is any JSON object; [`FieldMapping`] says where the list of results is and which
//! field of each result holds the text, score, title, URL... (JSON pointers, RFC 6901).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::{Passage, PassageSource, Query, RetrievalError, Retriever, SourceLocation, Visibility};

/// Where each passage field is in the service's response (JSON pointers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// The array of results in the response body (`/results`; `""` for a top-level array).
    pub results: String,
    /// The passage text in a result (required).
    pub text: String,
    /// The relevance score (optional in a result; missing scores keep the service's order).
    pub score: String,
    /// The document title (required).
    pub title: String,
    /// The URL of the source; when a result has none, [`file`](Self::file) is used.
    pub url: String,
    /// The file name of the source.
    pub file: String,
    /// The section or heading path (optional).
    pub section: String,
    /// The anchor (optional).
    pub anchor: String,
    /// The passage id (optional; the position is used without it).
    pub id: String,
    /// The visibility tags (optional string or array; missing means the service already
    /// filtered for the user).
    pub visibility: String,
    /// An object of string metadata (optional).
    pub metadata: String,
}

impl Default for FieldMapping {
    fn default() -> Self {
        Self {
            results: "/results".into(),
            text: "/text".into(),
            score: "/score".into(),
            title: "/title".into(),
            url: "/url".into(),
            file: "/file".into(),
            section: "/section".into(),
            anchor: "/anchor".into(),
            id: "/id".into(),
            visibility: "/visibility".into(),
            metadata: "/metadata".into(),
        }
    }
}

/// Settings of an [`HttpRetriever`].
#[derive(Debug, Clone)]
pub struct HttpRetrieverConfig {
    /// The service's endpoint.
    pub url: String,
    /// How long a whole request may take. The model is waiting; a slow search is better
    /// reported than waited for.
    pub timeout: Duration,
    /// Headers sent with every request (a service token, for example). Values are never logged.
    pub headers: Vec<(String, String)>,
    /// Where the passage fields are in the response.
    pub fields: FieldMapping,
}

impl HttpRetrieverConfig {
    /// Defaults for a service at `url`: a 10 s timeout and the default field mapping.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            fields: FieldMapping::default(),
        }
    }
}

/// A [`Retriever`] backed by an HTTP search service.
#[derive(Debug, Clone)]
pub struct HttpRetriever {
    config: HttpRetrieverConfig,
    http: reqwest::Client,
}

impl HttpRetriever {
    /// A retriever for `config`.
    ///
    /// # Errors
    /// [`RetrievalError::Config`] for a URL that does not parse or a header that is not valid.
    pub fn new(config: HttpRetrieverConfig) -> Result<Self, RetrievalError> {
        url::Url::parse(&config.url)
            .map_err(|error| RetrievalError::Config(format!("retriever URL: {error}")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| RetrievalError::Config(format!("invalid header name {name:?}")))?;
            let mut value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| RetrievalError::Config(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            .build()
            .map_err(|error| RetrievalError::Config(format!("HTTP client: {error}")))?;
        Ok(Self { config, http })
    }

    fn request_body(query: &Query) -> Value {
        let mut body = json!({
            "query": query.text,
            "k": query.k,
            "user": {"id": query.access.user_id, "grants": query.access.grants},
            "filters": query.filters.metadata,
        });
        if let Some(page) = &query.page {
            body["page"] = json!(page);
        }
        body
    }

    fn map_response(&self, body: &Value, query: &Query) -> Result<Vec<Passage>, RetrievalError> {
        let fields = &self.config.fields;
        let results = body
            .pointer(&fields.results)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                RetrievalError::MalformedResponse(format!("no array at {:?}", fields.results))
            })?;
        let mut passages = Vec::with_capacity(results.len());
        for (position, result) in results.iter().enumerate() {
            let text_at = |pointer: &str| {
                result
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .filter(|text| !text.is_empty())
            };
            let required = |pointer: &str, what: &str| {
                text_at(pointer).ok_or_else(|| {
                    RetrievalError::MalformedResponse(format!(
                        "result {position} has no {what} at {pointer:?}"
                    ))
                })
            };
            let text = required(&fields.text, "text")?;
            let title = required(&fields.title, "title")?;
            let location = match (text_at(&fields.url), text_at(&fields.file)) {
                (Some(url), _) => SourceLocation::Url(url),
                (None, Some(file)) => SourceLocation::File(file),
                (None, None) => {
                    return Err(RetrievalError::MalformedResponse(format!(
                        "result {position} has neither a URL nor a file"
                    )));
                }
            };
            let score = match result.pointer(&fields.score) {
                None | Some(Value::Null) => None,
                Some(value) => Some(value.as_f64().ok_or_else(|| {
                    RetrievalError::MalformedResponse(format!(
                        "result {position}: score is not a number"
                    ))
                })? as f32),
            };
            let visibility = match result.pointer(&fields.visibility) {
                Some(Value::String(tag)) => Visibility::from_tags(tag.split(',')),
                Some(Value::Array(tags)) => {
                    Visibility::from_tags(tags.iter().filter_map(Value::as_str))
                }
                _ => Visibility::Public,
            };
            let metadata: BTreeMap<String, String> = result
                .pointer(&fields.metadata)
                .and_then(Value::as_object)
                .map(|object| {
                    object
                        .iter()
                        .filter_map(|(key, value)| match value {
                            Value::String(text) => Some((key.clone(), text.clone())),
                            Value::Number(number) => Some((key.clone(), number.to_string())),
                            Value::Bool(flag) => Some((key.clone(), flag.to_string())),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            passages.push((
                score,
                position,
                Passage {
                    id: text_at(&fields.id).unwrap_or_else(|| position.to_string()),
                    text,
                    score: 0.0,
                    source: PassageSource {
                        title,
                        location,
                        section: text_at(&fields.section),
                        anchor: text_at(&fields.anchor),
                        metadata,
                    },
                    visibility,
                },
            ));
        }
        // The service is trusted to rank and filter, but the contract is ours to keep: a result
        // the user may not see, or that breaks a filter, is dropped here as well.
        let mut kept: Vec<Passage> = Vec::new();
        let count = passages.len();
        for (score, position, mut passage) in passages {
            if !query.access.allows(&passage.visibility)
                || !query.filters.matches(&passage.source.metadata)
            {
                continue;
            }
            // Without scores, the service's order is the ranking: first gets the highest.
            passage.score = score.unwrap_or((count - position) as f32);
            kept.push(passage);
        }
        kept.sort_by(|a, b| b.score.total_cmp(&a.score));
        kept.truncate(query.k);
        Ok(kept)
    }
}

#[async_trait]
impl Retriever for HttpRetriever {
    async fn retrieve(&self, query: &Query) -> Result<Vec<Passage>, RetrievalError> {
        query.validate()?;
        let started = std::time::Instant::now();
        let response = self
            .http
            .post(&self.config.url)
            .json(&Self::request_body(query))
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(classify)?;
        tracing::debug!(
            http.status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "retrieval service answered"
        );
        if !status.is_success() {
            return Err(RetrievalError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            });
        }
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|error| RetrievalError::MalformedResponse(format!("not JSON: {error}")))?;
        self.map_response(&body, query)
    }
}

fn classify(error: reqwest::Error) -> RetrievalError {
    if error.is_timeout() {
        RetrievalError::Timeout
    } else {
        // Without the URL: it may carry a token in its query string.
        RetrievalError::Unreachable(error.without_url().to_string())
    }
}
