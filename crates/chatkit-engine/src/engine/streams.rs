//! The streaming requests: each is validated and its thread locked here, before the pipeline
//! starts, so that a missing thread or an item in the wrong state is an error status rather than a
//! broken stream.

use std::sync::Arc;

use chatkit_protocol::requests::StructuredInputAnswerSubmission;
use chatkit_protocol::{
    Attachment, ChatKitRequest, ClientToolCallStatus, Order, StructuredInputAnswer,
    StructuredInputItem, StructuredInputStatus, StructuredInputSubmission, SubmissionStatus,
    ThreadItem, ThreadMetadata, UserMessageInput, UserMessageItem,
};
use chatkit_store::{RecordKind, StoreContext, StoreError};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Engine;
use crate::context::{RequestContext, ThreadHandle};
use crate::error::EngineError;
use crate::locks::ThreadGuard;
use crate::pipeline::{self, Plan};
use crate::server::Turn;
use crate::stream::EventReceiver;

impl Engine {
    /// Validates a streaming request, takes its thread's lock and spawns the pipeline.
    pub(super) async fn start_stream(
        &self,
        request: ChatKitRequest,
        ctx: RequestContext,
    ) -> Result<EventReceiver, EngineError> {
        if self.shared.shutdown.is_cancelled() || self.shared.tracker.is_closed() {
            return Err(EngineError::ShuttingDown);
        }
        let sctx = ctx.store();
        let (plan, guard) = match request {
            ChatKitRequest::ThreadsCreate { params, .. } => {
                self.plan_create(params.input, &ctx, &sctx).await?
            }
            ChatKitRequest::ThreadsAddUserMessage { params, .. } => {
                self.check_input(&params.input, &ctx)?;
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let attachments = self
                    .load_attachments(&params.input.attachments, &sctx)
                    .await?;
                let plan = Plan::UserMessage {
                    thread,
                    input: params.input,
                    attachments,
                };
                (plan, guard)
            }
            ChatKitRequest::ThreadsAddClientToolOutput { params, .. } => {
                self.plan_client_tool_output(&params.thread_id, params.result, &sctx)
                    .await?
            }
            ChatKitRequest::ThreadsAddStructuredInput { params, .. } => {
                self.plan_structured_input(&params.thread_id, &params.item_id, &params.input, &sctx)
                    .await?
            }
            ChatKitRequest::ThreadsRetryAfterItem { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let (message, remove) =
                    self.items_after(&thread.id, &params.item_id, &sctx).await?;
                let plan = Plan::Retry {
                    thread,
                    message,
                    remove,
                };
                (plan, guard)
            }
            ChatKitRequest::ThreadsCustomAction { params, .. } => {
                let (thread, guard) = self.load_thread_locked(&params.thread_id, &sctx).await?;
                let sender = self
                    .load_sender(&thread.id, params.item_id.as_deref(), &sctx)
                    .await?;
                let handle = ThreadHandle::new(thread);
                let turn = Turn {
                    thread: handle.clone(),
                    ctx: ctx.clone(),
                    store: Arc::clone(&self.shared.store),
                };
                let events = self.shared.server.action(turn, params.action, sender)?;
                let plan = Plan::Action {
                    thread: handle,
                    events,
                };
                (plan, guard)
            }
            other => {
                return Err(EngineError::Internal(format!(
                    "{} is not a streaming request",
                    other.kind()
                )));
            }
        };
        let (tx, rx) = mpsc::channel(self.shared.config.channel_capacity.max(1));
        // The request span names the thread when the request does; a new thread's id is recorded
        // on this span once the pipeline has created it.
        let span = tracing::info_span!(
            parent: tracing::Span::current(),
            "chatkit.stream",
            thread.id = tracing::field::Empty
        );
        self.shared
            .tracker
            .spawn(pipeline::run(Arc::clone(&self.shared), plan, ctx, tx, guard).instrument(span));
        Ok(EventReceiver::new(rx))
    }

    /// `threads.create`. The new thread's id is chosen and locked before the pipeline saves it:
    /// a client that reacts to `thread.created` by sending another message on that id at once
    /// then waits for this response like on any other thread (ADR 0003), instead of
    /// interleaving with it.
    async fn plan_create(
        &self,
        input: UserMessageInput,
        ctx: &RequestContext,
        sctx: &StoreContext,
    ) -> Result<(Plan, ThreadGuard), EngineError> {
        self.check_input(&input, ctx)?;
        let attachments = self.load_attachments(&input.attachments, sctx).await?;
        let store = &self.shared.store;
        let thread = ThreadMetadata::new(
            store.generate_thread_id(sctx),
            chatkit_protocol::time::now(),
        );
        // Nobody else knows the id yet, so the lock is free and this never waits.
        let guard = self
            .shared
            .locks
            .acquire(&thread.id, sctx, self.shared.config.thread_busy_timeout)
            .await?;
        let plan = Plan::Create {
            thread,
            input,
            attachments,
        };
        Ok((plan, guard))
    }

    /// `threads.add_client_tool_output`: the thread's newest item must be a pending client tool
    /// call, which the output completes.
    async fn plan_client_tool_output(
        &self,
        thread_id: &str,
        result: serde_json::Value,
        sctx: &StoreContext,
    ) -> Result<(Plan, ThreadGuard), EngineError> {
        let (thread, guard) = self.load_thread_locked(thread_id, sctx).await?;
        let last = self
            .shared
            .store
            .load_thread_items(&thread.id, None, 1, Order::Desc, sctx)
            .await?;
        let Some(ThreadItem::ClientToolCall(mut call)) = last.data.into_iter().next() else {
            return Err(EngineError::BadRequest(format!(
                "thread {} has no pending client tool call to receive this output",
                thread.id
            )));
        };
        if call.status != ClientToolCallStatus::Pending {
            return Err(EngineError::BadRequest(format!(
                "client tool call {} is already completed",
                call.call_id
            )));
        }
        call.status = ClientToolCallStatus::Completed;
        call.output = Some(result);
        Ok((Plan::ClientToolOutput { thread, call }, guard))
    }

    /// `threads.add_structured_input`: the named item must be a pending structured input.
    async fn plan_structured_input(
        &self,
        thread_id: &str,
        item_id: &str,
        submission: &StructuredInputSubmission,
        sctx: &StoreContext,
    ) -> Result<(Plan, ThreadGuard), EngineError> {
        let (thread, guard) = self.load_thread_locked(thread_id, sctx).await?;
        let item = match self
            .shared
            .store
            .load_item(&thread.id, item_id, sctx)
            .await?
        {
            ThreadItem::StructuredInput(item) => item,
            other => {
                return Err(EngineError::BadRequest(format!(
                    "params.item_id: {item_id} is a {}, not a structured input item",
                    other.kind()
                )));
            }
        };
        if item.status != StructuredInputStatus::Pending {
            return Err(EngineError::BadRequest(format!(
                "structured input item {} is not pending",
                item.id
            )));
        }
        let item = apply_submission(item, submission);
        Ok((Plan::StructuredInput { thread, item }, guard))
    }

    async fn load_thread_locked(
        &self,
        thread_id: &str,
        sctx: &StoreContext,
    ) -> Result<(ThreadMetadata, ThreadGuard), EngineError> {
        // Locks are the owner's (see `crate::locks`): a stranger's request for this id takes a
        // lock nobody else holds, and fails with `NotFound` below without having waited for, or
        // blocked, the owner's streams. So the thread is read once, under the lock, where it
        // cannot change before the response starts.
        let guard = self
            .shared
            .locks
            .acquire(thread_id, sctx, self.shared.config.thread_busy_timeout)
            .await?;
        let thread = self.shared.store.load_thread(thread_id, sctx).await?;
        Ok((thread, guard))
    }

    /// The engine's own check of a new message, then the responder's
    /// ([`crate::ChatKitServer::check_input`]).
    fn check_input(
        &self,
        input: &UserMessageInput,
        ctx: &RequestContext,
    ) -> Result<(), EngineError> {
        if input.content.is_empty() && input.attachments.is_empty() {
            return Err(EngineError::BadRequest(
                "params.input: the message has no content".into(),
            ));
        }
        self.shared.server.check_input(input, ctx)
    }

    async fn load_attachments(
        &self,
        ids: &[String],
        sctx: &StoreContext,
    ) -> Result<Vec<Attachment>, EngineError> {
        let mut attachments = Vec::with_capacity(ids.len());
        for id in ids {
            attachments.push(self.shared.store.load_attachment(id, sctx).await?);
        }
        Ok(attachments)
    }

    /// Finds user message `item_id` walking back from the newest item, and the ids of every item
    /// after it (newest first).
    async fn items_after(
        &self,
        thread_id: &str,
        item_id: &str,
        sctx: &StoreContext,
    ) -> Result<(UserMessageItem, Vec<String>), EngineError> {
        let page_size = self.shared.config.default_page_size.max(1);
        let mut after: Option<String> = None;
        let mut newer = Vec::new();
        loop {
            let page = self
                .shared
                .store
                .load_thread_items(thread_id, after.as_deref(), page_size, Order::Desc, sctx)
                .await?;
            for item in page.data {
                if item.id() == item_id {
                    return match item {
                        ThreadItem::UserMessage(message) => Ok((message, newer)),
                        other => Err(EngineError::BadRequest(format!(
                            "params.item_id: {item_id} is a {}, not a user message",
                            other.kind()
                        ))),
                    };
                }
                newer.push(item.id().to_owned());
            }
            if !page.has_more {
                return Err(StoreError::not_found(RecordKind::Item, item_id).into());
            }
            after = page.after;
        }
    }
}

/// Applies a structured input submission the way the reference does: skipped answers (or a
/// skipped submission) record `skipped`, single-choice questions keep the first value, unknown
/// question ids are ignored.
fn apply_submission(
    mut item: StructuredInputItem,
    submission: &StructuredInputSubmission,
) -> StructuredInputItem {
    for question in &mut item.inputs {
        let answer: Option<&StructuredInputAnswerSubmission> =
            submission.answers.get(question.id());
        let skipped = submission.status == SubmissionStatus::Skipped
            || answer.is_none_or(|answer| answer.skipped || answer.values.is_empty());
        let recorded = if skipped {
            StructuredInputAnswer {
                values: Vec::new(),
                skipped: true,
            }
        } else {
            let mut values = answer
                .map(|answer| answer.values.clone())
                .unwrap_or_default();
            if let chatkit_protocol::StructuredInput::MultipleChoice {
                multiple: false, ..
            } = question
            {
                values.truncate(1);
            }
            StructuredInputAnswer {
                values,
                skipped: false,
            }
        };
        *question.answer_mut() = Some(recorded);
    }
    item.status = match submission.status {
        SubmissionStatus::Answered => StructuredInputStatus::Answered,
        SubmissionStatus::Skipped => StructuredInputStatus::Skipped,
    };
    item
}
