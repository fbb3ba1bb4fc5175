//! Splitting a parsed document into passages: by heading first, then by size with overlap.

use serde::{Deserialize, Serialize};

use crate::RetrievalError;

/// How documents are cut into passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Largest passage, in characters. A section longer than this is cut at whitespace.
    pub max_chars: usize,
    /// Characters the next piece of a long section repeats from the end of the previous one, so
    /// that a sentence cut in two is whole in one of them.
    pub overlap_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            max_chars: 1200,
            overlap_chars: 200,
        }
    }
}

impl ChunkConfig {
    /// Checks that the sizes can make progress.
    ///
    /// # Errors
    /// [`RetrievalError::Config`] when `max_chars` is below 50 or the overlap is not smaller
    /// than half of it.
    pub fn validate(&self) -> Result<(), RetrievalError> {
        if self.max_chars < 50 {
            return Err(RetrievalError::Config(format!(
                "chunk max_chars must be at least 50, not {}",
                self.max_chars
            )));
        }
        if self.overlap_chars * 2 >= self.max_chars {
            return Err(RetrievalError::Config(format!(
                "chunk overlap_chars ({}) must be less than half of max_chars ({})",
                self.overlap_chars, self.max_chars
            )));
        }
        Ok(())
    }
}

/// A part of a document under one heading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// The headings above this text, outermost first (empty before the first heading).
    pub headings: Vec<String>,
    /// The anchor of the innermost heading.
    pub anchor: Option<String>,
    /// The text.
    pub text: String,
}

impl Section {
    /// The heading path as shown to readers: `Outer > Inner`.
    pub fn heading_path(&self) -> Option<String> {
        (!self.headings.is_empty()).then(|| self.headings.join(" > "))
    }
}

/// One passage cut from a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position of the chunk in its document, from 0.
    pub ordinal: usize,
    /// The section's heading path.
    pub section: Option<String>,
    /// The section's anchor.
    pub anchor: Option<String>,
    /// The text.
    pub text: String,
}

/// Cuts `sections` into chunks of at most `config.max_chars` characters. Empty sections give no
/// chunk; a section that fits is one chunk; a longer one is cut at whitespace into pieces that
/// overlap by about `config.overlap_chars`.
pub fn chunk_sections(sections: &[Section], config: ChunkConfig) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for section in sections {
        let text = normalize_whitespace(&section.text);
        if text.is_empty() {
            continue;
        }
        for piece in split_with_overlap(&text, config) {
            chunks.push(Chunk {
                ordinal: chunks.len(),
                section: section.heading_path(),
                anchor: section.anchor.clone(),
                text: piece,
            });
        }
    }
    chunks
}

/// Collapses runs of spaces and tabs and more than one blank line, keeping paragraph breaks.
fn normalize_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        blank_lines = 0;
        out.push_str(&line);
    }
    out
}

fn split_with_overlap(text: &str, config: ChunkConfig) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= config.max_chars {
        return vec![text.to_owned()];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + config.max_chars).min(chars.len());
        if end < chars.len() {
            // Cut at the last whitespace in the second half of the window, so words stay whole.
            if let Some(cut) = (start + config.max_chars / 2..end)
                .rev()
                .find(|&index| chars[index].is_whitespace())
            {
                end = cut;
            }
        }
        let piece: String = chars[start..end].iter().collect();
        pieces.push(piece.trim().to_owned());
        if end >= chars.len() {
            break;
        }
        // Step back by the overlap, then forward to a word start so no piece begins mid-word.
        let mut next = end.saturating_sub(config.overlap_chars).max(start + 1);
        while next < end && !chars[next - 1].is_whitespace() {
            next += 1;
        }
        start = next;
    }
    pieces
}

/// A GitHub-style anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(headings: &[&str], text: &str) -> Section {
        Section {
            headings: headings.iter().map(|h| (*h).to_owned()).collect(),
            anchor: headings.last().map(|h| slug(h)),
            text: text.to_owned(),
        }
    }

    #[test]
    fn a_short_section_is_one_chunk_with_its_heading_path() {
        let chunks = chunk_sections(
            &[section(
                &["Auth", "JWKS"],
                "Set  jwks_url.\n\n\n\nThat is all.",
            )],
            ChunkConfig::default(),
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].section.as_deref(), Some("Auth > JWKS"));
        assert_eq!(chunks[0].anchor.as_deref(), Some("jwks"));
        assert_eq!(chunks[0].text, "Set jwks_url.\n\nThat is all.");
    }

    #[test]
    fn empty_sections_give_no_chunk_and_ordinals_count_across_sections() {
        let chunks = chunk_sections(
            &[
                section(&[], "Intro."),
                section(&["Empty"], "  \n "),
                section(&["Next"], "Body."),
            ],
            ChunkConfig::default(),
        );
        let ordinals: Vec<_> = chunks.iter().map(|c| c.ordinal).collect();
        assert_eq!(ordinals, vec![0, 1]);
        assert_eq!(chunks[1].section.as_deref(), Some("Next"));
    }

    #[test]
    fn a_long_section_is_cut_at_words_with_overlap_and_loses_nothing() {
        let words: Vec<String> = (0..400).map(|n| format!("word{n}")).collect();
        let text = words.join(" ");
        let config = ChunkConfig {
            max_chars: 300,
            overlap_chars: 60,
        };
        let chunks = chunk_sections(&[section(&["Long"], &text)], config);
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        for chunk in &chunks {
            assert!(chunk.text.chars().count() <= 300, "{}", chunk.text.len());
            // Whole words only: every token is one of ours.
            for token in chunk.text.split_whitespace() {
                assert!(words.contains(&token.to_owned()), "cut word {token:?}");
            }
        }
        for pair in chunks.windows(2) {
            let last_of_previous = pair[0].text.split_whitespace().last().unwrap();
            assert!(
                pair[1].text.contains(last_of_previous),
                "consecutive chunks overlap"
            );
        }
        for word in &words {
            assert!(
                chunks
                    .iter()
                    .any(|c| c.text.split_whitespace().any(|t| t == word))
            );
        }
    }

    #[test]
    fn config_validation_rejects_sizes_that_cannot_progress() {
        assert!(ChunkConfig::default().validate().is_ok());
        let tiny = ChunkConfig {
            max_chars: 10,
            overlap_chars: 0,
        };
        assert!(matches!(tiny.validate(), Err(RetrievalError::Config(_))));
        let overlap = ChunkConfig {
            max_chars: 100,
            overlap_chars: 50,
        };
        assert!(matches!(overlap.validate(), Err(RetrievalError::Config(_))));
    }

    #[test]
    fn slugs_follow_github() {
        assert_eq!(
            slug("Configure JWKS (Better Auth)"),
            "configure-jwks-better-auth"
        );
        assert_eq!(slug("  `k` and filters "), "k-and-filters");
    }
}
