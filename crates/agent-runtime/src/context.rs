//! The run context: who a run acts for and what the request said about where they are.

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
