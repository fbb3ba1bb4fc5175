//! Actions: what a widget asks the server (or the client) to do.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An action sent by the client, for example when a widget button is pressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Action type, chosen by the integration.
    #[serde(rename = "type")]
    pub kind: String,
    /// Payload, chosen by the integration.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
}

/// Who handles an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionHandler {
    /// The client's `onAction`.
    Client,
    /// The server's action hook.
    #[default]
    Server,
}

/// How the client shows that an action is loading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadingBehavior {
    /// The client decides.
    #[default]
    Auto,
    /// No indicator.
    None,
    /// On the component itself.
    #[serde(rename = "self")]
    SelfComponent,
    /// On its container.
    Container,
}

/// The declarative action a widget component carries (`onClickAction` and friends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionConfig {
    /// Action type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Payload.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
    /// Who handles it.
    #[serde(default)]
    pub handler: ActionHandler,
    /// Loading indicator.
    #[serde(default, rename = "loadingBehavior")]
    pub loading_behavior: LoadingBehavior,
    /// Whether the server answers with a stream.
    #[serde(default = "yes")]
    pub streaming: bool,
}

fn yes() -> bool {
    true
}

impl ActionConfig {
    /// A server-handled, streaming action of `kind` with `payload`.
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            handler: ActionHandler::Server,
            loading_behavior: LoadingBehavior::Auto,
            streaming: true,
        }
    }
}
