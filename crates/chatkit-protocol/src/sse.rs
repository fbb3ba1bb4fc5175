//! Server-Sent Events framing: `data: <json>\n\n` frames out, and a decoder for clients and tests.

use serde::Serialize;

/// Encodes one value as an SSE frame: `data: <json>\n\n`. JSON never contains a raw newline, so a
/// frame is always one `data:` line.
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut frame = Vec::with_capacity(128);
    frame.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut frame, value)?;
    frame.extend_from_slice(b"\n\n");
    Ok(frame)
}

/// An SSE comment frame (`: text\n\n`), used as a keep-alive that clients ignore.
pub fn comment_frame(text: &str) -> Vec<u8> {
    let mut frame = Vec::with_capacity(text.len() + 4);
    frame.extend_from_slice(b": ");
    frame.extend_from_slice(text.replace(['\r', '\n'], " ").as_bytes());
    frame.extend_from_slice(b"\n\n");
    frame
}

/// One decoded SSE message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseMessage {
    /// The `event:` name, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// An incremental SSE decoder (per the WHATWG event-stream rules): feed it bytes as they arrive,
/// take out complete messages. Comments and empty messages are skipped.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    current: SseMessage,
    has_data: bool,
}

impl SseDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every message completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n' || *b == b'\r') {
            // A CR at the very end may be the first half of CRLF: wait for more bytes.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let skip = if self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.buffer.drain(..end + skip).take(end).collect();
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if self.has_data {
                    messages.push(std::mem::take(&mut self.current));
                } else {
                    self.current = SseMessage::default();
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                "event" => self.current.event = Some(value.to_owned()),
                "id" => self.current.id = Some(value.to_owned()),
                _ => {}
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_decoder_in_any_split() {
        let mut wire =
            encode_frame(&serde_json::json!({"type": "a", "text": "x\ny"})).expect("encodes");
        wire.extend(comment_frame("keep-alive"));
        wire.extend(b"event: named\r\ndata: one\r\ndata: two\r\n\r\n");
        for split in 0..wire.len() {
            let mut decoder = SseDecoder::new();
            let mut messages = decoder.push(&wire[..split]);
            messages.extend(decoder.push(&wire[split..]));
            assert_eq!(messages.len(), 2, "split at {split}");
            assert_eq!(messages[0].data, r#"{"type":"a","text":"x\ny"}"#);
            assert_eq!(messages[1].event.as_deref(), Some("named"));
            assert_eq!(messages[1].data, "one\ntwo");
        }
    }
}
