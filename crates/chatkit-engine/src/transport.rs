//! What every HTTP transport does around the engine, without any web framework: turning a bearer
//! token into a [`RequestContext`], and turning an [`EventReceiver`] into Server-Sent Events with
//! keep-alive comments. The bundled actix-web server and an axum embedding make the same calls,
//! so each is only a translation of its framework's types.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use agent_runtime::UserInfo;
use auth::{AuthError, Authenticator, Principal};
use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::context::RequestContext;
use crate::stream::EventReceiver;

/// The response headers of an event stream: the SSE type, no caching, and no buffering by a
/// reverse proxy (nginx holds a response back otherwise, and the user sees nothing until the end).
pub const SSE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
];

/// A comment sent after this much silence by default: below the idle timeouts of common proxies
/// and load balancers (often 30 to 60 seconds).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

impl From<Principal> for RequestContext {
    fn from(principal: Principal) -> Self {
        RequestContext::new(UserInfo {
            id: principal.user_id,
            email: principal.email,
            name: principal.name,
        })
    }
}

/// Checks the `Authorization` header's value with `authenticator` and builds the caller's
/// context. A refusal is logged by its kind (never the token): at info level when the client is
/// at fault, at warn level when the check itself failed (a JWKS endpoint down...). The caller
/// should answer 401 with nothing more said. The user id is recorded on the current span's
/// `user.id` field when it has one.
pub async fn authenticate(
    authenticator: &dyn Authenticator,
    authorization: Option<&str>,
) -> Result<RequestContext, AuthError> {
    let token = authorization.and_then(auth::bearer_token);
    match authenticator.authenticate(token).await {
        Ok(principal) => {
            tracing::Span::current().record("user.id", principal.user_id.as_str());
            Ok(RequestContext::from(principal))
        }
        Err(err) => {
            if err.is_client_error() {
                tracing::info!(auth.error = err.kind(), "request rejected");
            } else {
                tracing::warn!(auth.error = err.kind(), error = %err, "authentication could not be checked");
            }
            Err(err)
        }
    }
}

/// The body of a streaming response: each event as a `data: <json>\n\n` frame, and a
/// `: keep-alive` comment after `keep_alive` of silence so that proxies keep the connection open
/// while the model thinks. Dropping it (the client went away) drops the receiver, which the
/// engine treats as a cancellation.
///
/// Its items are `Result<Bytes, Infallible>` because that is what web frameworks take as a
/// streaming body (actix-web's `streaming`, axum's `Body::from_stream`); it never fails.
pub struct SseStream {
    events: EventReceiver,
    keep_alive: Duration,
    /// Fires at `last_sent + keep_alive` at the latest. It is not moved on every event (that
    /// would touch the runtime's timer wheel once per delta): when it fires early it is set
    /// again from the last frame's time.
    timer: Pin<Box<Sleep>>,
    last_sent: Instant,
}

impl std::fmt::Debug for SseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseStream")
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl SseStream {
    /// A body sending `events`, with a comment after `keep_alive` of silence.
    pub fn new(events: EventReceiver, keep_alive: Duration) -> Self {
        Self {
            events,
            keep_alive,
            timer: Box::pin(tokio::time::sleep(keep_alive)),
            last_sent: Instant::now(),
        }
    }
}

impl Stream for SseStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.events.poll_boxed(cx) {
                Poll::Ready(Some(event)) => {
                    self.last_sent = Instant::now();
                    match chatkit_protocol::sse::encode_frame(&event) {
                        Ok(frame) => return Poll::Ready(Some(Ok(Bytes::from(frame)))),
                        Err(err) => {
                            tracing::error!(error = %err, event.kind = event.kind(), "an event could not be serialized");
                            continue;
                        }
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {}
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let due = self.last_sent + self.keep_alive;
                    if Instant::now() < due {
                        // A frame went out since the timer was set: wait for the rest.
                        self.timer.as_mut().reset(due);
                        continue;
                    }
                    self.last_sent = Instant::now();
                    let next = self.last_sent + self.keep_alive;
                    self.timer.as_mut().reset(next);
                    let comment = chatkit_protocol::sse::comment_frame("keep-alive");
                    return Poll::Ready(Some(Ok(Bytes::from(comment))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chatkit_protocol::ThreadStreamEvent;
    use futures::StreamExt;
    use tokio::sync::mpsc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_gets_keep_alive_comments_between_event_frames() {
        let (tx, rx) = mpsc::channel::<Box<ThreadStreamEvent>>(4);
        let mut frames = SseStream::new(EventReceiver::new(rx), Duration::from_secs(15));
        // Nothing is sent: with time paused, the runtime jumps to the keep-alive deadline.
        let frame = frames.next().await.expect("a frame").expect("infallible");
        assert_eq!(&frame[..], b": keep-alive\n\n");
        tx.send(Box::new(ThreadStreamEvent::ThreadItemRemoved {
            item_id: "msg_1".to_owned(),
        }))
        .await
        .expect("sends");
        let frame = frames.next().await.expect("a frame").expect("infallible");
        assert!(frame.starts_with(b"data: {"), "{frame:?}");
        assert!(frame.ends_with(b"\n\n"), "{frame:?}");
        drop(tx);
        assert!(frames.next().await.is_none(), "ends with the events");
    }

    #[tokio::test(start_paused = true)]
    async fn the_keep_alive_comment_waits_for_silence_after_the_last_event() {
        let (tx, rx) = mpsc::channel::<Box<ThreadStreamEvent>>(4);
        let mut frames = SseStream::new(EventReceiver::new(rx), Duration::from_secs(15));
        let started = Instant::now();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            tx.send(Box::new(ThreadStreamEvent::ThreadItemRemoved {
                item_id: "msg_1".to_owned(),
            }))
            .await
            .expect("sends");
            // Kept open, silent, until the test is done.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        let frame = frames.next().await.expect("a frame").expect("infallible");
        assert!(frame.starts_with(b"data: {"), "{frame:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        let frame = frames.next().await.expect("a frame").expect("infallible");
        assert_eq!(&frame[..], b": keep-alive\n\n");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(25),
            "15 s after the event, not 15 s after the start"
        );
        let frame = frames.next().await.expect("a frame").expect("infallible");
        assert_eq!(&frame[..], b": keep-alive\n\n");
        assert_eq!(started.elapsed(), Duration::from_secs(40));
        sender.abort();
    }
}
