//! The agent bridge against a real HTTP fake of the OpenAI API: streamed answers, tool calls shown
//! as workflows and kept for the model, history over many turns, user id and page context.

use std::sync::Arc;

use agent_runtime::{
    Agent, FunctionTool, Instructions, OpenAiChatProvider, OpenAiConfig, RetryConfig, ToolOutput,
};
use chatkit_engine::{AgentServer, AgentServerConfig, Engine, EngineConfig, Response};
use chatkit_store::{MemoryStore, Store};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, ScriptedTurn};

use crate::support::*;

struct AgentHarness {
    engine: Engine,
    model: FakeOpenAi,
    tool_users: Arc<parking_lot::Mutex<Vec<String>>>,
}

async fn agent_harness(history_items: usize) -> AgentHarness {
    let model = FakeOpenAi::start().await;
    let mut config = OpenAiConfig::new(model.base_url(), "fake-model");
    // A failing model must surface at once in these tests; retries are the runtime's own tests.
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let provider = OpenAiChatProvider::new(config).expect("provider");
    let tool_users = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = Arc::clone(&tool_users);
    let add_task = FunctionTool::new(
        "add_task",
        "Adds a task for the current user.",
        json!({"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}),
        move |ctx, args: Value| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().push(ctx.user.id.clone());
                Ok(ToolOutput::text(format!("added task {} for {}", args["title"], ctx.user.id)))
            }
        },
    )
    .into_dyn();
    let instructions = Instructions::template("You are a helpful course assistant.")
        .question("What is the learner working on?")
        .principle("Answer briefly.")
        .with_user_info()
        .with_page_context(["page"])
        .build();
    let agent = Agent::new("assistant", Arc::new(provider))
        .with_instructions(instructions)
        .with_tool(add_task);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let server = AgentServer::new(
        agent,
        AgentServerConfig {
            history_items,
            ..AgentServerConfig::default()
        },
    );
    AgentHarness {
        engine: Engine::new(store, Arc::new(server), EngineConfig::default()),
        model,
        tool_users,
    }
}

async fn run(engine: &Engine, who: &str, body: Value) -> Vec<Value> {
    match engine
        .process(body.to_string().as_bytes(), user(who))
        .await
        .expect("accepted")
    {
        Response::Stream(events) => events
            .collect_all()
            .await
            .iter()
            .map(|e| serde_json::to_value(e).expect("json"))
            .collect(),
        Response::Json(_) => panic!("expected a stream"),
    }
}

fn roles(conversation: &[Value]) -> Vec<String> {
    conversation
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_agent_answer_streams_and_the_second_turn_sees_the_first() {
    let h = agent_harness(10).await;
    h.model
        .push_turn(ScriptedTurn::text("").with_text_chunks(&["Hello", " there", "!"]));
    let mut first = create("Hi");
    first["metadata"] = json!({"page": {"title": "Ownership and borrowing"}});
    let events = run(&h.engine, "alice", first).await;
    let thread_id = events[0]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_owned();
    let deltas: String = events
        .iter()
        .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
        .map(|e| e["update"]["delta"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(deltas, "Hello there!");
    let kinds = kinds(&events);
    assert!(kinds.contains(&"thread.item.updated:assistant_message.content_part.done".to_owned()));
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("thread.item.done:assistant_message")
    );

    let system = h.model.requests()[0]
        .system_prompt()
        .unwrap_or_default()
        .to_owned();
    assert!(system.contains("helpful course assistant"), "{system}");
    assert!(
        system.contains("Ownership and borrowing"),
        "page context reaches the prompt: {system}"
    );
    assert!(
        system.contains("alice"),
        "user info reaches the prompt: {system}"
    );

    h.model.push_turn(ScriptedTurn::text("Second answer"));
    run(&h.engine, "alice", add_message(&thread_id, "And again?")).await;
    let requests = h.model.requests();
    assert_eq!(
        roles(requests[1].conversation()),
        ["system", "user", "assistant", "user"]
    );
}

#[tokio::test]
async fn many_turns_keep_working_and_history_is_cut_to_the_last_n_messages() {
    let h = agent_harness(4).await;
    h.model.push_turn(ScriptedTurn::text("answer 0"));
    let events = run(&h.engine, "alice", create("question 0")).await;
    let thread_id = events[0]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_owned();
    for turn in 1..8 {
        h.model
            .push_turn(ScriptedTurn::text(&format!("answer {turn}")));
        let events = run(
            &h.engine,
            "alice",
            add_message(&thread_id, &format!("question {turn}")),
        )
        .await;
        assert!(
            !events.iter().any(|e| e["type"] == "error"),
            "turn {turn} failed: {events:?}"
        );
    }
    let last = h.model.requests().last().expect("requests").clone();
    let conversation = last.conversation();
    // The system prompt, then the last four messages: answer 5, question 6, answer 6, question 7.
    assert_eq!(
        roles(conversation),
        ["system", "assistant", "user", "assistant", "user"]
    );
    assert!(
        conversation.last().expect("user")["content"]
            .to_string()
            .contains("question 7")
    );
    assert!(conversation[1]["content"].to_string().contains("answer 5"));
}

#[tokio::test]
async fn tool_calls_show_as_a_workflow_act_for_the_authenticated_user_and_stay_in_history() {
    let h = agent_harness(10).await;
    h.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "add_task",
        r#"{"title": "buy milk", "user_id": "mallory"}"#,
    ));
    h.model.push_turn(ScriptedTurn::text("Added it."));
    let events = run(&h.engine, "alice", create("Remind me to buy milk")).await;
    let thread_id = events[0]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_owned();
    let kinds = kinds(&events);
    assert!(
        kinds.contains(&"thread.item.added:workflow".to_owned()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"thread.item.updated:workflow.task.added".to_owned()));
    assert!(kinds.contains(&"thread.item.updated:workflow.task.updated".to_owned()));
    assert!(kinds.contains(&"thread.item.done:workflow".to_owned()));
    assert!(
        !kinds.iter().any(|k| k.contains("hidden")),
        "tool records stay hidden: {kinds:?}"
    );
    assert_eq!(h.tool_users.lock().clone(), ["alice"]);

    // The second model call of the turn saw the tool result; the next turn sees it again.
    h.model.push_turn(ScriptedTurn::text("You have one task."));
    run(
        &h.engine,
        "alice",
        add_message(&thread_id, "What do I have?"),
    )
    .await;
    let requests = h.model.requests();
    assert_eq!(
        roles(requests[1].conversation()),
        ["system", "user", "assistant", "tool"]
    );
    assert_eq!(
        roles(requests[2].conversation()),
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    let tool_message = &requests[2].conversation()[3];
    assert!(tool_message["content"].to_string().contains("for alice"));
}

#[tokio::test]
async fn a_failing_model_ends_the_stream_with_a_retryable_error() {
    let h = agent_harness(10).await;
    h.model
        .push_turn(ScriptedTurn::http_error(500, "upstream down"));
    let events = run(&h.engine, "alice", create("Hi")).await;
    assert_eq!(
        events.last().expect("events"),
        &json!({"type": "error", "code": "stream.error", "allow_retry": true})
    );
    h.model
        .push_turn(ScriptedTurn::text("partial answer that never ends").drop_connection_after(2));
    let events = run(&h.engine, "alice", create("Hi again")).await;
    assert_eq!(
        events.last().expect("events"),
        &json!({"type": "error", "code": "stream.error", "allow_retry": true})
    );
}

#[tokio::test]
async fn reasoning_becomes_a_workflow_of_thoughts_that_closes_with_its_duration_when_the_answer_starts()
 {
    let h = agent_harness(10).await;
    h.model
        .push_turn(ScriptedTurn::text("The answer is 4.").with_reasoning("Two plus two is four."));
    let events = run(&h.engine, "alice", create("What is 2+2?")).await;
    let kinds = kinds(&events);
    let position = |kind: &str| {
        kinds
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("{kind} missing in {kinds:?}"))
    };
    let workflow_added = position("thread.item.added:workflow");
    let thought_added = position("thread.item.updated:workflow.task.added");
    let workflow_done = position("thread.item.done:workflow");
    let answer_added = position("thread.item.added:assistant_message");
    assert!(
        workflow_added < thought_added
            && thought_added < workflow_done
            && workflow_done < answer_added,
        "{kinds:?}"
    );
    let done = &events[workflow_done]["item"]["workflow"];
    assert_eq!(done["type"], "reasoning");
    assert!(
        done["summary"]["duration"].is_number(),
        "a duration summary: {done}"
    );
    let thoughts: String = done["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|task| task["type"] == "thought")
        .map(|task| task["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(thoughts, "Two plus two is four.");
    // The workflow is stored; the answer follows it.
    let answer = events.last().expect("events");
    assert_eq!(answer["item"]["content"][0]["text"], "The answer is 4.");
}
