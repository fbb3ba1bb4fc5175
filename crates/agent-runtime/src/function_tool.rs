//! Tools written as async closures: the quickest way to give an agent a built-in tool.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::context::RunContext;
use crate::tool::{DynTool, Tool, ToolDefinition, ToolError, ToolOutput};

/// A tool made of a definition and an async function of the run context and the arguments.
pub struct FunctionTool<F> {
    definition: ToolDefinition,
    handler: F,
}

impl<F, Fut> FunctionTool<F>
where
    F: Fn(RunContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolError>> + Send + 'static,
{
    /// A tool named `name` whose arguments follow the JSON Schema `parameters`.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        handler: F,
    ) -> Self {
        Self {
            definition: ToolDefinition {
                name: name.into(),
                description: description.into(),
                parameters,
            },
            handler,
        }
    }

    /// The tool in its shared, type-erased form.
    pub fn into_dyn(self) -> DynTool {
        Arc::new(self)
    }
}

#[async_trait]
impl<F, Fut> Tool for FunctionTool<F>
where
    F: Fn(RunContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ToolOutput, ToolError>> + Send + 'static,
{
    fn definition(&self) -> ToolDefinition {
        self.definition.clone()
    }

    async fn call(&self, ctx: &RunContext, arguments: Value) -> Result<ToolOutput, ToolError> {
        (self.handler)(ctx.clone(), arguments).await
    }
}
