//! Reading files into sections: Markdown (with YAML or TOML front matter), HTML, plain text and
//! PDF text.

use std::collections::BTreeMap;
use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::chunk::{Section, slug};
use crate::types::Visibility;

/// The kinds of file the embedded index reads, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.md`, `.markdown`.
    Markdown,
    /// `.html`, `.htm`.
    Html,
    /// `.txt`, `.text`.
    Text,
    /// `.pdf` (text only; needs the `pdf` feature).
    Pdf,
}

impl FileKind {
    /// The kind of `path`, or `None` for files the index skips.
    pub fn of(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "html" | "htm" => Some(Self::Html),
            "txt" | "text" => Some(Self::Text),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }
}

/// A file read into sections, with what it says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedDocument {
    /// Title from front matter, `<title>`, or the first top-level heading.
    pub title: Option<String>,
    /// Canonical URL from front matter (`url`) or `<link rel="canonical">`.
    pub url: Option<String>,
    /// Who may see it (front matter or `<meta name="visibility">`).
    pub visibility: Visibility,
    /// Other scalar front-matter keys.
    pub metadata: BTreeMap<String, String>,
    /// The text, by heading.
    pub sections: Vec<Section>,
}

/// Why a file could not be read into sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure(pub String);

/// Parses `bytes` as a file of `kind`.
///
/// # Errors
/// [`ParseFailure`] when the bytes are not valid text for the kind (bad UTF-8, bad front matter,
/// an unreadable PDF, or a PDF without the `pdf` feature).
pub fn parse(kind: FileKind, bytes: &[u8]) -> Result<ParsedDocument, ParseFailure> {
    match kind {
        FileKind::Markdown => parse_markdown(utf8(bytes)?),
        FileKind::Html => Ok(parse_html(utf8(bytes)?)),
        FileKind::Text => Ok(parse_text(utf8(bytes)?)),
        FileKind::Pdf => parse_pdf(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, ParseFailure> {
    std::str::from_utf8(bytes).map_err(|error| ParseFailure(format!("not UTF-8 text: {error}")))
}

/// Splits front matter (`---` YAML or `+++` TOML) from the body.
fn split_front_matter(text: &str) -> (Option<(&str, bool)>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (fence, is_yaml) in [("---", true), ("+++", false)] {
        let Some(rest) = text.strip_prefix(fence) else {
            continue;
        };
        let Some(rest) = rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\r\n"))
        else {
            continue;
        };
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            if line.trim_end() == fence {
                return (
                    Some((&rest[..offset], is_yaml)),
                    &rest[offset + line.len()..],
                );
            }
            offset += line.len();
        }
    }
    (None, text)
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn apply_front_matter(
    document: &mut ParsedDocument,
    source: &str,
    is_yaml: bool,
) -> Result<(), ParseFailure> {
    let value: serde_json::Value = if is_yaml {
        serde_yaml_ng::from_str(source)
            .map_err(|error| ParseFailure(format!("bad YAML front matter: {error}")))?
    } else {
        toml::from_str(source)
            .map_err(|error| ParseFailure(format!("bad TOML front matter: {error}")))?
    };
    let serde_json::Value::Object(fields) = value else {
        // `---\n---` is an empty front matter, which YAML reads as null.
        return if value.is_null() {
            Ok(())
        } else {
            Err(ParseFailure("front matter is not a mapping".into()))
        };
    };
    for (key, value) in fields {
        match key.as_str() {
            "title" => document.title = scalar_text(&value),
            "url" => document.url = scalar_text(&value),
            "visibility" => {
                let tags: Vec<String> = match &value {
                    serde_json::Value::Array(items) => {
                        items.iter().filter_map(scalar_text).collect()
                    }
                    other => scalar_text(other)
                        .map(|text| text.split(',').map(str::to_owned).collect())
                        .unwrap_or_default(),
                };
                document.visibility = Visibility::from_tags(tags);
            }
            _ => {
                if let Some(text) = scalar_text(&value) {
                    document.metadata.insert(key, text);
                }
            }
        }
    }
    Ok(())
}

/// Parses Markdown: front matter, then one section per heading.
pub fn parse_markdown(text: &str) -> Result<ParsedDocument, ParseFailure> {
    let mut document = ParsedDocument::default();
    let (front_matter, body) = split_front_matter(text);
    if let Some((source, is_yaml)) = front_matter {
        apply_front_matter(&mut document, source, is_yaml)?;
    }
    let mut sections = vec![Section::default()];
    let mut stack: Vec<(HeadingLevel, String)> = Vec::new();
    let mut heading: Option<(HeadingLevel, Option<String>, String)> = None;
    let mut first_h1: Option<String> = None;
    for event in Parser::new_ext(
        body,
        Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TABLES,
    ) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                heading = Some((level, id.map(|id| id.to_string()), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                let Some((level, id, text)) = heading.take() else {
                    continue;
                };
                let text = text.trim().to_owned();
                if level == HeadingLevel::H1 && first_h1.is_none() {
                    first_h1 = Some(text.clone());
                }
                stack.retain(|(outer, _)| *outer < level);
                stack.push((level, text.clone()));
                sections.push(Section {
                    headings: stack.iter().map(|(_, text)| text.clone()).collect(),
                    anchor: Some(id.unwrap_or_else(|| slug(&text))),
                    text: String::new(),
                });
            }
            Event::Text(text) | Event::Code(text) | Event::InlineHtml(text) => {
                match heading.as_mut() {
                    Some((_, _, heading_text)) => heading_text.push_str(&text),
                    None => push(&mut sections, &text),
                }
            }
            Event::SoftBreak => push_to(&mut heading, &mut sections, " "),
            Event::HardBreak => push_to(&mut heading, &mut sections, "\n"),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableRow
                | TagEnd::TableHead,
            ) => push(&mut sections, "\n\n"),
            Event::End(TagEnd::TableCell) => push(&mut sections, " | "),
            _ => {}
        }
    }
    if document.title.is_none() {
        document.title = first_h1;
    }
    document.sections = sections;
    Ok(document)
}

fn push(sections: &mut [Section], text: &str) {
    if let Some(section) = sections.last_mut() {
        section.text.push_str(text);
    }
}

fn push_to(
    heading: &mut Option<(HeadingLevel, Option<String>, String)>,
    sections: &mut [Section],
    text: &str,
) {
    match heading.as_mut() {
        Some((_, _, heading_text)) => heading_text.push_str(text),
        None => push(sections, text),
    }
}

/// Parses HTML: `<title>`, canonical link, `<meta name="visibility">`, then the body's text by
/// `h1`-`h6` heading; scripts, styles and navigation are skipped.
pub fn parse_html(text: &str) -> ParsedDocument {
    use scraper::{Html, Node, Selector};

    let html = Html::parse_document(text);
    let mut document = ParsedDocument::default();
    let select = |css: &str| Selector::parse(css).ok();
    if let Some(selector) = select("title") {
        document.title = html
            .select(&selector)
            .next()
            .map(|title| title.text().collect::<String>().trim().to_owned())
            .filter(|title| !title.is_empty());
    }
    if let Some(selector) = select(r#"link[rel="canonical"]"#) {
        document.url = html
            .select(&selector)
            .next()
            .and_then(|link| link.value().attr("href"))
            .map(str::to_owned);
    }
    if let Some(selector) = select("meta[name][content]") {
        for meta in html.select(&selector) {
            let (Some(name), Some(content)) =
                (meta.value().attr("name"), meta.value().attr("content"))
            else {
                continue;
            };
            if name == "visibility" {
                document.visibility = Visibility::from_tags(content.split(','));
            } else if !matches!(name, "viewport" | "generator") {
                document
                    .metadata
                    .insert(name.to_owned(), content.to_owned());
            }
        }
    }
    let mut sections = vec![Section::default()];
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut first_h1 = None;
    let skipped = ["script", "style", "noscript", "template", "nav", "head"];
    let heading_level = |name: &str| match name {
        "h1" => Some(1u8),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    };
    let block = [
        "p",
        "div",
        "li",
        "tr",
        "pre",
        "blockquote",
        "section",
        "article",
        "br",
        "dd",
        "dt",
    ];
    for node in html.tree.root().descendants() {
        match node.value() {
            Node::Element(element) => {
                if let Some(level) = heading_level(element.name()) {
                    let Some(heading) = scraper::ElementRef::wrap(node) else {
                        continue;
                    };
                    let text = heading
                        .text()
                        .collect::<String>()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if level == 1 && first_h1.is_none() {
                        first_h1 = Some(text.clone());
                    }
                    stack.retain(|(outer, _)| *outer < level);
                    stack.push((level, text.clone()));
                    sections.push(Section {
                        headings: stack.iter().map(|(_, text)| text.clone()).collect(),
                        anchor: Some(
                            element
                                .attr("id")
                                .map_or_else(|| slug(&text), str::to_owned),
                        ),
                        text: String::new(),
                    });
                } else if block.contains(&element.name()) {
                    push(&mut sections, "\n");
                }
            }
            Node::Text(text) => {
                let inside_skipped_or_heading = node.ancestors().any(|ancestor| {
                    ancestor.value().as_element().is_some_and(|element| {
                        skipped.contains(&element.name()) || heading_level(element.name()).is_some()
                    })
                });
                if !inside_skipped_or_heading {
                    push(&mut sections, text);
                }
            }
            _ => {}
        }
    }
    if document.title.is_none() {
        document.title = first_h1;
    }
    document.sections = sections;
    document
}

/// Parses plain text: one section.
pub fn parse_text(text: &str) -> ParsedDocument {
    ParsedDocument {
        sections: vec![Section {
            text: text.to_owned(),
            ..Section::default()
        }],
        ..ParsedDocument::default()
    }
}

/// Extracts a PDF's text, one section per page (anchored `page=N`, which PDF viewers open).
#[cfg(feature = "pdf")]
pub fn parse_pdf(bytes: &[u8]) -> Result<ParsedDocument, ParseFailure> {
    // The extractor is known to panic on some malformed files; a bad file must cost only itself.
    let extracted = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| ParseFailure("the PDF could not be read (extractor failed)".into()))?
        .map_err(|error| ParseFailure(format!("the PDF could not be read: {error}")))?;
    let sections = extracted
        .into_iter()
        .enumerate()
        .map(|(index, text)| Section {
            headings: vec![format!("Page {}", index + 1)],
            anchor: Some(format!("page={}", index + 1)),
            text,
        })
        .collect();
    Ok(ParsedDocument {
        sections,
        ..ParsedDocument::default()
    })
}

/// Without the `pdf` feature a PDF is reported, not silently skipped.
#[cfg(not(feature = "pdf"))]
pub fn parse_pdf(_bytes: &[u8]) -> Result<ParsedDocument, ParseFailure> {
    Err(ParseFailure(
        "PDF support is not compiled in (feature `pdf`)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_front_matter_sets_title_url_visibility_and_metadata() {
        let document = parse_markdown(
            "---\ntitle: Grading\nurl: https://x.test/grading\nvisibility: [course:42, role:teacher]\nkind: guide\nweight: 3\n---\n# Ignored title\n\nBody.\n",
        )
        .unwrap();
        assert_eq!(document.title.as_deref(), Some("Grading"));
        assert_eq!(document.url.as_deref(), Some("https://x.test/grading"));
        assert_eq!(
            document.visibility,
            Visibility::Restricted(vec!["course:42".into(), "role:teacher".into()])
        );
        assert_eq!(
            document.metadata.get("kind").map(String::as_str),
            Some("guide")
        );
        assert_eq!(
            document.metadata.get("weight").map(String::as_str),
            Some("3")
        );
    }

    #[test]
    fn toml_front_matter_and_bad_front_matter() {
        let document =
            parse_markdown("+++\ntitle = \"T\"\nvisibility = \"user:alice\"\n+++\nx").unwrap();
        assert_eq!(document.title.as_deref(), Some("T"));
        assert_eq!(
            document.visibility,
            Visibility::Restricted(vec!["user:alice".into()])
        );
        assert!(parse_markdown("---\ntitle: [unclosed\n---\nx").is_err());
    }

    #[test]
    fn markdown_sections_follow_the_heading_tree() {
        let document = parse_markdown(
            "Intro text.\n\n# Guide\n\nTop.\n\n## Install {#setup}\n\nRun `cargo`.\n\n### Linux\n\nApt.\n\n## Configure JWKS\n\nSet it.\n",
        )
        .unwrap();
        assert_eq!(document.title.as_deref(), Some("Guide"));
        let paths: Vec<_> = document
            .sections
            .iter()
            .map(|s| (s.heading_path(), s.anchor.clone(), s.text.trim().to_owned()))
            .collect();
        assert_eq!(
            paths,
            vec![
                (None, None, "Intro text.".to_owned()),
                (Some("Guide".into()), Some("guide".into()), "Top.".into()),
                (
                    Some("Guide > Install".into()),
                    Some("setup".into()),
                    "Run cargo.".into()
                ),
                (
                    Some("Guide > Install > Linux".into()),
                    Some("linux".into()),
                    "Apt.".into()
                ),
                (
                    Some("Guide > Configure JWKS".into()),
                    Some("configure-jwks".into()),
                    "Set it.".into()
                ),
            ]
        );
    }

    #[test]
    fn html_sections_skip_scripts_and_read_meta() {
        let document = parse_html(
            r#"<html><head><title>Page</title><link rel="canonical" href="https://x.test/p">
            <meta name="visibility" content="course:7"><meta name="kind" content="faq">
            <script>var secret = 1;</script></head>
            <body><nav>Menu</nav><p>Lead.</p><h2 id="q1">First question</h2><p>Answer one.</p>
            <h2>Second</h2><p>Answer <b>two</b>.</p><style>p{}</style></body></html>"#,
        );
        assert_eq!(document.title.as_deref(), Some("Page"));
        assert_eq!(document.url.as_deref(), Some("https://x.test/p"));
        assert_eq!(
            document.visibility,
            Visibility::Restricted(vec!["course:7".into()])
        );
        assert_eq!(
            document.metadata.get("kind").map(String::as_str),
            Some("faq")
        );
        let texts: Vec<_> = document
            .sections
            .iter()
            .map(|s| {
                (
                    s.anchor.clone(),
                    s.text.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                (None, "Lead.".to_owned()),
                (Some("q1".into()), "Answer one.".into()),
                (Some("second".into()), "Answer two .".replace(" .", ".")),
            ]
        );
    }

    #[test]
    fn file_kinds_by_extension() {
        assert_eq!(FileKind::of(Path::new("a/B.MD")), Some(FileKind::Markdown));
        assert_eq!(FileKind::of(Path::new("a.htm")), Some(FileKind::Html));
        assert_eq!(FileKind::of(Path::new("a.pdf")), Some(FileKind::Pdf));
        assert_eq!(FileKind::of(Path::new("a.png")), None);
        assert_eq!(FileKind::of(Path::new("Makefile")), None);
    }
}
