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
    find_markers_continued(text, &mut ScanState::default(), known, mode)
}

/// Where a scan for markers stands at the end of a piece of text: what the next piece of the
/// same text needs to know (whether it starts inside code).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanState {
    in_code: bool,
}

/// [`find_markers`] over the next piece of a text that arrives in pieces (a streamed answer),
/// `state` carried from the previous piece; positions are within this piece's returned text.
///
/// Scanning the pieces one after the other gives what one scan of the whole would, provided each
/// piece but the last ends at a [`settled_len`]: no marker, and no space a stripped marker would
/// take, is cut in two.
pub fn find_markers_continued(
    text: &str,
    state: &mut ScanState,
    known: impl Fn(usize) -> bool,
    mode: MarkerMode,
) -> MarkedText {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut markers = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c == '`' {
            state.in_code = !state.in_code;
        }
        if c == '['
            && !state.in_code
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

/// The byte length of the part of `text` whose markers are settled: `text` without a trailing
/// run of `[`-groups that could still become (or turn out not to be) markers once more text
/// arrives, and without the spaces before it (a stripped marker takes them). A complete `[1]` at
/// the end is not settled either: a `(` next would make it a link.
pub fn settled_len(text: &str) -> usize {
    let mut end = text.len();
    while let Some(open) = text[..end].rfind('[') {
        if !could_be_marker(&text[open + 1..end]) {
            break;
        }
        end = open;
    }
    text[..end].trim_end_matches(' ').len()
}

/// Whether `tail` (what follows a `[` up to the end of the text) is the start of a marker, or a
/// whole marker: `12`, `1, 2`, `1,`, `3]`.
fn could_be_marker(tail: &str) -> bool {
    let (body, closed) = match tail.strip_suffix(']') {
        Some(body) => (body, true),
        None => (tail, false),
    };
    let mut digits = 0;
    let mut after_comma = false;
    for c in body.chars() {
        match c {
            '0'..='9' if digits < 3 => {
                digits += 1;
                after_comma = false;
            }
            ',' if digits > 0 => {
                digits = 0;
                after_comma = true;
            }
            ' ' if after_comma => {}
            _ => return false,
        }
    }
    !closed || digits > 0
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

    #[test]
    fn a_trailing_run_that_may_still_be_a_marker_is_not_settled() {
        fn settled(text: &str) -> &str {
            &text[..settled_len(text)]
        }
        assert_eq!(settled("plain text"), "plain text");
        assert_eq!(settled("ends in spaces  "), "ends in spaces");
        assert_eq!(settled("cited ["), "cited");
        assert_eq!(settled("cited [12"), "cited");
        assert_eq!(settled("cited [1, 2"), "cited");
        assert_eq!(settled("cited [1,"), "cited");
        assert_eq!(
            settled("cited [1]"),
            "cited",
            "`(` next would make it a link"
        );
        assert_eq!(settled("cited [1][2"), "cited");
        assert_eq!(settled("cited [1]."), "cited [1].");
        assert_eq!(settled("a [link"), "a [link");
        assert_eq!(
            settled("a [1234"),
            "a [1234",
            "four digits are never a marker"
        );
        assert_eq!(settled("empty []"), "empty []");
        assert_eq!(settled("é ["), "é");
    }

    #[test]
    fn pieces_cut_where_settled_scan_like_the_whole() {
        let text = "Use `x [1]` then [1]. See [2](https://a.test), [3] and [1, 2] or [9].";
        let known = |n: usize| n <= 3;
        for mode in [MarkerMode::Strip, MarkerMode::Keep] {
            let whole = find_markers(text, known, mode);
            // Cut after every character, as deltas may: each piece ends where it is settled.
            let mut state = ScanState::default();
            let (mut joined, mut markers, mut done) = (String::new(), Vec::new(), 0);
            for end in (1..=text.len()).filter(|end| text.is_char_boundary(*end)) {
                let upto = if end == text.len() {
                    end
                } else {
                    done + settled_len(&text[done..end])
                };
                let piece = find_markers_continued(&text[done..upto], &mut state, known, mode);
                let offset = joined.chars().count();
                markers.extend(piece.markers.iter().map(|m| (m.number, m.index + offset)));
                joined.push_str(&piece.text);
                done = upto;
            }
            assert_eq!(joined, whole.text, "{mode:?}");
            assert_eq!(markers, summary(&whole), "{mode:?}");
        }
    }
}
