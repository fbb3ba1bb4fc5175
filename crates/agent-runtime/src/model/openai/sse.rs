//! Server-sent events, read as the HTML standard's "interpreting an event stream" says: lines end
//! in CRLF, LF or CR; a blank line dispatches the event when it has data; `:` starts a comment;
//! a line without `:` is a field with an empty value; unknown fields, `id` and `retry` are
//! ignored (nothing here reconnects); one leading byte-order mark is dropped; invalid UTF-8
//! becomes U+FFFD; an event not closed by a blank line when the stream ends is discarded.
//!
//! It is ours rather than `eventsource-stream`'s because a model stream is mostly this parsing:
//! that crate's per-line parser combinators took about a seventh of the server's instructions
//! per agent turn (docs/BENCHMARKS.md), and crates with a faster parser reject lines the
//! standard says to ignore (ADR 0016).

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event` field, `message` when the event had none.
    pub event: String,
    /// The `data` lines joined by `\n`.
    pub data: String,
}

/// Turns chunks of an event stream into events. Chunks may split lines, line endings (a CR at
/// the end of one chunk and an LF at the start of the next are one line ending) and UTF-8
/// sequences anywhere.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The bytes of a line whose end has not arrived yet.
    partial: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    /// The previous chunk ended in CR, so an LF starting this one ends nothing.
    after_cr: bool,
    /// Past the point where a byte-order mark may appear.
    started: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    /// Reads one chunk, adding the events it completes to `out`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if chunk.is_empty() {
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        if !self.started {
            // The mark may itself arrive split; wait until three bytes are there to tell.
            self.partial.extend_from_slice(chunk);
            if self.partial.len() < BOM.len() && BOM.starts_with(&self.partial) {
                return;
            }
            self.started = true;
            let buffered = std::mem::take(&mut self.partial);
            let without_bom = buffered.strip_prefix(BOM).unwrap_or(&buffered);
            self.feed_lines(without_bom, out);
            return;
        }
        self.feed_lines(chunk, out);
    }

    fn feed_lines(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line = &chunk[..end];
            if self.partial.is_empty() {
                self.line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, out);
                whole.clear();
                self.partial = whole;
            }
            let crlf = chunk[end] == b'\r' && chunk.get(end + 1) == Some(&b'\n');
            if chunk[end] == b'\r' && end + 1 == chunk.len() {
                self.after_cr = true;
            }
            chunk = &chunk[end + if crlf { 2 } else { 1 }..];
        }
        self.partial.extend_from_slice(chunk);
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return,
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&String::from_utf8_lossy(value));
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut VecDeque<SseEvent>) {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push_back(SseEvent {
            event: event.unwrap_or_else(|| "message".to_owned()),
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out.into_iter().collect()
    }

    fn message(data: &str) -> SseEvent {
        SseEvent {
            event: "message".to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_end_at_blank_lines_and_join_their_data_lines() {
        assert_eq!(
            parse(&[b"data: {\"a\":1}\n\ndata: one\ndata:two\n\n"]),
            vec![message("{\"a\":1}"), message("one\ntwo")]
        );
    }

    #[test]
    fn event_names_comments_unknown_fields_ids_and_retries() {
        assert_eq!(
            parse(&[
                b": keep-alive\n\nevent: response.created\nid: 7\nretry: x\nfoo: bar\ndata: {}\n\n"
            ]),
            vec![SseEvent {
                event: "response.created".to_owned(),
                data: "{}".to_owned()
            }]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_its_name_does_not_leak() {
        assert_eq!(parse(&[b"event: ping\n\ndata: x\n\n"]), vec![message("x")]);
    }

    #[test]
    fn a_line_without_a_colon_is_a_field_with_an_empty_value() {
        assert_eq!(parse(&[b"data\ndata\n\n"]), vec![message("\n")]);
    }

    #[test]
    fn every_line_ending_and_any_split_of_the_bytes() {
        let stream: &[u8] =
            b"\xEF\xBB\xBFdata: a\r\n\r\ndata: b\r\rdata: \xC3\xA9t\xC3\xA9\n\ndata: last";
        let expected = vec![message("a"), message("b"), message("\u{e9}t\u{e9}")];
        assert_eq!(parse(&[stream]), expected);
        for first in 0..stream.len() {
            for second in first..stream.len() {
                let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
                assert_eq!(parse(&chunks), expected, "split at {first} and {second}");
            }
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(parse(&[b"data: a\xFFb\n\n"]), vec![message("a\u{fffd}b")]);
    }
}
