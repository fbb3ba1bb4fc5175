//! An MCP server's tool as an [`agent_runtime::Tool`].

use std::sync::Arc;
use std::time::Instant;

use agent_runtime::{RunContext, Tool, ToolDefinition, ToolError, ToolOutput};
use async_trait::async_trait;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::McpError;
use crate::connection::ServerConnection;
use crate::schema::{ModelSchema, inject_user_id};

/// One tool of one MCP server, looking to the agent loop exactly like a built-in tool.
///
/// Calls go through the server's shared connection, so a crashed server is restarted by the
/// next call of any of its tools.
pub struct McpTool {
    connection: Arc<ServerConnection>,
    remote_name: String,
    definition: ToolDefinition,
    injected_arguments: Vec<String>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpTool")
            .field("server", &self.connection.name())
            .field("remote_name", &self.remote_name)
            .field("name", &self.definition.name)
            .finish_non_exhaustive()
    }
}

impl McpTool {
    pub(crate) fn new(
        connection: Arc<ServerConnection>,
        remote_name: String,
        exposed_name: String,
        description: String,
        schema: ModelSchema,
    ) -> Self {
        Self {
            connection,
            remote_name,
            definition: ToolDefinition {
                name: exposed_name,
                description,
                parameters: schema.parameters,
            },
            injected_arguments: schema.injected_arguments,
        }
    }

    /// The tool's name on its server (without the configured prefix).
    pub fn remote_name(&self) -> &str {
        &self.remote_name
    }

    /// The configured name of the server the tool belongs to.
    pub fn server_name(&self) -> &str {
        self.connection.name()
    }
}

#[async_trait]
impl Tool for McpTool {
    fn definition(&self) -> ToolDefinition {
        self.definition.clone()
    }

    async fn call(&self, ctx: &RunContext, arguments: Value) -> Result<ToolOutput, ToolError> {
        let arguments = match arguments {
            Value::Object(arguments) => arguments,
            Value::Null => Map::new(),
            _ => {
                return Err(ToolError::InvalidArguments(
                    "the arguments must be a JSON object".into(),
                ));
            }
        };
        if !self.injected_arguments.is_empty() && ctx.user.id.is_empty() {
            // Never call a per-user tool on behalf of nobody.
            return Ok(ToolOutput::error("this tool needs a signed-in user"));
        }
        let arguments = inject_user_id(arguments, &self.injected_arguments, &ctx.user.id);
        let span = tracing::info_span!(
            "mcp.call_tool",
            server.name = %self.connection.name(),
            tool.name = %self.definition.name,
        );
        async {
            let started = Instant::now();
            let result = self
                .connection
                .call_tool(&self.remote_name, arguments)
                .await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(result) => {
                    let output = tool_output(result);
                    tracing::debug!(
                        duration_ms,
                        is_error = output.is_error,
                        "MCP tool call finished"
                    );
                    Ok(output)
                }
                // The server rejected the call (unknown tool, invalid arguments): the model can
                // correct itself, so it reads the server's message.
                Err(McpError::Server { message, .. }) => {
                    tracing::debug!(duration_ms, "MCP tool call rejected by the server");
                    Ok(ToolOutput::error(format!("the tool failed: {message}")))
                }
                Err(error) => {
                    tracing::warn!(duration_ms, error = %error, "MCP tool call failed");
                    Err(error.into())
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// What the model reads from a tool result: its text content, or its structured content as JSON
/// when there is no text.
pub(crate) fn tool_output(result: CallToolResult) -> ToolOutput {
    let is_error = result.is_error == Some(true);
    let parts: Vec<String> = result.content.iter().map(content_text).collect();
    let mut content = parts.join("\n");
    if content.is_empty()
        && let Some(structured) = &result.structured_content
    {
        content = structured.to_string();
    }
    if content.is_empty() && is_error {
        content = "the tool failed without a message".into();
    }
    ToolOutput { content, is_error }
}

fn content_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!("[image: {}]", image.mime_type),
        ContentBlock::Audio(audio) => format!("[audio: {}]", audio.mime_type),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents { uri, .. } => format!("[resource: {uri}]"),
            _ => "[resource]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource: {}]", link.uri),
        // Content kinds newer than this client: say something rather than nothing.
        _ => "[unsupported content]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    #[test]
    fn text_content_becomes_the_output() {
        let result =
            CallToolResult::success(vec![ContentBlock::text("one"), ContentBlock::text("two")]);
        assert_eq!(tool_output(result), ToolOutput::text("one\ntwo"));
    }

    #[test]
    fn structured_content_is_used_when_there_is_no_text() {
        let mut result = CallToolResult::success(Vec::new());
        result.structured_content = Some(json!({"tasks": []}));
        assert_eq!(tool_output(result), ToolOutput::text(r#"{"tasks":[]}"#));
    }

    #[test]
    fn error_results_stay_errors_even_without_content() {
        let result = CallToolResult::error(vec![ContentBlock::text("task 7 not found")]);
        assert_eq!(tool_output(result), ToolOutput::error("task 7 not found"));
        let empty = CallToolResult::error(Vec::new());
        assert!(tool_output(empty).is_error);
    }

    #[test]
    fn non_text_blocks_are_described() {
        let result = CallToolResult::success(vec![ContentBlock::image("aGk=", "image/png")]);
        assert_eq!(tool_output(result).content, "[image: image/png]");
    }
}
