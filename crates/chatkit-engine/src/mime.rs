//! The one place MIME types are read: what an attachment's type is, and whether it is accepted.
//!
//! Uploads through `attachments.create`, direct uploads, downloads, the model's view of an
//! attachment and dictated audio all ask the same questions; answering them here keeps a type
//! from being accepted by one door and refused by another.

/// The media type of a MIME string: without parameters, trimmed, lowercase
/// (`Image/PNG; q=1` → `image/png`).
pub fn media_type(mime_type: &str) -> String {
    mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether attachments of type `mime_type` are accepted by `allowed`: exact media types, or
/// prefixes ending in `/` (`image/`). An empty list accepts any type, but a string with no `/`
/// is never a media type.
pub fn is_allowed_type(mime_type: &str, allowed: &[String]) -> bool {
    let media_type = media_type(mime_type);
    media_type.contains('/')
        && (allowed.is_empty()
            || allowed.iter().any(|allowed| {
                if allowed.ends_with('/') {
                    media_type.starts_with(allowed.as_str())
                } else {
                    media_type == *allowed
                }
            }))
}

/// Raster image types a browser may show inline. SVG is left out: it can carry script.
pub fn is_inline_image(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    )
}

/// Image types vision models accept. SVG is text to a model (and script to a browser), so it is
/// treated as neither.
pub(crate) fn is_model_image(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
    )
}

/// Types whose bytes a model reads as text.
pub(crate) fn is_text(media_type: &str) -> bool {
    media_type.starts_with("text/")
        || media_type == "application/json"
        || media_type.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_lose_parameters_space_and_case() {
        assert_eq!(media_type(" Text/Plain ; charset=utf-8"), "text/plain");
        assert_eq!(media_type(""), "");
    }

    #[test]
    fn allowed_types_match_exactly_or_by_prefix() {
        let allowed = vec!["image/".to_owned(), "application/json".to_owned()];
        assert!(is_allowed_type("image/png", &allowed));
        assert!(is_allowed_type("Application/JSON; charset=utf-8", &allowed));
        assert!(!is_allowed_type("application/x-msdownload", &allowed));
        assert!(!is_allowed_type("nonsense", &[]));
        assert!(is_allowed_type("anything/else", &[]));
    }
}
