//! Inline citation markers (`[1]`, `[2][3]`, `[1, 2]`) in an assistant's text: where they are,
//! and the text with them stripped or kept.
//!
//! This is the one home of the marker convention: the retrieval crate maps markers to its
//! passages with it, and the engine maps them to the sources tools recorded, so that both agree
//! on what counts as a marker and where its citation sits.

/// What happens to a marker in the text shown to the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MarkerMode {
    /// Remove the marker (and the spaces before it); the annotation carries the citation.
    #[default]
    Strip,
    /// Leave the marker in the text.
    Keep,
}

/// One cited number at one place in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// The number the model wrote.
    pub number: usize,
    /// Position in the returned text, in characters (Unicode scalar values, like the
    /// reference's Python string indices): where the marker ended, i.e. the end of the cited
    /// statement, as the reference uses a citation's `end_index`.
    pub index: usize,
}

/// The text with its markers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkedText {
    /// The text, markers stripped or kept as asked.
    pub text: String,
    /// The markers in text order (a marker naming several numbers gives one entry per number,
    /// all at the same index).
    pub markers: Vec<Marker>,
}

/// Parses a marker starting at `chars[start]` (a `[`): the numbers and the index after `]`.
fn parse_marker(chars: &[char], start: usize) -> Option<(Vec<usize>, usize)> {
    let mut numbers = Vec::new();
    let mut index = start + 1;
    loop {
        let digits_start = index;
        while index < chars.len() && chars[index].is_ascii_digit() && index - digits_start < 3 {
            index += 1;
        }
        if index == digits_start {
            return None;
        }
        let number: String = chars[digits_start..index].iter().collect();
        numbers.push(number.parse().ok()?);
        match chars.get(index) {
            Some(']') => break,
            Some(',') => {
                index += 1;
                while chars.get(index) == Some(&' ') {
                    index += 1;
                }
            }
            _ => return None,
        }
    }
    let end = index + 1;
    // `[1](https://...)` is a Markdown link and `[1]: ...` a link definition, not citations.
    if matches!(chars.get(end), Some('(' | ':')) {
        return None;
    }
    Some((numbers, end))
}

/// Finds the citation markers in `text` whose numbers are all `known`, and returns the text with
/// those markers stripped or kept, and each cited number with its position in that text.
///
/// Markers naming an unknown number, markers inside code (between backticks) and Markdown links
/// are left as they are and cite nothing.
pub fn find_markers(text: &str, known: impl Fn(usize) -> bool, mode: MarkerMode) -> MarkedText {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut markers = Vec::new();
    let mut in_code = false;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c == '`' {
            in_code = !in_code;
        }
        if c == '['
            && !in_code
            && let Some((numbers, end)) = parse_marker(&chars, index)
            && numbers.iter().all(|number| known(*number))
        {
            match mode {
                MarkerMode::Strip => {
                    // "answer [1]." reads "answer." without the marker, not "answer ."
                    while out.last() == Some(&' ') {
                        out.pop();
                    }
                }
                MarkerMode::Keep => out.extend_from_slice(&chars[index..end]),
            }
            markers.extend(numbers.into_iter().map(|number| Marker {
                number,
                index: out.len(),
            }));
            index = end;
            continue;
        }
        out.push(c);
        index += 1;
    }
    MarkedText {
        text: out.into_iter().collect(),
        markers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(marked: &MarkedText) -> Vec<(usize, usize)> {
        marked.markers.iter().map(|m| (m.number, m.index)).collect()
    }

    #[test]
    fn only_known_numbers_are_markers() {
        let marked = find_markers("a [1] b [7] c [2, 3]", |n| n <= 3, MarkerMode::Strip);
        assert_eq!(marked.text, "a b [7] c");
        assert_eq!(summary(&marked), vec![(1, 1), (2, 9), (3, 9)]);
    }

    #[test]
    fn kept_markers_stay() {
        let marked = find_markers("x [2].", |n| n == 2, MarkerMode::Keep);
        assert_eq!(marked.text, "x [2].");
        assert_eq!(summary(&marked), vec![(2, 5)]);
    }
}
