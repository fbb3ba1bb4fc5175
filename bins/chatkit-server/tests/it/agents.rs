//! `[[agents]]` through the real server: the two-agent example of docs/CONFIGURATION.md routes a
//! todo question to the todo assistant (with the real todo MCP server), the next message stays
//! with it, a pattern guardrail refuses a message, and token usage reaches `/metrics`.

use test_support::fake_openai::{RecordedRequest, ScriptedTurn};

use crate::legacy_chat::todo_server;
use crate::support::*;

/// The TOML block that follows the `two-agent example` marker in docs/CONFIGURATION.md: the
/// documented setup is the one tested.
fn documented_example() -> chatkit_server::Settings {
    let docs = include_str!("../../../../docs/CONFIGURATION.md");
    let start = docs
        .find("<!-- two-agent example -->\n```toml\n")
        .expect("the example is marked");
    let block = &docs[start..];
    let block = &block[block.find("```toml\n").expect("fenced") + "```toml\n".len()..];
    let block = &block[..block.find("```").expect("closed")];
    toml::from_str(block).expect("the documented example parses")
}

/// The tool names of a request, sorted.
fn tool_names(request: &RecordedRequest) -> Vec<String> {
    let mut names = request.tool_names();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_triage_hands_todo_questions_to_the_todo_assistant() {
    let example = documented_example();
    chatkit_server::agents::validate(&example.agents, example.default_agent.as_deref())
        .expect("the documented example is valid");
    let tools = tempfile::tempdir().expect("tempdir");
    let todo = todo_server(tools.path());
    let app = spawn_app_with(Db::Sqlite, move |settings| {
        settings.mcp_servers = vec![todo];
        settings.agents = example.agents;
        settings.default_agent = example.default_agent;
    })
    .await;

    app.model.push_turn(ScriptedTurn::tool_call(
        "call_h",
        "transfer_to_todo_assistant",
        "{}",
    ));
    app.model
        .push_turn(ScriptedTurn::tool_call("call_l", "list_tasks", "{}"));
    app.model
        .push_turn(ScriptedTurn::text("Your list is empty."));
    let reply = app.post(create("What is on my todo list?")).await;
    assert_eq!(reply.status, 200);
    let thread_id = reply.events[0]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_owned();
    assert!(
        reply
            .events
            .iter()
            .any(|event| event["type"] == "thread.item.done"
                && event["item"]["workflow"]["tasks"][0]["title"]
                    == "Handed off to todo assistant"),
        "{:?}",
        kinds(&reply.events)
    );
    assert!(!reply.events.iter().any(|event| event["type"] == "error"));
    let requests = app.model.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0]
            .system_prompt()
            .unwrap_or_default()
            .contains("You greet learners")
    );
    assert_eq!(
        tool_names(&requests[0]),
        ["transfer_to_course_tutor", "transfer_to_todo_assistant"]
    );
    for request in &requests[1..] {
        assert!(
            request
                .system_prompt()
                .unwrap_or_default()
                .contains("todo list with your tools")
        );
        assert_eq!(
            tool_names(request),
            ["add_task", "complete_task", "list_tasks"]
        );
    }

    // The next message starts on the todo assistant.
    app.model.push_turn(ScriptedTurn::text("Still empty."));
    let reply = app.post(add_message(&thread_id, "And now?")).await;
    assert_eq!(reply.status, 200);
    let requests = app.model.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests[3]
            .system_prompt()
            .unwrap_or_default()
            .contains("todo list with your tools")
    );

    // The triage's pattern guardrail refuses before any model call.
    let reply = app.post(create("What is my Password?")).await;
    assert_eq!(reply.status, 200);
    let error = reply.events.last().expect("events");
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "custom");
    assert_eq!(error["allow_retry"], false);
    assert_eq!(app.model.requests().len(), 4);

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("sends")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"chatkit_agent_runs_total{outcome="guardrail_tripped"} 1"#),
        "{metrics}"
    );
    let input_tokens = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"chatkit_model_tokens_total{model="fake-model",kind="input"} "#)
        })
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or_default();
    assert!(input_tokens > 0, "{metrics}");
}

#[test]
fn check_config_refuses_a_handoff_cycle() {
    let mut settings = documented_example();
    settings.agents[1].handoffs = vec!["triage".to_owned()];
    let error = settings
        .validate()
        .expect_err("a cycle is refused")
        .to_string();
    assert!(
        error.contains("triage -> course tutor -> triage"),
        "{error}"
    );
}
