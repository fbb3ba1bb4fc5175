//! The receiving end of a response stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use chatkit_protocol::ThreadStreamEvent;
use futures::Stream;
use tokio::sync::mpsc;

/// The events of one streaming response, in order. Dropping it tells the engine that the client
/// went away (see [`crate::CancelPolicy`]).
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<ThreadStreamEvent>,
}

impl EventReceiver {
    pub(crate) fn new(rx: mpsc::Receiver<ThreadStreamEvent>) -> Self {
        Self { rx }
    }

    /// The next event, or `None` when the response is over.
    pub async fn recv(&mut self) -> Option<ThreadStreamEvent> {
        self.rx.recv().await
    }

    /// Collects every remaining event (for tests and non-streaming callers).
    pub async fn collect_all(mut self) -> Vec<ThreadStreamEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.rx.recv().await {
            events.push(event);
        }
        events
    }
}

impl Stream for EventReceiver {
    type Item = ThreadStreamEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
