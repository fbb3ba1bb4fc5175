//! The streaming pipeline: runs a response in its own task, persists items as their events pass,
//! and feeds the events to the client through a bounded channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatkit_protocol::events::ThreadItemUpdate;
use chatkit_protocol::{
    AssistantMessageContent, Attachment, ClientToolCallItem, ClientToolCallStatus, Order, Page,
    StructuredInputItem, Thread, ThreadItem, ThreadMetadata, ThreadStreamEvent, UserMessageInput,
    UserMessageItem,
};
use chatkit_store::{ItemIdKind, StoreError};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::context::{RequestContext, ThreadHandle};
use crate::error::EngineError;
use crate::locks::ThreadGuard;
use crate::server::{EventStream, Turn};
use crate::shared::{CancelPolicy, Shared};

/// What a streaming request will do, decided (and validated) before the stream starts.
pub(crate) enum Plan {
    /// A new thread, not saved yet: its id is known (and locked) before anyone can see it.
    Create {
        thread: ThreadMetadata,
        input: UserMessageInput,
        attachments: Vec<Attachment>,
    },
    UserMessage {
        thread: ThreadMetadata,
        input: UserMessageInput,
        attachments: Vec<Attachment>,
    },
    ClientToolOutput {
        thread: ThreadMetadata,
        call: ClientToolCallItem,
    },
    StructuredInput {
        thread: ThreadMetadata,
        item: StructuredInputItem,
    },
    Retry {
        thread: ThreadMetadata,
        message: UserMessageItem,
        remove: Vec<String>,
    },
    Action {
        thread: ThreadHandle,
        events: EventStream,
    },
}

/// The client end of the channel, remembering whether the client is still there.
struct Outbox {
    /// Boxed: an event is about 1.5 KB inline, and the channel allocates its slots in blocks of
    /// 32, so an idle stream would hold about 48 KB of empty slots (docs/BENCHMARKS.md).
    tx: mpsc::Sender<Box<ThreadStreamEvent>>,
    detached: bool,
    /// Set when the client stopped reading for longer than the send timeout; the run loop then
    /// applies the cancel policy as for a disconnect.
    stalled: bool,
    send_timeout: Duration,
    sent: usize,
}

impl Outbox {
    async fn send(&mut self, event: ThreadStreamEvent) {
        if self.detached {
            return;
        }
        // Most sends find room: no timer then.
        let event = match self.tx.try_send(Box::new(event)) {
            Ok(()) => {
                self.sent += 1;
                return;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.detached = true;
                return;
            }
            Err(mpsc::error::TrySendError::Full(event)) => event,
        };
        match tokio::time::timeout(self.send_timeout, self.tx.send(event)).await {
            Ok(Ok(())) => self.sent += 1,
            Ok(Err(_)) => self.detached = true,
            Err(_) => {
                tracing::warn!(
                    events.sent = self.sent,
                    timeout_ms = self.send_timeout.as_millis() as u64,
                    "the client stopped reading the stream; treating it as gone"
                );
                self.detached = true;
                self.stalled = true;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Runs one streaming response to its end. The thread guard is held throughout, including the
/// cancellation cleanup, so that nothing of this response is stored after a later message.
pub(crate) async fn run(
    inner: Arc<Shared>,
    plan: Plan,
    ctx: RequestContext,
    tx: mpsc::Sender<Box<ThreadStreamEvent>>,
    guard: ThreadGuard,
) {
    let _guard = guard;
    let started = Instant::now();
    let mut out = Outbox {
        tx,
        detached: false,
        stalled: false,
        send_timeout: inner.config.send_timeout,
        sent: 0,
    };
    let outcome = match prelude(&inner, plan, &ctx, &mut out).await {
        Ok((thread, events)) => process_events(&inner, thread, events, &ctx, &mut out).await,
        Err(err) => {
            report(&err);
            out.send(error_event(&err)).await;
            Outcome::Failed
        }
    };
    tracing::info!(
        outcome = outcome.as_str(),
        events.sent = out.sent,
        client.gone = out.detached,
        duration_ms = started.elapsed().as_millis() as u64,
        "stream finished"
    );
}

/// Persists what the request brings (a new thread, the user's message, a tool output...) and
/// starts the responder.
async fn prelude(
    inner: &Arc<Shared>,
    plan: Plan,
    ctx: &RequestContext,
    out: &mut Outbox,
) -> Result<(ThreadHandle, EventStream), EngineError> {
    let store = &inner.store;
    let sctx = ctx.store();
    let turn = |thread: &ThreadHandle| Turn {
        thread: thread.clone(),
        ctx: ctx.clone(),
        store: Arc::clone(store),
    };
    match plan {
        Plan::Create {
            thread,
            input,
            attachments,
        } => {
            store.save_thread(&thread, &sctx).await?;
            tracing::Span::current().record("thread.id", thread.id.as_str());
            out.send(ThreadStreamEvent::ThreadCreated {
                thread: Thread::for_client(&thread, Page::default()),
            })
            .await;
            let handle = ThreadHandle::new(thread);
            let message = save_user_message(inner, &handle, input, attachments, ctx, out).await?;
            Ok((
                handle.clone(),
                inner.server.respond(turn(&handle), Some(message)),
            ))
        }
        Plan::UserMessage {
            thread,
            input,
            attachments,
        } => {
            let handle = ThreadHandle::new(thread);
            let message = save_user_message(inner, &handle, input, attachments, ctx, out).await?;
            Ok((
                handle.clone(),
                inner.server.respond(turn(&handle), Some(message)),
            ))
        }
        Plan::ClientToolOutput { thread, call } => {
            let call_id = call.id.clone();
            store
                .save_item(&thread.id, &ThreadItem::ClientToolCall(call), &sctx)
                .await?;
            // Pending calls left behind by an earlier turn would confuse the model; the reference
            // deletes them here too.
            let recent = store
                .load_thread_items(
                    &thread.id,
                    None,
                    inner.config.default_page_size,
                    Order::Desc,
                    &sctx,
                )
                .await?;
            for item in recent.data {
                if let ThreadItem::ClientToolCall(dangling) = item
                    && dangling.status == ClientToolCallStatus::Pending
                    && dangling.id != call_id
                {
                    tracing::warn!(item.id = %dangling.id, "removing a client tool call that never got its output");
                    ignore_not_found(
                        store
                            .delete_thread_item(&thread.id, &dangling.id, &sctx)
                            .await,
                    )?;
                }
            }
            let handle = ThreadHandle::new(thread);
            Ok((handle.clone(), inner.server.respond(turn(&handle), None)))
        }
        Plan::StructuredInput { thread, item } => {
            let handle = ThreadHandle::new(thread);
            // The replacement goes through the pipeline, which persists it like any other.
            let replaced = futures::stream::once(async move {
                Ok(ThreadStreamEvent::ThreadItemReplaced {
                    item: ThreadItem::StructuredInput(item),
                })
            });
            let events = replaced
                .chain(inner.server.respond(turn(&handle), None))
                .boxed();
            Ok((handle, events))
        }
        Plan::Retry {
            thread,
            message,
            remove,
        } => {
            for item_id in &remove {
                ignore_not_found(store.delete_thread_item(&thread.id, item_id, &sctx).await)?;
            }
            let handle = ThreadHandle::new(thread);
            Ok((
                handle.clone(),
                inner.server.respond(turn(&handle), Some(message)),
            ))
        }
        Plan::Action { thread, events } => Ok((thread, events)),
    }
}

async fn save_user_message(
    inner: &Arc<Shared>,
    thread: &ThreadHandle,
    input: UserMessageInput,
    mut attachments: Vec<Attachment>,
    ctx: &RequestContext,
    out: &mut Outbox,
) -> Result<UserMessageItem, EngineError> {
    let store = &inner.store;
    let sctx = ctx.store();
    let thread_id = thread.id();
    for attachment in &mut attachments {
        attachment.base_mut().thread_id = Some(thread_id.clone());
        store.save_attachment(attachment, &sctx).await?;
    }
    let message = UserMessageItem {
        id: store.generate_item_id(ItemIdKind::Message, &thread.snapshot(), &sctx),
        thread_id: thread_id.clone(),
        created_at: chatkit_protocol::time::now(),
        content: input.content,
        attachments,
        quoted_text: input.quoted_text,
        inference_options: input.inference_options,
    };
    let item = ThreadItem::UserMessage(message.clone());
    store.add_thread_item(&thread_id, &item, &sctx).await?;
    out.send(ThreadStreamEvent::ThreadItemDone { item }).await;
    Ok(message)
}

// A step is matched at once and never stored; boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Step {
    Event(Option<Result<ThreadStreamEvent, EngineError>>),
    ClientGone,
    Shutdown,
}

async fn process_events(
    inner: &Arc<Shared>,
    thread: ThreadHandle,
    mut events: EventStream,
    ctx: &RequestContext,
    out: &mut Outbox,
) -> Outcome {
    let store = &inner.store;
    let sctx = ctx.store();
    let thread_id = thread.id();
    let options = inner.server.stream_options(&thread.snapshot(), ctx);
    out.send(ThreadStreamEvent::StreamOptions {
        stream_options: options,
    })
    .await;

    let mut pending: Vec<ThreadItem> = Vec::new();
    let mut seen_version = thread.version();
    let mut outcome = Outcome::Completed;
    // Made once, not per event: each of these registers a waiter behind a lock when it is
    // first polled, and a turn passes about fifty events through this loop.
    let shutdown = inner.shutdown.cancelled();
    tokio::pin!(shutdown);
    let watcher = out.tx.clone();
    let client_gone = watcher.closed();
    tokio::pin!(client_gone);
    loop {
        // A client that stopped reading counts as one that left, once.
        if out.stalled {
            out.stalled = false;
            match inner.config.cancel_policy {
                CancelPolicy::StopAndSavePartial => {
                    outcome = Outcome::Cancelled;
                    break;
                }
                CancelPolicy::FinishInBackground => {}
            }
        }
        let step = tokio::select! {
            biased;
            _ = &mut shutdown => Step::Shutdown,
            _ = &mut client_gone, if !out.detached => Step::ClientGone,
            next = events.next() => Step::Event(next),
        };
        let mut event = match step {
            Step::Shutdown => {
                outcome = Outcome::Cancelled;
                break;
            }
            Step::ClientGone => {
                out.detached = true;
                match inner.config.cancel_policy {
                    CancelPolicy::StopAndSavePartial => {
                        outcome = Outcome::Cancelled;
                        break;
                    }
                    CancelPolicy::FinishInBackground => continue,
                }
            }
            Step::Event(None) => break,
            Step::Event(Some(Err(err))) => {
                report(&err);
                out.send(error_event(&err)).await;
                outcome = Outcome::Failed;
                break;
            }
            Step::Event(Some(Ok(event))) => event,
        };
        if let Err(err) = persist(
            store.as_ref(),
            &thread,
            &thread_id,
            &sctx,
            &mut pending,
            &mut event,
        )
        .await
        {
            report(&err);
            out.send(error_event(&err)).await;
            outcome = Outcome::Failed;
            break;
        }
        if is_visible(&event) {
            out.send(event).await;
        }
        if thread.version() != seen_version {
            seen_version = thread.version();
            if let Err(err) = announce_thread(inner, &thread, &sctx, out).await {
                report(&err);
                out.send(error_event(&err)).await;
                outcome = Outcome::Failed;
                break;
            }
        }
    }
    // Dropping the responder's stream stops the run and closes any upstream model request.
    drop(events);

    if outcome == Outcome::Cancelled {
        let snapshot = thread.snapshot();
        if let Err(err) = inner
            .server
            .handle_stream_cancelled(&snapshot, pending, store.as_ref(), ctx)
            .await
        {
            tracing::error!(error = %err, "saving a cancelled stream failed");
        }
    }
    if thread.version() != seen_version
        && let Err(err) = announce_thread(inner, &thread, &sctx, out).await
    {
        report(&err);
    }
    outcome
}

async fn announce_thread(
    inner: &Arc<Shared>,
    thread: &ThreadHandle,
    sctx: &chatkit_store::StoreContext,
    out: &mut Outbox,
) -> Result<(), EngineError> {
    let snapshot = thread.snapshot_to_save();
    inner.store.save_thread(&snapshot, sctx).await?;
    out.send(ThreadStreamEvent::ThreadUpdated {
        thread: Thread::for_client(&snapshot, Page::default()),
    })
    .await;
    Ok(())
}

/// Applies an event to the store and to the pending items. A finished item carries the
/// thread's unsaved quiet changes (a run's usage record) into the same write.
async fn persist(
    store: &dyn chatkit_store::Store,
    thread: &ThreadHandle,
    thread_id: &str,
    sctx: &chatkit_store::StoreContext,
    pending: &mut Vec<ThreadItem>,
    event: &mut ThreadStreamEvent,
) -> Result<(), EngineError> {
    match event {
        ThreadStreamEvent::ThreadItemAdded { item } => {
            item.set_thread_id(thread_id);
            pending.retain(|held| held.id() != item.id());
            pending.push(item.clone());
        }
        ThreadStreamEvent::ThreadItemDone { item } => {
            item.set_thread_id(thread_id);
            let changed = thread.take_unsaved();
            let added = match &changed {
                Some(changed) => {
                    store
                        .add_thread_item_and_save_thread(changed, item, sctx)
                        .await
                }
                None => store.add_thread_item(thread_id, item, sctx).await,
            };
            match added {
                // Already stored (a responder that saved it itself): replaced in place, and the
                // thread's change saved on its own.
                Err(StoreError::Conflict { .. }) => {
                    store.save_item(thread_id, item, sctx).await?;
                    if let Some(changed) = &changed {
                        store.save_thread(changed, sctx).await?;
                    }
                }
                other => other?,
            }
            pending.retain(|held| held.id() != item.id());
        }
        ThreadStreamEvent::ThreadItemRemoved { item_id } => {
            ignore_not_found(store.delete_thread_item(thread_id, item_id, sctx).await)?;
            pending.retain(|held| held.id() != item_id);
        }
        ThreadStreamEvent::ThreadItemReplaced { item } => {
            item.set_thread_id(thread_id);
            store.save_item(thread_id, item, sctx).await?;
            pending.retain(|held| held.id() != item.id());
        }
        ThreadStreamEvent::ThreadItemUpdated { item_id, update } => {
            if let Some(item) = pending
                .iter_mut()
                .find(|held| held.id() == item_id.as_str())
            {
                apply_update(item, update);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Hidden-context items are stored and shown to the model, never sent to a client.
fn is_visible(event: &ThreadStreamEvent) -> bool {
    match event {
        ThreadStreamEvent::ThreadItemAdded { item }
        | ThreadStreamEvent::ThreadItemDone { item }
        | ThreadStreamEvent::ThreadItemReplaced { item } => !item.is_hidden(),
        _ => true,
    }
}

/// Keeps a pending item up to date with its streamed updates, so that a cancelled stream can
/// save what the user saw. Mirrors the reference's `_update_pending_items`.
pub(crate) fn apply_update(item: &mut ThreadItem, update: &ThreadItemUpdate) {
    match (item, update) {
        (ThreadItem::AssistantMessage(message), update) => {
            let index = match update {
                ThreadItemUpdate::AssistantMessageContentPartAdded { content_index, .. }
                | ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                    content_index, ..
                }
                | ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                    content_index,
                    ..
                }
                | ThreadItemUpdate::AssistantMessageContentPartDone { content_index, .. } => {
                    *content_index
                }
                _ => return,
            };
            let Ok(index) = usize::try_from(index) else {
                return;
            };
            // Bound the padding: an index far beyond the parts is a responder bug, not a reason to
            // allocate without limit.
            if index > message.content.len() + 64 {
                return;
            }
            while message.content.len() <= index {
                message.content.push(AssistantMessageContent::text(""));
            }
            let part = &mut message.content[index];
            match update {
                ThreadItemUpdate::AssistantMessageContentPartAdded { content, .. }
                | ThreadItemUpdate::AssistantMessageContentPartDone { content, .. } => {
                    *part = content.clone()
                }
                ThreadItemUpdate::AssistantMessageContentPartTextDelta { delta, .. } => {
                    part.text.push_str(delta)
                }
                ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                    annotation_index,
                    annotation,
                    ..
                } => {
                    let at = usize::try_from(*annotation_index).unwrap_or(usize::MAX);
                    if at <= part.annotations.len() {
                        part.annotations.insert(at, annotation.clone());
                    } else {
                        part.annotations.push(annotation.clone());
                    }
                }
                _ => {}
            }
        }
        (ThreadItem::Widget(widget), update) => {
            // Not every update is about widgets, and one naming a node the widget lacks is a
            // responder bug: either way the pending widget keeps its last good state.
            if let Ok(updated) = chatkit_protocol::apply_widget_update(&widget.widget, update) {
                *widget.widget = updated;
            }
        }
        (ThreadItem::Workflow(workflow), ThreadItemUpdate::WorkflowTaskAdded { task, .. }) => {
            workflow.workflow.tasks.push(task.clone());
        }
        (
            ThreadItem::Workflow(workflow),
            ThreadItemUpdate::WorkflowTaskUpdated { task_index, task },
        ) => {
            if let Some(slot) = usize::try_from(*task_index)
                .ok()
                .and_then(|index| workflow.workflow.tasks.get_mut(index))
            {
                *slot = task.clone();
            }
        }
        _ => {}
    }
}

fn ignore_not_found(result: Result<(), StoreError>) -> Result<(), StoreError> {
    match result {
        Err(StoreError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// The ChatKit error event for an error, as the reference maps its exceptions.
pub(crate) fn error_event(err: &EngineError) -> ThreadStreamEvent {
    match err {
        EngineError::Custom {
            message,
            allow_retry,
        } => ThreadStreamEvent::Error {
            code: chatkit_protocol::ErrorCode::Custom,
            message: Some(message.clone()),
            allow_retry: *allow_retry,
        },
        EngineError::Stream { code, allow_retry } => ThreadStreamEvent::Error {
            code: code.clone(),
            message: None,
            allow_retry: *allow_retry,
        },
        _ => ThreadStreamEvent::stream_error(),
    }
}

fn report(err: &EngineError) {
    if err.is_public() {
        tracing::info!(error.code = err.code(), error = %err, "response ended with an error");
    } else {
        tracing::error!(error.code = err.code(), error = %err, "response failed");
    }
}
