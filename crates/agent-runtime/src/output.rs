//! The typed side of structured output: reading a run's final answer as the embedder's type.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::AgentError;
use crate::runner::RunResult;

impl RunResult {
    /// The final output parsed as JSON. With an output schema on the agent, a completed run's
    /// output has been checked against it already.
    pub fn final_output_json(&self) -> Result<Value, AgentError> {
        serde_json::from_str(self.final_output.trim())
            .map_err(|error| AgentError::InvalidOutput(format!("the answer is not JSON: {error}")))
    }

    /// The final output as `T` (for example the struct an embedder renders a widget from).
    pub fn final_output_as<T: DeserializeOwned>(&self) -> Result<T, AgentError> {
        serde_json::from_str(self.final_output.trim()).map_err(|error| {
            AgentError::InvalidOutput(format!(
                "the answer does not fit {}: {error}",
                std::any::type_name::<T>()
            ))
        })
    }
}
