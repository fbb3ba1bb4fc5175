//! Citation markers in the model's answer (`[1]`, `[2][3]`, `[1, 2]`) mapped to the passages the
//! search tool numbered, and to ChatKit annotations.

use chatkit_protocol::items::{Annotation, AnnotationTag, FileSource, Source, UrlSource};

use crate::{Passage, PassageSource, SourceLocation};

pub use chatkit_protocol::citations::MarkerMode;

/// One cited number at one place in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    /// The number the model wrote (1-based, as the tool numbered the passages).
    pub number: usize,
    /// Position in the returned text, in characters (Unicode scalar values, like the
    /// reference's Python string indices): where the marker ended, i.e. the end of the cited
    /// statement, as the reference uses a citation's `end_index`.
    pub index: usize,
    /// The passage cited.
    pub passage: Passage,
}

impl Citation {
    /// The ChatKit annotation for this citation.
    pub fn annotation(&self) -> Annotation {
        Annotation {
            kind: AnnotationTag::Annotation,
            source: annotation_source(&self.passage.source),
            index: Some(i64::try_from(self.index).unwrap_or(i64::MAX)),
        }
    }
}

/// The text with its citations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CitedText {
    /// The text, markers stripped or kept as asked.
    pub text: String,
    /// The citations in text order.
    pub citations: Vec<Citation>,
}

impl CitedText {
    /// One annotation per citation, in text order.
    pub fn annotations(&self) -> Vec<Annotation> {
        self.citations.iter().map(Citation::annotation).collect()
    }
}

/// The ChatKit source of a passage: a URL source for web pages, a file source for files.
pub fn annotation_source(source: &PassageSource) -> Source {
    match &source.location {
        SourceLocation::Url(url) => Source::Url(UrlSource {
            title: source.title.clone(),
            description: source.section.clone(),
            timestamp: None,
            group: None,
            url: url.clone(),
            attribution: None,
        }),
        SourceLocation::File(filename) => Source::File(FileSource {
            title: source.title.clone(),
            description: source.section.clone(),
            timestamp: None,
            group: None,
            filename: filename.clone(),
        }),
    }
}

/// Finds the citation markers in `text` that name one of `passages` (marker `n` is
/// `passages[n - 1]`), and returns the text with the markers stripped or kept, and each citation
/// with its position in that text.
///
/// Markers naming a number with no passage, markers inside code (between backticks) and
/// Markdown links are left as they are and cite nothing (the convention is
/// [`chatkit_protocol::citations::find_markers`]'s).
pub fn map_citations(text: &str, passages: &[Passage], mode: MarkerMode) -> CitedText {
    let marked = chatkit_protocol::citations::find_markers(
        text,
        |number| (1..=passages.len()).contains(&number),
        mode,
    );
    CitedText {
        text: marked.text,
        citations: marked
            .markers
            .into_iter()
            .map(|marker| Citation {
                number: marker.number,
                index: marker.index,
                passage: passages[marker.number - 1].clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Visibility;

    fn passage(title: &str, location: SourceLocation) -> Passage {
        Passage {
            id: title.to_lowercase(),
            text: format!("{title} text"),
            score: 1.0,
            source: PassageSource {
                title: title.to_owned(),
                location,
                section: Some("Section".into()),
                anchor: None,
                metadata: Default::default(),
            },
            visibility: Visibility::Public,
        }
    }

    fn passages() -> Vec<Passage> {
        vec![
            passage(
                "JWKS",
                SourceLocation::Url("https://d.test/auth#jwks".into()),
            ),
            passage("Limits", SourceLocation::File("docs/limits.md".into())),
        ]
    }

    fn summary(cited: &CitedText) -> Vec<(usize, usize, String)> {
        cited
            .citations
            .iter()
            .map(|c| (c.number, c.index, c.passage.source.title.clone()))
            .collect()
    }

    #[test]
    fn stripped_markers_become_citations_at_the_end_of_the_statement() {
        let cited = map_citations(
            "Set jwks_url [1]. Sixty per minute [2][1], see [1, 2].",
            &passages(),
            MarkerMode::Strip,
        );
        assert_eq!(cited.text, "Set jwks_url. Sixty per minute, see.");
        assert_eq!(
            summary(&cited),
            vec![
                (1, 12, "JWKS".into()),
                (2, 30, "Limits".into()),
                (1, 30, "JWKS".into()),
                (1, 35, "JWKS".into()),
                (2, 35, "Limits".into()),
            ]
        );
        // The index points right after the cited words in the stripped text.
        assert_eq!(
            cited.text.chars().take(12).collect::<String>(),
            "Set jwks_url"
        );
    }

    #[test]
    fn kept_markers_stay_and_the_index_is_after_them() {
        let cited = map_citations("Set it [1].", &passages(), MarkerMode::Keep);
        assert_eq!(cited.text, "Set it [1].");
        assert_eq!(summary(&cited), vec![(1, 10, "JWKS".into())]);
    }

    #[test]
    fn indices_count_characters_not_bytes() {
        let cited = map_citations("Größe ändern [2] ok", &passages(), MarkerMode::Strip);
        assert_eq!(cited.text, "Größe ändern ok");
        assert_eq!(cited.citations[0].index, "Größe ändern".chars().count());
    }

    #[test]
    fn unknown_numbers_links_and_code_are_left_alone() {
        let text = "No [3], no [0], link [1](https://x.test), def\n[2]: x, `arr[1]`, [a], [1";
        let cited = map_citations(text, &passages(), MarkerMode::Strip);
        assert_eq!(cited.text, text);
        assert!(cited.citations.is_empty());
    }

    #[test]
    fn annotations_carry_url_and_file_sources_with_the_index() {
        let cited = map_citations("A [1] b [2]", &passages(), MarkerMode::Strip);
        let annotations = serde_json::to_value(cited.annotations()).unwrap();
        assert_eq!(
            annotations,
            serde_json::json!([
                {"type": "annotation", "index": 1, "source": {
                    "type": "url", "title": "JWKS", "description": "Section",
                    "url": "https://d.test/auth#jwks"}},
                {"type": "annotation", "index": 3, "source": {
                    "type": "file", "title": "Limits", "description": "Section",
                    "filename": "docs/limits.md"}},
            ])
        );
    }
}
