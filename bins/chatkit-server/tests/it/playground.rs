//! The playground page at `GET /` and its assets, as a browser would fetch them.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, IF_NONE_MATCH};

use crate::support::*;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

async fn fetch(app: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("sends");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("reads"))
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_its_assets() {
    let app = spawn_app(Db::Sqlite).await;

    let (status, headers, page) = fetch(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    let policy = header(&headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing in {policy}"
        );
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    // The page learns where the endpoint is from the server's configuration.
    assert!(
        page.contains(r#"<meta name="chatkit-endpoint" content="/chatkit">"#),
        "{page}"
    );

    let (status, headers, script) = fetch(&app, "/playground/playground.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(page.contains(r#"src="/playground/playground.js""#));
    assert!(script.contains("threads.add_user_message"));
    assert!(script.contains("getReader"), "streams are read with fetch");

    let (status, headers, style) = fetch(&app, "/playground/playground.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/css; charset=utf-8");
    assert!(page.contains(r#"href="/playground/playground.css""#));
    assert!(style.contains(".composer"));

    let (status, headers, _) = fetch(&app, "/playground/icon.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "image/svg+xml");

    // Unknown assets stay JSON 404s like every other unknown path.
    let (status, headers, body) = fetch(&app, "/playground/missing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert!(body.contains("not_found"), "{body}");
}

#[tokio::test]
async fn assets_revalidate_with_their_etag() {
    let app = spawn_app(Db::Sqlite).await;
    let response = app
        .client
        .get(format!("{}/playground/playground.js", app.base))
        .send()
        .await
        .expect("sends");
    assert_eq!(header(response.headers(), "cache-control"), "no-cache");
    let etag = header(response.headers(), ETAG.as_str()).to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");

    let revalidated = app
        .client
        .get(format!("{}/playground/playground.js", app.base))
        .header(IF_NONE_MATCH, etag.as_str())
        .send()
        .await
        .expect("sends");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes().await.expect("reads").is_empty());

    let stale = app
        .client
        .get(format!("{}/playground/playground.js", app.base))
        .header(IF_NONE_MATCH, "\"0000000000000000\"")
        .send()
        .await
        .expect("sends");
    assert_eq!(stale.status(), StatusCode::OK);
    assert!(header(stale.headers(), CONTENT_TYPE.as_str()).starts_with("text/javascript"));
}

#[tokio::test]
async fn the_page_follows_a_configured_endpoint_path() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.server.path = "/api/chatkit".to_owned();
    })
    .await;
    let (status, _, page) = fetch(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<meta name="chatkit-endpoint" content="/api/chatkit">"#),
        "{page}"
    );
}
