//! The run context: who a run acts for and what the request said about where they are.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::tool_events::ToolCallContext;

/// The authenticated user a run acts for.
///
/// The id always comes from the verified credential (a JWT's `sub`, or the local user in
/// development mode), never from anything the model produced. Tools that act on a user's data must
/// take the user from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// Stable user id (`sub` of the token).
    pub id: String,
    /// E-mail address, when the credential carries one.
    pub email: Option<String>,
    /// Display name, when the credential carries one.
    pub name: Option<String>,
}

/// Everything a run, its instructions and its tools may know about the request that started it.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The authenticated user.
    pub user: UserInfo,
    /// The request's `metadata` object (page context and other integration data sent by the
    /// client). Untrusted: it is shown to the model, never used for authorization.
    pub metadata: Map<String, Value>,
    /// The conversation (ChatKit thread) this run belongs to, when there is one.
    pub thread_id: Option<String>,
    /// The tool call being served, when this context was handed to a tool by the run loop: its
    /// id, and the channel through which the tool can emit events and end the turn with a client
    /// tool call. `None` for the run itself and for a tool called outside a run.
    pub tool_call: Option<ToolCallContext>,
    /// State shared by everything that serves one run (its tools across all model turns): every
    /// clone of this context, including the ones handed to tools, sees the same values. Start
    /// each run with a fresh context, so that nothing carries over from the last one.
    pub run_state: RunState,
}

/// Values shared by the tool calls of one run, one per type (for example the next citation
/// number, so that two searches in one answer do not both number their passages from 1).
///
/// Cloning shares the values; [`RunState::default`] is empty.
#[derive(Clone, Default)]
pub struct RunState {
    values: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send>>>>,
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.values.lock().map_or(0, |values| values.len());
        formatter
            .debug_struct("RunState")
            .field("values", &count)
            .finish()
    }
}

impl RunState {
    /// Runs `f` on the run's value of type `T` (created with `T::default()` on first use), under
    /// a lock: keep `f` short, and do not await in it.
    pub fn with<T, R>(&self, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Default + Send + 'static,
    {
        // A panic in another `f` poisons the lock; the map itself is still whole.
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match value.downcast_mut::<T>() {
            Some(value) => f(value),
            // Unreachable: the entry for `TypeId::of::<T>()` always holds a `T`.
            None => f(&mut T::default()),
        }
    }
}

impl RunContext {
    /// A context for `user` with no metadata and no thread.
    pub fn for_user(user: UserInfo) -> Self {
        Self {
            user,
            ..Self::default()
        }
    }
}
