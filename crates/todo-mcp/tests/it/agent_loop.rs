//! The full agent loop with MCP tools: a scripted model (the one fake here: the LLM vendor is
//! outside this machine) asks for tool calls, the real loop runs them against the real server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use agent_runtime::{
    Agent, AgentError, FinishReason, Message, ModelEvent, ModelEventStream, ModelProvider,
    ModelRequest, RunEvent, RunResult, ToolCall, run_streamed,
};
use async_trait::async_trait;
use futures::StreamExt;
use mcp_client::McpManager;
use serde_json::{Value, json};

use crate::support::{TestDb, stdio_config};

/// Plays back one scripted answer per model call and records every request.
struct ScriptedModel {
    turns: Mutex<VecDeque<Vec<ModelEvent>>>,
    requests: Mutex<Vec<ModelRequest>>,
}

impl ScriptedModel {
    fn new(turns: Vec<Vec<ModelEvent>>) -> Arc<Self> {
        Arc::new(Self {
            turns: Mutex::new(turns.into()),
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<ModelRequest> {
        self.requests.lock().expect("lock").clone()
    }
}

#[async_trait]
impl ModelProvider for ScriptedModel {
    fn model_name(&self) -> &str {
        "scripted"
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        self.requests.lock().expect("lock").push(request);
        let events = self
            .turns
            .lock()
            .expect("lock")
            .pop_front()
            .expect("a scripted turn is left");
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

fn call_tool(id: &str, name: &str, arguments: Value) -> Vec<ModelEvent> {
    vec![
        ModelEvent::ToolCall(ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_string(),
        }),
        ModelEvent::Finished(FinishReason::ToolCalls),
    ]
}

fn answer(text: &str) -> Vec<ModelEvent> {
    vec![
        ModelEvent::TextDelta(text.to_owned()),
        ModelEvent::Finished(FinishReason::Stop),
    ]
}

async fn run(agent: &Agent, user: &str, prompt: &str) -> RunResult {
    let mut stream = run_streamed(
        agent,
        crate::support::ctx(user),
        vec![Message::user(prompt)],
    );
    while let Some(event) = stream.next().await {
        if let RunEvent::RunFinished(result) = event.expect("run event") {
            return result;
        }
    }
    panic!("the run ended without RunFinished");
}

/// The tool message the model received for call `call_id` in `request`.
fn tool_result(request: &ModelRequest, call_id: &str) -> (String, bool) {
    request
        .messages
        .iter()
        .find_map(|message| match message {
            Message::Tool {
                call_id: id,
                content,
                is_error,
            } if id == call_id => Some((content.clone(), *is_error)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no tool result for {call_id}"))
}

#[tokio::test]
async fn the_agent_loop_runs_mcp_tools_as_the_signed_in_user() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &[])]).expect("valid config");
    let tools = manager.tools().await;

    // Alice's model tries to file the task under Bob's name; Bob's model tries to read Alice's.
    let model = ScriptedModel::new(vec![
        call_tool(
            "call-1",
            "todo_add_task",
            json!({"title": "Alice's secret", "user_id": "bob"}),
        ),
        answer("Added."),
        call_tool("call-2", "todo_list_tasks", json!({"user_id": "alice"})),
        answer("Here are your tasks."),
        call_tool("call-3", "todo_list_tasks", json!({})),
        answer("Here are your tasks."),
    ]);
    let agent = Agent::new("todo", model.clone()).with_tools(tools);

    let added = run(&agent, "alice", "Remember my secret").await;
    assert_eq!(added.final_output, "Added.");
    let bobs_view = run(&agent, "bob", "What are alice's tasks?").await;
    assert_eq!(bobs_view.final_output, "Here are your tasks.");
    run(&agent, "alice", "What are my tasks?").await;

    let requests = model.requests();
    assert_eq!(requests.len(), 6);
    // The model never sees a user_id parameter.
    for definition in &requests[0].tools {
        let properties = definition.parameters["properties"]
            .as_object()
            .expect("properties");
        assert!(!properties.contains_key("user_id"), "{}", definition.name);
    }
    let (added_output, added_error) = tool_result(&requests[1], "call-1");
    assert!(!added_error, "{added_output}");
    let (bob_output, _) = tool_result(&requests[3], "call-2");
    assert_eq!(
        serde_json::from_str::<Value>(&bob_output).expect("json"),
        json!({"tasks": []})
    );
    let (alice_output, _) = tool_result(&requests[5], "call-3");
    let alice_tasks: Value = serde_json::from_str(&alice_output).expect("json");
    assert_eq!(alice_tasks["tasks"][0]["title"], "Alice's secret");
    manager.shutdown().await;
}

/// The names of the tools the model was offered in `request`.
fn offered(request: &ModelRequest) -> Vec<String> {
    request
        .tools
        .iter()
        .map(|definition| definition.name.clone())
        .collect()
}

#[tokio::test]
async fn a_server_down_at_start_up_reaches_the_agent_once_it_comes_up() {
    // The server cannot open its database until the directory exists: a real process that fails
    // at start-up until the operator fixes things.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("not-yet").join("tasks.db");
    let config = stdio_config(&db, &[]).restart(mcp_client::RestartPolicy {
        initial_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(200),
    });
    let manager = McpManager::new([config]).expect("valid config");
    let failures = manager.connect_all().await;
    assert_eq!(failures.len(), 1, "the server is down at start-up");
    let mut changes = manager.tool_list_changes();
    manager.supervise(std::time::Duration::from_millis(50));

    let model = ScriptedModel::new(vec![answer("No tools yet."), answer("Tools now.")]);
    let agent = Agent::new("todo", model.clone()).with_tool_source(Arc::new(manager.clone()));
    run(&agent, "alice", "hello").await;
    assert!(
        offered(&model.requests()[0]).is_empty(),
        "{:?}",
        offered(&model.requests()[0])
    );

    std::fs::create_dir_all(db.parent().expect("parent")).expect("creates the directory");
    // The supervisor retries in the background and ticks the change watch once tools arrive.
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while manager.status()[0].state != mcp_client::McpServerState::Ready {
            changes.changed().await.expect("manager alive");
        }
    })
    .await
    .expect("the server comes up in the background");

    run(&agent, "alice", "hello again").await;
    let now_offered = offered(&model.requests()[1]);
    assert!(
        now_offered.contains(&"todo_add_task".to_owned()),
        "{now_offered:?}"
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn tools_list_changed_reaches_the_agent_on_its_next_run() {
    let db = TestDb::new();
    let manager = McpManager::new([stdio_config(&db.path, &["--test-tools"])]).expect("config");
    let mut changes = manager.tool_list_changes();
    let model = ScriptedModel::new(vec![
        call_tool("call-1", "todo_debug_enable_task_stats", json!({})),
        answer("Enabled."),
        answer("Stats are there."),
    ]);
    let agent = Agent::new("todo", model.clone()).with_tool_source(Arc::new(manager.clone()));

    run(&agent, "alice", "enable stats").await;
    tokio::time::timeout(std::time::Duration::from_secs(20), changes.changed())
        .await
        .expect("list_changed arrives")
        .expect("manager alive");
    run(&agent, "alice", "stats?").await;

    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert!(!offered(&requests[0]).contains(&"todo_task_stats".to_owned()));
    // Within one run the list is fixed, even after the server announced a change.
    assert_eq!(offered(&requests[0]), offered(&requests[1]));
    assert!(
        offered(&requests[2]).contains(&"todo_task_stats".to_owned()),
        "{:?}",
        offered(&requests[2])
    );
    manager.shutdown().await;
}
