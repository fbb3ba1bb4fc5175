//! The crate's error type: what a model provider or a run can fail with.

use std::time::Duration;

/// Everything a model provider or an agent run can fail with.
///
/// Variants say what a caller can act on: a configuration mistake is fixed by the operator, a
/// `Provider` status tells whether the vendor rejected the request or is down, and
/// `MaxTurnsExceeded` tells the loop hit its guard. Tool failures are not here: they become error
/// outputs the model reads, and the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The provider configuration is unusable (bad base URL, a header that is not valid HTTP).
    #[error("invalid model provider configuration: {0}")]
    Configuration(String),
    /// The provider could not be reached, or the connection failed before a response arrived.
    #[error("could not reach the model provider: {0}")]
    Connection(String),
    /// The provider sent nothing for longer than the configured idle timeout.
    #[error("the model provider sent nothing for {0:?}")]
    Timeout(Duration),
    /// The provider answered with a non-success HTTP status.
    #[error("the model provider answered HTTP {status}: {body}")]
    Provider {
        /// The HTTP status code.
        status: u16,
        /// The response body, truncated, as the vendor's explanation.
        body: String,
    },
    /// The provider reported an error inside an otherwise successful stream.
    #[error("the model reported an error ({code}): {message}")]
    Model {
        /// The vendor's error code (`server_error`, `rate_limit_exceeded`...), or `unknown`.
        code: String,
        /// The vendor's error message.
        message: String,
    },
    /// The stream broke off before the provider said it was finished.
    #[error("the model stream broke off: {0}")]
    StreamInterrupted(String),
    /// The provider sent something this crate cannot understand.
    #[error("the model stream was malformed: {0}")]
    Protocol(String),
    /// The run asked the model more times than the agent's `max_turns` allows.
    #[error("the run exceeded its limit of {max_turns} model turns")]
    MaxTurnsExceeded {
        /// The limit that was hit.
        max_turns: usize,
    },
    /// The final answer does not match the agent's output schema (or is not JSON at all).
    #[error("the model's final output is invalid: {0}")]
    InvalidOutput(String),
    /// An input guardrail of the starting agent tripped: the run stopped before its first model
    /// turn was acted on.
    #[error("the input guardrail {guardrail:?} tripped")]
    InputGuardrailTripwire {
        /// The guardrail's name.
        guardrail: String,
    },
    /// An output guardrail of the final agent tripped on its answer.
    #[error("the output guardrail {guardrail:?} tripped")]
    OutputGuardrailTripwire {
        /// The guardrail's name.
        guardrail: String,
    },
    /// A tool tried to emit an event after its call finished or its run ended.
    #[error("the tool call is over; its run no longer takes events from it")]
    ToolCallOver,
}
