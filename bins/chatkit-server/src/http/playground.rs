//! The playground: a small ChatKit web client of our own, served at `GET /`.
//!
//! The official ChatKit web component only loads from its vendor's CDN, so a self-hosted server
//! would otherwise ship no way to try it from a browser. The page is plain HTML, CSS and
//! JavaScript embedded in the binary (no build step, no external URL) and speaks the protocol
//! like any other client: it `POST`s JSON to the ChatKit endpoint and reads JSON or SSE back,
//! with the bearer token the user typed in.
//!
//! Every response carries a strict Content-Security-Policy: scripts, styles and fetches only from
//! this origin, images from this origin or from `blob:` URLs (attachment previews are fetched
//! with the bearer token and shown from a blob), nothing inline, no framing. The page renders
//! model text with `textContent` only, so even a policy bypass would not turn model output into
//! markup.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, web};

/// The policy every playground response carries (see the module documentation for why each
/// source is allowed).
pub const PLAYGROUND_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
     script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Path of the playground's script.
pub const PLAYGROUND_SCRIPT_PATH: &str = "/playground/playground.js";
/// Path of the playground's style sheet.
pub const PLAYGROUND_STYLE_PATH: &str = "/playground/playground.css";
/// Path of the playground's icon.
pub const PLAYGROUND_ICON_PATH: &str = "/playground/icon.svg";

const INDEX_HTML: &str = include_str!("../../static/index.html");
const PLAYGROUND_JS: &str = include_str!("../../static/playground.js");
const PLAYGROUND_CSS: &str = include_str!("../../static/playground.css");
const ICON_SVG: &str = include_str!("../../static/icon.svg");

/// Where the page learns the ChatKit endpoint's path: a `<meta>` tag, because the policy allows
/// no inline script to carry it.
const ENDPOINT_PLACEHOLDER: &str = "{{CHATKIT_ENDPOINT}}";

/// One embedded file, ready to answer with.
struct Asset {
    body: web::Bytes,
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(body: impl Into<web::Bytes>, content_type: &'static str) -> Self {
        let body = body.into();
        // The bytes never change while the process runs, so a hash of them is a valid strong
        // validator; `no-cache` plus the ETag makes browsers revalidate and pick up a new build.
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        Self {
            body,
            content_type,
            etag,
        }
    }

    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let not_modified = req
            .headers()
            .get(IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.split(',').map(str::trim).any(|candidate| {
                    candidate == "*" || candidate.trim_start_matches("W/") == self.etag
                })
            });
        let mut response = if not_modified {
            HttpResponse::build(StatusCode::NOT_MODIFIED)
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((CONTENT_TYPE, self.content_type))
            .insert_header((CACHE_CONTROL, "no-cache"))
            .insert_header((ETAG, self.etag.as_str()))
            .insert_header((
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PLAYGROUND_CONTENT_SECURITY_POLICY),
            ))
            .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((X_FRAME_OPTIONS, "DENY"))
            .insert_header((REFERRER_POLICY, "no-referrer"));
        if not_modified {
            response.finish()
        } else {
            response.body(self.body.clone())
        }
    }
}

/// FNV-1a, 64 bits: enough to tell two builds of a small file apart, with no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Escapes text for a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The page, told where the ChatKit endpoint is.
fn render_index(chatkit_path: &str) -> String {
    INDEX_HTML.replace(ENDPOINT_PLACEHOLDER, &escape_attribute(chatkit_path))
}

/// Registers `GET /` and the page's assets.
pub fn configure(cfg: &mut web::ServiceConfig, chatkit_path: &str) {
    let routes = [
        (
            "/",
            Asset::new(render_index(chatkit_path), "text/html; charset=utf-8"),
        ),
        (
            PLAYGROUND_SCRIPT_PATH,
            Asset::new(PLAYGROUND_JS, "text/javascript; charset=utf-8"),
        ),
        (
            PLAYGROUND_STYLE_PATH,
            Asset::new(PLAYGROUND_CSS, "text/css; charset=utf-8"),
        ),
        (PLAYGROUND_ICON_PATH, Asset::new(ICON_SVG, "image/svg+xml")),
    ];
    // The demo's documentation, which its search results link to (plain text, so that a browser
    // shows it rather than downloading it).
    let docs = crate::demo_corpus::DEMO_DOCS.iter().map(|doc| {
        (
            format!("{}/{}", crate::demo_corpus::DEMO_DOCS_PATH, doc.name),
            Asset::new(doc.text, "text/plain; charset=utf-8"),
        )
    });
    let routes = routes
        .into_iter()
        .map(|(path, asset)| (path.to_owned(), asset))
        .chain(docs);
    for (path, asset) in routes {
        let asset = Arc::new(asset);
        cfg.route(
            &path,
            web::get().to(move |req: HttpRequest| {
                let asset = Arc::clone(&asset);
                async move { asset.respond(&req) }
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_path_is_escaped_into_the_page() {
        let page = render_index("/a\"b<c>&'");
        assert!(
            page.contains(r#"content="/a&quot;b&lt;c&gt;&amp;&#39;""#),
            "{page}"
        );
        assert!(!page.contains(ENDPOINT_PLACEHOLDER));
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        for path in [
            PLAYGROUND_SCRIPT_PATH,
            PLAYGROUND_STYLE_PATH,
            PLAYGROUND_ICON_PATH,
        ] {
            assert!(INDEX_HTML.contains(&format!("\"{path}\"")), "{path}");
        }
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("playground.js", PLAYGROUND_JS),
            ("playground.css", PLAYGROUND_CSS),
        ] {
            // The SVG namespace is a name that is never fetched, not a URL the page loads.
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!text.contains("http://"), "{name} names an external URL");
            assert!(!text.contains("https://"), "{name} names an external URL");
            assert!(!text.contains("<script>"), "{name} has an inline script");
            assert!(!text.contains(" style="), "{name} has an inline style");
        }
    }

    #[test]
    fn model_text_never_reaches_inner_html() {
        // The page builds every node with createElement/textContent; a single innerHTML or
        // insertAdjacentHTML would be one careless change away from rendering model output.
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(!PLAYGROUND_JS.contains(forbidden), "{forbidden}");
        }
    }

    #[test]
    fn etags_change_with_the_bytes() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
