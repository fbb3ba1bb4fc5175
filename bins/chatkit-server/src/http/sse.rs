//! Server-Sent Events: engine events as `data: <json>\n\n` frames, with keep-alive comments on a
//! quiet stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use chatkit_engine::EventReceiver;
use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

/// The body of a streaming response. Dropping it (the client went away) drops the receiver, which
/// the engine treats as a cancellation.
pub struct SseBody {
    events: EventReceiver,
    keep_alive: Duration,
    timer: Pin<Box<Sleep>>,
}

impl SseBody {
    /// A body sending `events`, with a comment after `keep_alive` of silence.
    pub fn new(events: EventReceiver, keep_alive: Duration) -> Self {
        Self {
            events,
            keep_alive,
            timer: Box::pin(tokio::time::sleep(keep_alive)),
        }
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.events.poll_next_unpin(cx) {
                Poll::Ready(Some(event)) => {
                    let deadline = Instant::now() + self.keep_alive;
                    self.timer.as_mut().reset(deadline);
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
            return match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let deadline = Instant::now() + self.keep_alive;
                    self.timer.as_mut().reset(deadline);
                    Poll::Ready(Some(Ok(Bytes::from(chatkit_protocol::sse::comment_frame(
                        "keep-alive",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
