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

/// The bare relay the other rows are compared with: each turn posts the user's text to an
/// OpenAI-compatible Chat Completions endpoint, reads its stream and forwards each content
/// delta as a ChatKit text delta, then closes the message. No agent runtime, no history, no
/// tools; it runs over the in-memory store, so nothing reaches a disk either.
pub struct Relay {
    pub client: reqwest::Client,
    /// `.../v1/chat/completions`.
    pub url: String,
}

impl ChatKitServer for Relay {
    fn respond(&self, turn: Turn, input: Option<UserMessageItem>) -> EventStream {
        let (id, opening) = open_message(&turn);
        let text = input.map(|message| message.text()).unwrap_or_default();
        let body = serde_json::json!({
            "model": "fake-model",
            "stream": true,
            "messages": [{"role": "user", "content": text}],
        });
        let request = self.client.post(&self.url).json(&body).send();
        let item_id = id.clone();
        let deltas = futures::stream::once(request)
            .flat_map(move |response| {
                let item_id = item_id.clone();
                let body = match response.and_then(reqwest::Response::error_for_status) {
                    Ok(response) => response.bytes_stream().boxed(),
                    Err(err) => futures::stream::once(async move { Err(err) }).boxed(),
                };
                let mut decoder = chatkit_protocol::sse::SseDecoder::new();
                body.flat_map(move |chunk| {
                    let events: Vec<_> = match chunk {
                        Ok(bytes) => decoder
                            .push(&bytes)
                            .into_iter()
                            .filter_map(|frame| content_of(&frame.data))
                            .map(|word| Ok(delta(&item_id, word)))
                            .collect(),
                        Err(err) => vec![Err(chatkit_engine::EngineError::Internal(format!(
                            "the model stream failed: {err}"
                        )))],
                    };
                    futures::stream::iter(events)
                })
            })
            .boxed();
        // The full text is what the agent runtime persists too; the relay has it at the end.
        let collected = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = Arc::clone(&collected);
        let deltas = deltas.inspect(move |event| {
            if let Ok(ThreadStreamEvent::ThreadItemUpdated {
                update: ThreadItemUpdate::AssistantMessageContentPartTextDelta { delta, .. },
                ..
            }) = event
            {
                sink.lock().expect("not poisoned").push_str(delta);
            }
        });
        let closing = futures::stream::once(async move {
            let text = std::mem::take(&mut *collected.lock().expect("not poisoned"));
            futures::stream::iter(close_message(&turn, &id, text).into_iter().map(Ok))
        })
        .flatten();
        futures::stream::iter(opening.into_iter().map(Ok))
            .chain(deltas)
            .chain(closing)
            .boxed()
    }
}

/// The content delta of one Chat Completions chunk, if it has a non-empty one.
fn content_of(data: &str) -> Option<String> {
    if data == "[DONE]" {
        return None;
    }
    let chunk: serde_json::Value = serde_json::from_str(data).ok()?;
    let content = chunk["choices"][0]["delta"]["content"].as_str()?;
    (!content.is_empty()).then(|| content.to_owned())
}
