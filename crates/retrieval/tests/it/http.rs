//! The HTTP retriever against real local HTTP services.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_runtime::{RunContext, Tool, UserInfo};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use retrieval::{
    Access, FieldMapping, HttpRetriever, HttpRetrieverConfig, PageContext, Passage, Query,
    RetrievalError, Retriever, SearchTool, SearchToolConfig, SourceLocation, Visibility,
};
use serde_json::{Value, json};

enum Behaviour {
    Backed(Arc<dyn Retriever>),
    Fixed { status: u16, body: String },
    Hang,
}

/// A search service on 127.0.0.1 that answers from a retriever, with a fixed answer, or never.
#[derive(Clone)]
pub struct SearchService {
    behaviour: Arc<Behaviour>,
    requests: Arc<Mutex<Vec<Value>>>,
}

fn passage_json(passage: &Passage) -> Value {
    let mut result = json!({
        "id": passage.id,
        "text": passage.text,
        "score": passage.score,
        "title": passage.source.title,
        "metadata": passage.source.metadata,
    });
    match &passage.source.location {
        SourceLocation::Url(url) => result["url"] = json!(url),
        SourceLocation::File(file) => result["file"] = json!(file),
    }
    if let Visibility::Restricted(tags) = &passage.visibility {
        result["visibility"] = json!(tags);
    }
    result
}

async fn handle(State(service): State<SearchService>, Json(body): Json<Value>) -> Response {
    service.requests.lock().unwrap().push(body.clone());
    match &*service.behaviour {
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Fixed { status, body } => (
            StatusCode::from_u16(*status).unwrap(),
            [("content-type", "application/json")],
            body.clone(),
        )
            .into_response(),
        Behaviour::Backed(retriever) => {
            let access = Access {
                user_id: body["user"]["id"].as_str().unwrap_or_default().to_owned(),
                grants: serde_json::from_value(body["user"]["grants"].clone()).unwrap_or_default(),
            };
            let mut query = Query::new(body["query"].as_str().unwrap_or_default(), access)
                .with_k(body["k"].as_u64().unwrap_or(5) as usize);
            query.page = serde_json::from_value(body["page"].clone()).ok();
            query.filters.metadata =
                serde_json::from_value(body["filters"].clone()).unwrap_or_default();
            match retriever.retrieve(&query).await {
                Ok(passages) => {
                    let results: Vec<Value> = passages.iter().map(passage_json).collect();
                    Json(json!({"results": results})).into_response()
                }
                Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
            }
        }
    }
}

impl SearchService {
    fn with(behaviour: Behaviour) -> Self {
        Self {
            behaviour: Arc::new(behaviour),
            requests: Arc::default(),
        }
    }

    /// Answers from `retriever`.
    pub fn backed_by(retriever: impl Retriever + 'static) -> Self {
        Self::with(Behaviour::Backed(Arc::new(retriever)))
    }

    /// Always answers `status` with `body`.
    pub fn fixed(status: u16, body: impl Into<String>) -> Self {
        Self::with(Behaviour::Fixed {
            status,
            body: body.into(),
        })
    }

    /// Accepts requests and never answers.
    pub fn hanging() -> Self {
        Self::with(Behaviour::Hang)
    }

    /// The request bodies received.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// Starts serving on a free port; returns the endpoint URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .route("/search", axum::routing::post(handle))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}/search")
    }
}

fn retriever(url: String, configure: impl FnOnce(&mut HttpRetrieverConfig)) -> HttpRetriever {
    let mut config = HttpRetrieverConfig::new(url);
    configure(&mut config);
    HttpRetriever::new(config).expect("a valid config")
}

fn query() -> Query {
    Query::new(
        "ownership rules",
        Access::user("user_7").with_grant("course:42"),
    )
    .with_k(3)
    .with_page(PageContext {
        url: Some("/courses/42/ownership".into()),
        title: Some("Ownership".into()),
    })
    .with_filter("kind", "lesson")
}

#[tokio::test]
async fn a_success_is_mapped_through_the_configured_fields() {
    let body = json!({"data": {"hits": [
        {"content": "Second best.", "relevance": 0.4,
         "doc": {"name": "Borrowing", "path": "lessons/borrowing.pdf"}, "tags": {"kind": "lesson"}},
        {"content": "Each value has one owner.", "relevance": 0.9,
         "doc": {"name": "Ownership", "link": "https://learn.test/ownership", "heading": "Rules"},
         "tags": {"kind": "lesson", "week": 3}, "acl": ["course:42"]},
        {"content": "Someone else's.", "relevance": 0.8,
         "doc": {"name": "Private", "link": "https://learn.test/p"}, "tags": {"kind": "lesson"},
         "acl": ["user:someone-else"]},
    ]}});
    let service = SearchService::fixed(200, body.to_string());
    let url = service.start().await;
    let retriever = retriever(url, |config| {
        config.fields = FieldMapping {
            results: "/data/hits".into(),
            text: "/content".into(),
            score: "/relevance".into(),
            title: "/doc/name".into(),
            url: "/doc/link".into(),
            file: "/doc/path".into(),
            section: "/doc/heading".into(),
            visibility: "/acl".into(),
            metadata: "/tags".into(),
            ..FieldMapping::default()
        };
    });
    let passages = retriever.retrieve(&query()).await.expect("a success");
    let summary: Vec<(&str, f32, &SourceLocation)> = passages
        .iter()
        .map(|p| (p.source.title.as_str(), p.score, &p.source.location))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Ownership",
                0.9,
                &SourceLocation::Url("https://learn.test/ownership".into())
            ),
            (
                "Borrowing",
                0.4,
                &SourceLocation::File("lessons/borrowing.pdf".into())
            ),
        ],
        "best first; another user's private result dropped even though the service sent it"
    );
    assert_eq!(passages[0].source.section.as_deref(), Some("Rules"));
    assert_eq!(passages[0].source.metadata["week"], "3");
    assert_eq!(
        passages[0].visibility,
        Visibility::Restricted(vec!["course:42".into()])
    );
    assert_eq!(
        service.requests(),
        vec![json!({
            "query": "ownership rules",
            "k": 3,
            "user": {"id": "user_7", "grants": ["course:42"]},
            "filters": {"kind": "lesson"},
            "page": {"url": "/courses/42/ownership", "title": "Ownership"},
        })]
    );
}

#[tokio::test]
async fn a_slow_service_is_a_timeout_and_the_tool_tells_the_model() {
    let service = SearchService::hanging();
    let url = service.start().await;
    let retriever = retriever(url, |config| config.timeout = Duration::from_millis(200));
    match retriever.retrieve(&query()).await {
        Err(RetrievalError::Timeout) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let tool = SearchTool::new(Arc::new(retriever), SearchToolConfig::default());
    let ctx = RunContext::for_user(UserInfo {
        id: "user_7".into(),
        ..UserInfo::default()
    });
    let output = tool
        .call(&ctx, json!({"query": "ownership"}))
        .await
        .expect("a failing search is an output for the model, not a tool failure");
    assert!(output.is_error);
    assert!(
        output.content.contains("did not answer in time"),
        "{}",
        output.content
    );
}

#[tokio::test]
async fn a_server_error_is_a_status_error_and_its_body_stays_out_of_the_model_text() {
    let service = SearchService::fixed(500, r#"{"detail": "db password wrong at 10.0.0.3"}"#);
    let url = service.start().await;
    let retriever = retriever(url, |_| {});
    match retriever.retrieve(&query()).await {
        Err(RetrievalError::Status { status: 500, body }) => assert!(body.contains("detail")),
        other => panic!("expected status 500, got {other:?}"),
    }
    let tool = SearchTool::new(Arc::new(retriever), SearchToolConfig::default());
    let output = tool
        .call(&RunContext::default(), json!({"query": "ownership"}))
        .await
        .expect("an output");
    assert!(output.is_error);
    assert!(!output.content.contains("password"), "{}", output.content);
}

#[tokio::test]
async fn malformed_bodies_are_malformed_response_errors() {
    for body in [
        "this is not json".to_owned(),
        json!({"items": []}).to_string(),
        json!({"results": {"not": "a list"}}).to_string(),
        json!({"results": [{"title": "No text", "url": "https://x.test"}]}).to_string(),
        json!({"results": [{"text": "No location", "title": "T"}]}).to_string(),
        json!({"results": [{"text": "t", "title": "T", "url": "https://x.test", "score": "high"}]})
            .to_string(),
    ] {
        let service = SearchService::fixed(200, body.clone());
        let retriever = retriever(service.start().await, |_| {});
        match retriever.retrieve(&query()).await {
            Err(RetrievalError::MalformedResponse(_)) => {}
            other => panic!("{body}: expected a malformed response, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_service_and_a_bad_url_are_typed_errors() {
    // Bind and drop, so the port is very likely closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let retriever = retriever(format!("http://127.0.0.1:{port}/search"), |_| {});
    match retriever.retrieve(&query()).await {
        Err(RetrievalError::Unreachable(_)) => {}
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(matches!(
        HttpRetriever::new(HttpRetrieverConfig::new("not a url")),
        Err(RetrievalError::Config(_))
    ));
}

#[tokio::test]
async fn results_without_scores_keep_the_service_order() {
    let body = json!({"results": [
        {"text": "first", "title": "A", "url": "https://x.test/a", "metadata": {"kind": "lesson"}},
        {"text": "second", "title": "B", "url": "https://x.test/b", "metadata": {"kind": "lesson"}},
    ]});
    let service = SearchService::fixed(200, body.to_string());
    let retriever = retriever(service.start().await, |_| {});
    let passages = retriever.retrieve(&query()).await.expect("a success");
    let titles: Vec<&str> = passages.iter().map(|p| p.source.title.as_str()).collect();
    assert_eq!(titles, vec!["A", "B"]);
    assert!(passages[0].score > passages[1].score);
}
