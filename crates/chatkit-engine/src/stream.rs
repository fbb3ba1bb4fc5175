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
    /// Boxed events: see the pipeline's `Outbox`.
    rx: mpsc::Receiver<Box<ThreadStreamEvent>>,
}

impl EventReceiver {
    pub(crate) fn new(rx: mpsc::Receiver<Box<ThreadStreamEvent>>) -> Self {
        Self { rx }
    }

    /// The next event, or `None` when the response is over.
    pub async fn recv(&mut self) -> Option<ThreadStreamEvent> {
        self.rx.recv().await.map(|event| *event)
    }

    /// Collects every remaining event (for tests and non-streaming callers).
    pub async fn collect_all(mut self) -> Vec<ThreadStreamEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.rx.recv().await {
            events.push(*event);
        }
        events
    }

    /// The next event as it travels, without moving it out of its box.
    pub(crate) fn poll_boxed(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Box<ThreadStreamEvent>>> {
        self.rx.poll_recv(cx)
    }
}

impl Stream for EventReceiver {
    type Item = ThreadStreamEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|event| event.map(|event| *event))
    }
}
