//! JSON bodies for the refusals actix-http writes by itself.
//!
//! A request head that is too large (`431`, which also covers a URI that is too long), a head
//! that is not HTTP (`400`) or one that does not arrive in time (`408`) is answered by actix-http's
//! connection dispatcher before any route, middleware or error handler runs, with an empty body.
//! Every refusal of this server carries `{"error": {"code", "message"}}`, so the connection is
//! wrapped in [`JsonRefusals`], which recognises those bodiless error responses on their way out
//! and writes the same status and headers with the JSON body instead.
//!
//! What is recognised: a write that starts with an `HTTP/1.1 4xx` or `5xx` status line whose head
//! is complete and says `content-length: 0`. Handler errors never look like that (they always
//! carry a JSON body), so nothing the application sends is touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bodiless error responses get the JSON error body.
pub struct JsonRefusals<IO> {
    io: IO,
    /// A rewritten response still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<IO> JsonRefusals<IO> {
    /// Wraps a connection.
    pub fn new(io: IO) -> Self {
        Self {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// The JSON error body for a status the dispatcher produces, or `None` to leave it alone.
fn body_for(status: u16) -> Option<(&'static str, &'static str)> {
    Some(match status {
        400 => ("bad_request", "the request is not valid HTTP/1.1"),
        408 => ("request_timeout", "the request head did not arrive in time"),
        413 => ("too_large", "the request is too large"),
        414 | 431 => (
            "headers_too_large",
            "the request line or headers are too large",
        ),
        status if (400..600).contains(&status) => ("http_error", "the request was refused"),
        _ => return None,
    })
}

/// The same response with a JSON body, when `bytes` is a complete bodiless error head.
fn rewrite(bytes: &[u8]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(b"HTTP/1.1 ")?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !(400..600).contains(&status) {
        return None;
    }
    let head_end = bytes.windows(4).position(|window| window == b"\r\n\r\n")?;
    // Only a response that is exactly a head: nothing of another response follows it here.
    if head_end + 4 != bytes.len() {
        return None;
    }
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut headers = Vec::new();
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "content-type" => {}
            _ => headers.push(line),
        }
    }
    if !empty {
        return None;
    }
    let (code, message) = body_for(status)?;
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let mut response = format!("{status_line}\r\n");
    for header in headers {
        response.push_str(header);
        response.push_str("\r\n");
    }
    response.push_str("content-type: application/json\r\n");
    response.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    response.push_str(&body);
    Some(response.into_bytes())
}

impl<IO: AsyncWrite + Unpin> JsonRefusals<IO> {
    /// Writes what is left of a rewritten response.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let written =
                ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += written;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonRefusals<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(rewritten) = rewrite(buf) {
            this.pending = rewritten;
            // The caller's bytes count as written; ours go out now or on the next flush.
            if let Poll::Ready(Err(error)) = this.poll_pending(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bodiless_431_gets_the_json_body_and_keeps_its_headers() {
        let original = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let rewritten = String::from_utf8(rewrite(original).expect("rewritten")).expect("utf-8");
        assert!(rewritten.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(rewritten.contains("connection: close\r\n"));
        assert!(rewritten.contains("content-type: application/json\r\n"));
        let (head, body) = rewritten.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["error"]["code"], "headers_too_large");
    }

    #[test]
    fn responses_with_bodies_and_successes_are_left_alone() {
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(
            rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200").is_none()
        );
        assert!(rewrite(b"{\"data\": 1}").is_none());
    }
}
