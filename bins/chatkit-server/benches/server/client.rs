//! A minimal HTTP/1.1 client for SSE responses on one kept-alive connection.
//!
//! The benchmarks share two cores with the server, so the client does as little as it can: one
//! socket with `TCP_NODELAY`, a hand-written request, a chunked-body decoder and an SSE frame
//! splitter. Every frame carries the time of the socket read that completed it, which is the
//! moment it was on the wire as far as a client can tell.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One SSE `data:` payload and when the read that completed it returned.
pub struct Frame {
    pub arrived: Instant,
    pub data: String,
}

/// A kept-alive connection to the ChatKit endpoint.
pub struct Connection {
    stream: TcpStream,
    address: SocketAddr,
    /// Bytes read from the socket and not yet decoded.
    raw: Vec<u8>,
    /// Decoded body bytes (SSE text) not yet split into frames.
    body: Vec<u8>,
    /// When the last socket read returned.
    last_read: Instant,
    /// The terminating chunk of the current response was seen.
    body_done: bool,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        // Requests are small writes too: without this the client's own Nagle delay would be
        // measured as server latency.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            address,
            raw: Vec::with_capacity(16 * 1024),
            body: Vec::with_capacity(16 * 1024),
            last_read: Instant::now(),
            body_done: false,
        })
    }

    /// Sends a ChatKit request and reads the response head; afterwards call [`Self::next_frame`]
    /// until it answers `None`. Fails on any status but 200 or a body that is not chunked SSE.
    pub async fn start(&mut self, body: &str) -> anyhow::Result<Instant> {
        self.start_at("/chatkit", body).await
    }

    /// Like [`Self::start`], on another path.
    pub async fn start_at(&mut self, path: &str, body: &str) -> anyhow::Result<Instant> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        let sent = Instant::now();
        self.stream.write_all(request.as_bytes()).await?;
        self.body_done = false;
        self.body.clear();
        let head_end = loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.raw[..head_end]).into_owned();
        self.raw.drain(..head_end + 4);
        let status = head.split(' ').nth(1).unwrap_or_default();
        if status != "200" {
            bail!("the server answered {status}: {head}");
        }
        let chunked = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("transfer-encoding:") && line.contains("chunked")
        });
        let event_stream = head.lines().any(|line| {
            line.to_ascii_lowercase()
                .starts_with("content-type: text/event-stream")
        });
        if !chunked || !event_stream {
            bail!("expected a chunked event stream, got: {head}");
        }
        Ok(sent)
    }

    /// The next `data:` frame of the current response (keep-alive comments skipped), or `None`
    /// once the response ended; the connection is then ready for the next request.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some(end) = find(&self.body, b"\n\n") {
                let frame = String::from_utf8(self.body[..end].to_vec())
                    .context("a frame that is not UTF-8")?;
                self.body.drain(..end + 2);
                if let Some(data) = frame.strip_prefix("data: ") {
                    return Ok(Some(Frame {
                        arrived: self.last_read,
                        data: data.to_owned(),
                    }));
                }
                if frame.starts_with(':') {
                    continue;
                }
                bail!("not an SSE data frame: {frame}");
            }
            if self.body_done {
                if !self.body.is_empty() {
                    bail!("the response ended inside a frame");
                }
                return Ok(None);
            }
            if !self.decode_chunks()? {
                self.fill().await?;
            }
        }
    }

    /// Moves every complete chunk from `raw` into `body`; true when it made progress.
    fn decode_chunks(&mut self) -> anyhow::Result<bool> {
        let mut progressed = false;
        while !self.body_done {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                break;
            };
            let size_text = std::str::from_utf8(&self.raw[..line_end])?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("a bad chunk size `{size_text}`"))?;
            let needed = line_end + 2 + size + 2;
            if self.raw.len() < needed {
                break;
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..line_end + 2 + size]);
            self.raw.drain(..needed);
            progressed = true;
            if size == 0 {
                self.body_done = true;
            }
        }
        Ok(progressed)
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut buffer = [0u8; 16 * 1024];
        let read = self.stream.read(&mut buffer).await?;
        self.last_read = Instant::now();
        if read == 0 {
            bail!("the server closed the connection");
        }
        self.raw.extend_from_slice(&buffer[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
