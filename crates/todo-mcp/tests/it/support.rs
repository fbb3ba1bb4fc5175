//! Shared helpers: server configs, contexts, tool lookup, output parsing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_runtime::{DynTool, RunContext, ToolOutput, UserInfo};
use mcp_client::{McpManager, McpServerConfig};
use serde_json::Value;
use tempfile::TempDir;

/// A fresh database file in its own temporary directory (removed on drop).
pub struct TestDb {
    _dir: TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tasks.db");
        Self { _dir: dir, path }
    }
}

/// The todo server as a child process over stdio, its tools prefixed `todo_`, `user_id` injected.
pub fn stdio_config(db: &Path, extra_args: &[&str]) -> McpServerConfig {
    let mut args = vec![
        "--stdio".to_owned(),
        "--db".to_owned(),
        db.display().to_string(),
    ];
    args.extend(extra_args.iter().map(|arg| (*arg).to_owned()));
    McpServerConfig::stdio("todo", env!("CARGO_BIN_EXE_todo-mcp-server"), args)
        .tool_prefix("todo_")
        .user_id_arguments(["user_id"])
        .call_timeout(Duration::from_secs(20))
}

pub fn ctx(user_id: &str) -> RunContext {
    RunContext::for_user(UserInfo {
        id: user_id.to_owned(),
        ..UserInfo::default()
    })
}

pub async fn tool(manager: &McpManager, name: &str) -> DynTool {
    let tools = manager.tools().await;
    let names: Vec<String> = tools.iter().map(|tool| tool.definition().name).collect();
    tools
        .into_iter()
        .find(|tool| tool.definition().name == name)
        .unwrap_or_else(|| panic!("no tool {name} among {names:?}"))
}

/// Parses a successful output's JSON.
pub fn json(output: &ToolOutput) -> Value {
    assert!(
        !output.is_error,
        "unexpected error output: {}",
        output.content
    );
    serde_json::from_str(&output.content).expect("tool output is JSON")
}

/// The titles in a `list_tasks` output.
pub fn titles(output: &ToolOutput) -> Vec<String> {
    json(output)["tasks"]
        .as_array()
        .expect("tasks array")
        .iter()
        .map(|task| task["title"].as_str().expect("title").to_owned())
        .collect()
}

/// Asserts that no tool schema lets the model see or send a `user_id`.
pub fn assert_no_user_id_in_schemas(tools: &[DynTool]) {
    for tool in tools {
        let definition = tool.definition();
        let parameters = &definition.parameters;
        assert_eq!(parameters["type"], "object", "{}", definition.name);
        let properties = parameters["properties"]
            .as_object()
            .expect("properties object");
        assert!(
            !properties.contains_key("user_id"),
            "{} shows user_id",
            definition.name
        );
        let required = parameters.get("required").and_then(Value::as_array);
        assert!(
            required.is_none_or(|required| !required.iter().any(|name| name == "user_id")),
            "{} requires user_id",
            definition.name
        );
    }
}
