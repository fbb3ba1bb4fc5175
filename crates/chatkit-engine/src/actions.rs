//! Widget actions for [`AgentServer`](crate::AgentServer): handlers registered by action type.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::{Action, ThreadMetadata, WidgetItem, WidgetRoot};

use crate::context::RequestContext;
use crate::error::EngineError;

/// One action to handle: what was sent, from which widget, by whom, on which thread.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The thread the action was sent on.
    pub thread: ThreadMetadata,
    /// The action (its `type` chose the handler; the payload is the widget's).
    pub action: Action,
    /// The widget item that sent it, when the client named one.
    pub sender: Option<WidgetItem>,
    /// Who sent it. Act for `ctx.user`, never for a user named in the payload.
    pub ctx: RequestContext,
    /// True for `threads.sync_custom_action` (only [`ActionOutcome::widget`] is used then).
    pub sync: bool,
}

/// What a handler did, for the engine to show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutcome {
    /// The sending widget's new state: it replaces the widget in place (a `thread.item.replaced`
    /// for `threads.custom_action`, the `updated_item` of `threads.sync_custom_action`), and is
    /// stored. Ignored when the action names no sender.
    pub widget: Option<WidgetRoot>,
    /// The new widget's copy text; the sender's is kept when `None`.
    pub copy_text: Option<String>,
    /// Hands the turn to the model (streaming actions only): this note is stored as hidden
    /// context, as the reference's docs advise (`"The user clicked X"`), and the agent answers.
    pub hand_to_model: Option<String>,
}

/// Handles the actions of one type. Contract: errors are the caller's (a payload that does not
/// fit is [`EngineError::BadRequest`]); an action acts for `request.ctx.user` only.
#[async_trait]
pub trait ActionHandler: Send + Sync {
    /// Handles one action.
    async fn handle(&self, request: ActionRequest) -> Result<ActionOutcome, EngineError>;
}

/// An [`ActionHandler`] made of an async closure.
pub struct ActionFn<F>(pub F);

#[async_trait]
impl<F, Fut> ActionHandler for ActionFn<F>
where
    F: Fn(ActionRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<ActionOutcome, EngineError>> + Send,
{
    async fn handle(&self, request: ActionRequest) -> Result<ActionOutcome, EngineError> {
        (self.0)(request).await
    }
}

/// A shared handler from an async closure.
pub fn action_fn<F, Fut>(handler: F) -> Arc<dyn ActionHandler>
where
    F: Fn(ActionRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ActionOutcome, EngineError>> + Send + 'static,
{
    Arc::new(ActionFn(handler))
}

/// The sender with its widget replaced, as the outcome asks.
pub(crate) fn replaced_sender(
    sender: Option<&WidgetItem>,
    outcome: &ActionOutcome,
) -> Option<WidgetItem> {
    let sender = sender?;
    let widget = outcome.widget.clone()?;
    Some(WidgetItem {
        widget: Box::new(widget),
        copy_text: outcome
            .copy_text
            .clone()
            .or_else(|| sender.copy_text.clone()),
        ..sender.clone()
    })
}
