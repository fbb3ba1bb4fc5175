//! Hand-written responders that take the model out of the picture.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use chatkit_engine::{ChatKitServer, EventStream, Turn};
use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, ThreadItem, ThreadItemUpdate, ThreadStreamEvent,
    UserMessageItem,
};
use chatkit_store::ItemIdKind;
use futures::StreamExt;
use tokio::sync::{Mutex, Notify, mpsc};

/// The clock shared by the responder (which stamps events) and the client (which reads the
/// stamps back): both run in this process, so one `Instant` is a common origin.
pub fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds since [`clock_base`].
pub fn clock_nanos() -> u64 {
    clock_base().elapsed().as_nanos() as u64
}

/// A fresh assistant message for the turn, with the events that open it.
fn open_message(turn: &Turn) -> (String, Vec<ThreadStreamEvent>) {
    let thread = turn.thread.snapshot();
    let id = turn
        .store
        .generate_item_id(ItemIdKind::Message, &thread, &turn.ctx.store());
    let item = AssistantMessageItem {
        id: id.clone(),
        thread_id: thread.id.clone(),
        created_at: chatkit_protocol::time::now(),
        content: Vec::new(),
    };
    let events = vec![
        ThreadStreamEvent::ThreadItemAdded {
            item: ThreadItem::AssistantMessage(item),
        },
        ThreadStreamEvent::ThreadItemUpdated {
            item_id: id.clone(),
            update: ThreadItemUpdate::AssistantMessageContentPartAdded {
                content_index: 0,
                content: AssistantMessageContent::text(""),
            },
        },
    ];
    (id, events)
}

fn delta(item_id: &str, text: String) -> ThreadStreamEvent {
    ThreadStreamEvent::ThreadItemUpdated {
        item_id: item_id.to_owned(),
        update: ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 0,
            delta: text,
        },
    }
}

/// The events that close the message with its full text: `content_part.done`, then
/// `thread.item.done`, which the engine persists.
fn close_message(turn: &Turn, item_id: &str, text: String) -> Vec<ThreadStreamEvent> {
    let content = AssistantMessageContent::text(text);
    vec![
        ThreadStreamEvent::ThreadItemUpdated {
            item_id: item_id.to_owned(),
            update: ThreadItemUpdate::AssistantMessageContentPartDone {
                content_index: 0,
                content: content.clone(),
            },
        },
        ThreadStreamEvent::ThreadItemDone {
            item: ThreadItem::AssistantMessage(AssistantMessageItem {
                id: item_id.to_owned(),
                thread_id: turn.thread.id(),
                created_at: chatkit_protocol::time::now(),
                content: vec![content],
            }),
        },
    ]
}

/// Answers every message at once with a fixed answer streamed word by word, as a model with no
/// latency would: the reference's benchmark shape.
pub struct Immediate {
    pub words: Vec<String>,
}

impl ChatKitServer for Immediate {
    fn respond(&self, turn: Turn, _input: Option<UserMessageItem>) -> EventStream {
        let (id, mut events) = open_message(&turn);
        for word in &self.words {
            events.push(delta(&id, word.clone()));
        }
        events.extend(close_message(&turn, &id, self.words.concat()));
        futures::stream::iter(events.into_iter().map(Ok)).boxed()
    }
}

/// Emits one text delta each time the client asks for one, stamped with the shared clock at
/// the moment it leaves the responder; `count` deltas per turn.
pub struct PingPong {
    pub count: usize,
    pub go: Arc<Mutex<mpsc::UnboundedReceiver<()>>>,
}

impl ChatKitServer for PingPong {
    fn respond(&self, turn: Turn, _input: Option<UserMessageItem>) -> EventStream {
        let (id, opening) = open_message(&turn);
        let go = Arc::clone(&self.go);
        let count = self.count;
        let item_id = id.clone();
        let deltas = futures::stream::unfold((go, 0usize), move |(go, sent)| {
            let item_id = item_id.clone();
            async move {
                if sent == count {
                    return None;
                }
                // Uncontended: one turn runs at a time in the latency benchmark.
                go.lock().await.recv().await?;
                // Stamped as the event is handed to the engine: what is measured is the engine,
                // the SSE body, actix and the socket, not this responder.
                let event = delta(&item_id, format!("t={}", clock_nanos()));
                Some((Ok(event), (go, sent + 1)))
            }
        });
        let closing = close_message(&turn, &id, String::new());
        futures::stream::iter(opening.into_iter().map(Ok))
            .chain(deltas)
            .chain(futures::stream::iter(closing.into_iter().map(Ok)))
            .boxed()
    }
}

/// Sends the first delta of its answer, then waits until the process ends: an open, idle stream
/// (a user reading while a slow model thinks).
pub struct Idle {
    pub release: Arc<Notify>,
}

impl ChatKitServer for Idle {
    fn respond(&self, turn: Turn, _input: Option<UserMessageItem>) -> EventStream {
        let (id, mut events) = open_message(&turn);
        events.push(delta(&id, "Thinking ".to_owned()));
        let release = Arc::clone(&self.release);
        let closing = close_message(&turn, &id, "Thinking ".to_owned());
        futures::stream::iter(events.into_iter().map(Ok))
            .chain(
                futures::stream::once(async move { release.notified().await })
                    .flat_map(move |()| futures::stream::iter(closing.clone().into_iter().map(Ok))),
            )
            .boxed()
    }
}
