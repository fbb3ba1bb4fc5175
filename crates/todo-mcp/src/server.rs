//! The MCP server: the todo tools on top of a [`TaskStore`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::store::{StatusFilter, TaskStore, TaskUpdate};
use crate::widget::task_list_meta;

/// Exit status of a process stopped by [`FaultInjection::crash_on_tool`].
pub const CRASH_EXIT_CODE: i32 = 86;

/// Test switches that make the server misbehave on purpose, so that clients can prove they
/// survive crashes, slow tools and changing tool lists. All off by default; never enable them in
/// production.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultInjection {
    /// Calling the tool with this name ends the whole process (`std::process::exit` with
    /// [`CRASH_EXIT_CODE`]) before it answers: a server crashing mid-call.
    pub crash_on_tool: Option<String>,
    /// Offers the extra tools `debug_sleep` (answers after the given number of milliseconds) and
    /// `debug_enable_task_stats` (reveals the hidden `task_stats` tool and sends
    /// `notifications/tools/list_changed`).
    pub test_tools: bool,
}

/// Options of a [`TodoServer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodoServerOptions {
    /// Fault-injection switches for tests.
    pub fault_injection: FaultInjection,
}

/// Tools that exist only with [`FaultInjection::test_tools`].
const TEST_TOOLS: [&str; 2] = ["debug_sleep", "debug_enable_task_stats"];
/// The tool that `debug_enable_task_stats` reveals.
const HIDDEN_TOOL: &str = "task_stats";

/// The todo MCP server. One value serves one MCP session; clone it (or call
/// [`TodoServer::new_session`]) per connection.
#[derive(Debug, Clone)]
pub struct TodoServer {
    store: TaskStore,
    options: Arc<TodoServerOptions>,
    /// Whether this session has revealed `task_stats`.
    stats_enabled: Arc<AtomicBool>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AddTaskArgs {
    /// The user the task belongs to.
    user_id: String,
    /// Short title of the task.
    title: String,
    /// Optional details.
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum StatusArg {
    /// Every task.
    #[default]
    All,
    /// Tasks not done yet.
    Pending,
    /// Done tasks.
    Completed,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ListTasksArgs {
    /// The user whose tasks to list.
    user_id: String,
    /// Which tasks to list: all (default), pending or completed.
    #[serde(default)]
    status: StatusArg,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct TaskIdArgs {
    /// The user the task belongs to.
    user_id: String,
    /// Id of the task.
    task_id: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct UpdateTaskArgs {
    /// The user the task belongs to.
    user_id: String,
    /// Id of the task.
    task_id: i64,
    /// New title; unchanged when absent.
    title: Option<String>,
    /// New description; unchanged when absent.
    description: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct UserArgs {
    /// The user whose tasks to count.
    user_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    /// How long to wait before answering, in milliseconds.
    milliseconds: u64,
}

fn storage_error(error: crate::TodoMcpError) -> ErrorData {
    // The cause goes to the log; the client only learns that storage failed.
    tracing::error!(error = %error, "task storage failed");
    ErrorData::internal_error("task storage failed", None)
}

fn not_found(task_id: i64) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "task {task_id} not found"
    ))])
}

/// The error result for a missing user id, so no tool ever acts for an empty user.
fn missing_user(user_id: &str) -> Option<CallToolResult> {
    user_id
        .trim()
        .is_empty()
        .then(|| CallToolResult::error(vec![ContentBlock::text("user_id must not be empty")]))
}

#[tool_router]
impl TodoServer {
    /// A server over `store` with the given options.
    pub fn new(store: TaskStore, options: TodoServerOptions) -> Self {
        Self {
            store,
            options: Arc::new(options),
            stats_enabled: Arc::new(AtomicBool::new(false)),
            tool_router: Self::tool_router(),
        }
    }

    /// A server for a new session: same store and options, fresh per-session state (the hidden
    /// tool is hidden again).
    pub fn new_session(&self) -> Self {
        Self {
            stats_enabled: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    #[tool(description = "Add a task to the user's todo list. Returns the new task.")]
    async fn add_task(
        &self,
        Parameters(args): Parameters<AddTaskArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        if args.title.trim().is_empty() {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "title must not be empty",
            )]));
        }
        let task = self
            .store
            .add(
                &args.user_id,
                args.title.trim(),
                args.description.as_deref(),
            )
            .await
            .map_err(storage_error)?;
        Ok(CallToolResult::structured(json!({ "task": task })))
    }

    #[tool(description = "List the user's tasks, optionally only pending or only completed ones.")]
    async fn list_tasks(
        &self,
        Parameters(args): Parameters<ListTasksArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        let filter = match args.status {
            StatusArg::All => StatusFilter::All,
            StatusArg::Pending => StatusFilter::Pending,
            StatusArg::Completed => StatusFilter::Completed,
        };
        let tasks = self
            .store
            .list(&args.user_id, filter)
            .await
            .map_err(storage_error)?;
        let mut result = CallToolResult::structured(json!({ "tasks": tasks }));
        result.meta = Some(task_list_meta(&tasks));
        Ok(result)
    }

    #[tool(description = "Mark one of the user's tasks as completed.")]
    async fn complete_task(
        &self,
        Parameters(args): Parameters<TaskIdArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        let task = self
            .store
            .complete(&args.user_id, args.task_id)
            .await
            .map_err(storage_error)?;
        let Some(task) = task else {
            return Ok(not_found(args.task_id));
        };
        // The list after the change, as a widget: a client that completed the task from a
        // task-list widget replaces that widget with this one.
        let tasks = self
            .store
            .list(&args.user_id, StatusFilter::All)
            .await
            .map_err(storage_error)?;
        let mut result = CallToolResult::structured(json!({ "task": task }));
        result.meta = Some(task_list_meta(&tasks));
        Ok(result)
    }

    #[tool(description = "Change the title and/or description of one of the user's tasks.")]
    async fn update_task(
        &self,
        Parameters(args): Parameters<UpdateTaskArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        if args
            .title
            .as_deref()
            .is_some_and(|title| title.trim().is_empty())
        {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "title must not be empty",
            )]));
        }
        let update = TaskUpdate {
            title: args.title.map(|title| title.trim().to_owned()),
            description: args.description,
        };
        let task = self
            .store
            .update(&args.user_id, args.task_id, &update)
            .await
            .map_err(storage_error)?;
        Ok(match task {
            Some(task) => CallToolResult::structured(json!({ "task": task })),
            None => not_found(args.task_id),
        })
    }

    #[tool(description = "Delete one of the user's tasks.")]
    async fn delete_task(
        &self,
        Parameters(args): Parameters<TaskIdArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        let deleted = self
            .store
            .delete(&args.user_id, args.task_id)
            .await
            .map_err(storage_error)?;
        Ok(if deleted {
            CallToolResult::structured(json!({ "deleted": args.task_id }))
        } else {
            not_found(args.task_id)
        })
    }

    #[tool(description = "Count the user's pending and completed tasks.")]
    async fn task_stats(
        &self,
        Parameters(args): Parameters<UserArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(result) = missing_user(&args.user_id) {
            return Ok(result);
        }
        let (pending, completed) = self
            .store
            .counts(&args.user_id)
            .await
            .map_err(storage_error)?;
        Ok(CallToolResult::structured(
            json!({ "pending": pending, "completed": completed }),
        ))
    }

    #[tool(description = "Fault injection: answer after the given number of milliseconds.")]
    async fn debug_sleep(&self, Parameters(args): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(args.milliseconds)).await;
        format!("slept {} ms", args.milliseconds)
    }

    #[tool(description = "Fault injection: reveal the task_stats tool and announce the change.")]
    async fn debug_enable_task_stats(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        self.stats_enabled.store(true, Ordering::SeqCst);
        peer.notify_tool_list_changed().await.map_err(|error| {
            ErrorData::internal_error(format!("could not send list_changed: {error}"), None)
        })?;
        Ok("task_stats enabled".to_owned())
    }
}

impl TodoServer {
    /// Whether the tool named `name` is offered to this session.
    fn is_visible(&self, name: &str) -> bool {
        if TEST_TOOLS.contains(&name) {
            return self.options.fault_injection.test_tools;
        }
        if name == HIDDEN_TOOL {
            return self.stats_enabled.load(Ordering::SeqCst);
        }
        true
    }
}

impl ServerHandler for TodoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("todo-mcp", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Per-user todo list. Every tool takes the acting user's id in `user_id`.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| self.is_visible(&tool.name))
            .collect();
        Ok(ListToolsResult {
            tools,
            ..Default::default()
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.options.fault_injection.crash_on_tool.as_deref() == Some(&*request.name) {
            tracing::warn!(tool.name = %request.name, "fault injection: crashing on purpose");
            std::process::exit(CRASH_EXIT_CODE);
        }
        if !self.is_visible(&request.name) {
            return Err(ErrorData::invalid_params("tool not found", None));
        }
        let started = std::time::Instant::now();
        let name = request.name.clone();
        let result = self
            .tool_router
            .call(ToolCallContext::new(self, request, context))
            .await;
        tracing::debug!(
            tool.name = %name,
            duration_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "tool call finished"
        );
        result
    }
}
