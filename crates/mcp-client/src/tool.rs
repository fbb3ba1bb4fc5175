//! An MCP server's tool as an [`agent_runtime::Tool`].

use std::sync::Arc;
use std::time::Instant;

use agent_runtime::{RunContext, Tool, ToolDefinition, ToolError, ToolEvent, ToolOutput};
use async_trait::async_trait;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::McpError;
use crate::connection::ServerConnection;
use crate::schema::{ModelSchema, inject_user_id};

/// The `_meta` key of an MCP tool result that carries a ChatKit widget (the widget's JSON, a
/// `Card`, `ListView` or `Basic` root as ChatKit defines it) to show the user.
///
/// The convention: a server that wants the user to see a widget puts it under this key of the
/// result's `_meta`, and keeps saying in `content` (text) what the model should know. `_meta`
/// rather than `structuredContent`, because structured content is the tool's output for the
/// model (and must match its `outputSchema`), while the widget is for the user only.
pub const WIDGET_META_KEY: &str = "chatkit/widget";

/// The `_meta` key of an MCP tool result that carries the widget's plain-text form (ChatKit's
/// `copy_text`: what the copy button copies). Optional.
pub const WIDGET_COPY_TEXT_META_KEY: &str = "chatkit/copy_text";

/// The kind of the [`ToolEvent`] an MCP tool emits when its result carries a widget. Its data is
/// `{"widget": <widget JSON>, "copy_text": <string, optional>}`; a ChatKit bridge shows it as a
/// widget item.
pub const WIDGET_EVENT_KIND: &str = "chatkit.widget";

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
                    let widget = widget_event(&result);
                    let output = tool_output(result);
                    if let Some(event) = widget {
                        emit_widget(ctx, event).await;
                    }
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

/// The widget a result carries under [`WIDGET_META_KEY`], as a [`WIDGET_EVENT_KIND`] event.
/// A widget that is not a JSON object is ignored (with a log line): the call itself succeeded.
pub(crate) fn widget_event(result: &CallToolResult) -> Option<ToolEvent> {
    let meta = &result.meta.as_ref()?.0;
    let widget = meta.get(WIDGET_META_KEY)?;
    if !widget.is_object() {
        tracing::warn!("an MCP tool result carried a widget that is not a JSON object; ignored");
        return None;
    }
    let mut data = json!({ "widget": widget });
    if let Some(Value::String(copy_text)) = meta.get(WIDGET_COPY_TEXT_META_KEY) {
        data["copy_text"] = Value::String(copy_text.clone());
    }
    Some(ToolEvent::new(WIDGET_EVENT_KIND, data))
}

/// Sends a widget to the run's consumer. Outside a run (no call context) there is nobody to show
/// it to, and a consumer that went away loses nothing the model needs: both are only logged.
async fn emit_widget(ctx: &RunContext, event: ToolEvent) {
    let Some(tool_call) = &ctx.tool_call else {
        tracing::debug!("an MCP tool result carried a widget outside a run; not shown");
        return;
    };
    if let Err(error) = tool_call.emit(event).await {
        tracing::debug!(error = %error, "the widget of an MCP tool result was not delivered");
    }
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
    fn a_widget_in_meta_becomes_an_event_and_stays_out_of_the_model_output() {
        let mut result = CallToolResult::success(vec![ContentBlock::text("2 tasks")]);
        let widget = json!({"type": "ListView", "children": []});
        let mut meta = Map::new();
        meta.insert(WIDGET_META_KEY.into(), widget.clone());
        meta.insert(WIDGET_COPY_TEXT_META_KEY.into(), json!("- milk\n- eggs"));
        result.meta = Some(rmcp::model::MetaObject(meta));
        assert_eq!(
            widget_event(&result),
            Some(ToolEvent::new(
                WIDGET_EVENT_KIND,
                json!({"widget": widget, "copy_text": "- milk\n- eggs"})
            ))
        );
        assert_eq!(tool_output(result), ToolOutput::text("2 tasks"));
    }

    #[test]
    fn results_without_a_widget_or_with_a_malformed_one_emit_nothing() {
        let plain = CallToolResult::success(vec![ContentBlock::text("ok")]);
        assert_eq!(widget_event(&plain), None);
        let mut malformed = CallToolResult::success(Vec::new());
        let mut meta = Map::new();
        meta.insert(WIDGET_META_KEY.into(), json!("<Card/>"));
        malformed.meta = Some(rmcp::model::MetaObject(meta));
        assert_eq!(widget_event(&malformed), None);
    }

    #[test]
    fn non_text_blocks_are_described() {
        let result = CallToolResult::success(vec![ContentBlock::image("aGk=", "image/png")]);
        assert_eq!(tool_output(result).content, "[image: image/png]");
    }
}
