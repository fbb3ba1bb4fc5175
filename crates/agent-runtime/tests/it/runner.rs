//! The agent loop against the fake server: tools, errors, limits, stop rules, client tools,
//! cancellation, history and instructions.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_runtime::{
    Agent, AgentError, DemoModel, FunctionTool, Instructions, Message, RunContext, RunEvent,
    RunResult, RunStop, ToolDefinition, ToolError, ToolOutput, ToolUseBehavior, UserInfo,
    run_streamed,
};
use futures::StreamExt;
use serde_json::{Value, json};
use test_support::{FakeOpenAi, ScriptedTurn};
use tokio::sync::Barrier;

use crate::{both, call, chat, responses, with_patience};

fn schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn echo_tool(name: &str) -> agent_runtime::DynTool {
    let name_owned = name.to_owned();
    FunctionTool::new(
        name,
        "Echoes its arguments.",
        schema(),
        move |_ctx, arguments: Value| {
            let name = name_owned.clone();
            async move { Ok(ToolOutput::text(format!("{name} got {arguments}"))) }
        },
    )
    .into_dyn()
}

fn context() -> RunContext {
    RunContext::for_user(UserInfo {
        id: "user-1".into(),
        email: Some("ada@example.com".into()),
        name: Some("Ada".into()),
    })
}

/// Runs to the end; returns every event and the final error, if any.
async fn run(agent: &Agent, input: Vec<Message>) -> (Vec<RunEvent>, Option<AgentError>) {
    let mut stream = run_streamed(agent, context(), input);
    let mut events = Vec::new();
    while let Some(item) = with_patience(stream.next()).await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(
                    with_patience(stream.next()).await.is_none(),
                    "an error is the last item"
                );
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

async fn finished(agent: &Agent, input: Vec<Message>) -> (Vec<RunEvent>, RunResult) {
    let (events, error) = run(agent, input).await;
    assert_eq!(error, None);
    match events.last() {
        Some(RunEvent::RunFinished(result)) => {
            let result = result.clone();
            (events, result)
        }
        other => panic!("the run did not finish: {other:?}"),
    }
}

#[tokio::test]
async fn a_plain_answer_streams_message_events_in_order() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        server.push_turn(
            ScriptedTurn::text("Hi Ada")
                .with_reasoning("greet her")
                .with_usage(5, 2),
        );
        let agent = Agent::new("helper", model).with_instructions("Be nice.");
        let (events, result) = finished(&agent, vec![Message::user("hello")]).await;
        let rs = "rs_1".to_owned();
        let msg = "msg_2".to_owned();
        assert_eq!(
            events[..events.len() - 1],
            [
                RunEvent::TurnStarted { turn: 1 },
                RunEvent::ReasoningStarted {
                    reasoning_id: rs.clone()
                },
                RunEvent::ReasoningDelta {
                    reasoning_id: rs.clone(),
                    delta: "greet ".into()
                },
                RunEvent::ReasoningDelta {
                    reasoning_id: rs.clone(),
                    delta: "her".into()
                },
                RunEvent::ReasoningDone {
                    reasoning_id: rs,
                    text: "greet her".into()
                },
                RunEvent::MessageStarted {
                    message_id: msg.clone()
                },
                RunEvent::TextDelta {
                    message_id: msg.clone(),
                    delta: "Hi ".into()
                },
                RunEvent::TextDelta {
                    message_id: msg.clone(),
                    delta: "Ada".into()
                },
                RunEvent::MessageDone {
                    message_id: msg,
                    text: "Hi Ada".into(),
                    annotations: Vec::new(),
                },
                RunEvent::Usage(agent_runtime::Usage {
                    input_tokens: 5,
                    output_tokens: 2,
                    total_tokens: 7
                }),
            ],
            "{name}"
        );
        assert_eq!(result.final_output, "Hi Ada");
        assert_eq!(result.turns, 1);
        // The Responses API's reasoning item comes before the message it led to, for an
        // embedder that sends it back on the next turn; Chat Completions has no such item.
        let mut expected = Vec::new();
        if name == "responses" {
            expected.push(Message::Reasoning(agent_runtime::ReasoningItem {
                id: "rs_resp_2".into(),
                summary: vec!["greet her".into()],
                encrypted_content: None,
            }));
        }
        expected.push(Message::assistant("Hi Ada"));
        assert_eq!(result.new_messages, expected, "{name}");
        assert!(matches!(result.stop, RunStop::Completed { .. }));
    }
}

#[tokio::test]
async fn tool_calls_of_one_turn_run_concurrently_and_feed_the_next_turn() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        server.push_turn(
            ScriptedTurn::default()
                .with_tool_call("call_a", "wait_a", r#"{"n":1}"#)
                .with_tool_call("call_b", "wait_b", r#"{"n":2}"#),
        );
        server.push_turn(ScriptedTurn::text("Both done."));
        // Each tool waits for the other: the run only finishes if both run at the same time.
        let barrier = Arc::new(Barrier::new(2));
        let waiting_tool = |tool_name: &'static str| {
            let barrier = barrier.clone();
            FunctionTool::new(
                tool_name,
                "Waits for its twin.",
                schema(),
                move |_ctx, _arguments| {
                    let barrier = barrier.clone();
                    async move {
                        barrier.wait().await;
                        Ok(ToolOutput::text(format!("{tool_name} ok")))
                    }
                },
            )
            .into_dyn()
        };
        let agent = Agent::new("helper", model)
            .with_tools([waiting_tool("wait_a"), waiting_tool("wait_b")]);
        let before = server.requests().len();

        let (events, result) = finished(&agent, vec![Message::user("go")]).await;

        let started: Vec<usize> = positions(&events, |event| {
            matches!(event, RunEvent::ToolCallStarted { .. })
        });
        let finished_at: Vec<usize> = positions(&events, |event| {
            matches!(event, RunEvent::ToolCallFinished { .. })
        });
        assert_eq!((started.len(), finished_at.len()), (2, 2), "{name}");
        assert!(
            started[1] < finished_at[0],
            "{name}: both start before either finishes"
        );
        assert_eq!(result.final_output, "Both done.");
        assert_eq!(result.turns, 2);
        assert_eq!(
            result.new_messages,
            vec![
                Message::Assistant {
                    content: None,
                    tool_calls: vec![
                        call("call_a", "wait_a", r#"{"n":1}"#),
                        call("call_b", "wait_b", r#"{"n":2}"#)
                    ],
                },
                Message::tool_result("call_a", "wait_a ok"),
                Message::tool_result("call_b", "wait_b ok"),
                Message::assistant("Both done."),
            ]
        );
        let requests = server.requests();
        let second = requests[before + 1].conversation();
        let expected_tail = if name == "chat" {
            json!([
                {"role": "tool", "tool_call_id": "call_a", "content": "wait_a ok"},
                {"role": "tool", "tool_call_id": "call_b", "content": "wait_b ok"},
            ])
        } else {
            json!([
                {"type": "function_call_output", "call_id": "call_a", "output": "wait_a ok"},
                {"type": "function_call_output", "call_id": "call_b", "output": "wait_b ok"},
            ])
        };
        assert_eq!(
            Value::Array(second[second.len() - 2..].to_vec()),
            expected_tail,
            "{name}"
        );
    }
}

fn positions(events: &[RunEvent], predicate: impl Fn(&RunEvent) -> bool) -> Vec<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| predicate(event))
        .map(|(index, _)| index)
        .collect()
}

#[tokio::test]
async fn the_concurrency_cap_holds() {
    let server = FakeOpenAi::start().await;
    let mut turn = ScriptedTurn::default();
    for index in 0..6 {
        turn = turn.with_tool_call(&format!("call_{index}"), "count", "{}");
    }
    server.push_turn(turn);
    server.push_turn(ScriptedTurn::text("done"));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tool = {
        let (running, most) = (running.clone(), most.clone());
        FunctionTool::new(
            "count",
            "Counts overlap.",
            schema(),
            move |_ctx, _arguments| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(ToolOutput::text("counted"))
                }
            },
        )
        .into_dyn()
    };
    let agent = Agent::new("helper", chat(&server))
        .with_tool(tool)
        .with_max_concurrent_tool_calls(2);
    let (_, result) = finished(&agent, vec![Message::user("go")]).await;
    assert_eq!(result.final_output, "done");
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "at most 2 at once, saw {}",
        most.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn failing_tools_bad_arguments_and_unknown_tools_become_error_outputs() {
    let server = FakeOpenAi::start().await;
    server.push_turn(
        ScriptedTurn::default()
            .with_tool_call("c1", "broken", "{}")
            .with_tool_call("c2", "echo", "{not json")
            .with_tool_call("c3", "no_such_tool", "{}")
            .with_tool_call("c4", "panics", "{}")
            .with_tool_call("c5", "echo", ""),
    );
    server.push_turn(ScriptedTurn::text("I see some problems."));
    let broken = FunctionTool::new(
        "broken",
        "Always fails.",
        schema(),
        |_ctx, _arguments| async { Err(ToolError::Backend("database unreachable".into())) },
    )
    .into_dyn();
    let panics = FunctionTool::new("panics", "Panics.", schema(), |_ctx, _arguments| async {
        if true {
            panic!("tool bug");
        }
        Ok(ToolOutput::text("unreachable"))
    })
    .into_dyn();
    let agent = Agent::new("helper", chat(&server)).with_tools([broken, echo_tool("echo"), panics]);

    let (events, result) = finished(&agent, vec![Message::user("go")]).await;

    let outputs: Vec<(String, ToolOutput)> = events
        .iter()
        .filter_map(|event| match event {
            RunEvent::ToolCallFinished { call, output } => Some((call.id.clone(), output.clone())),
            _ => None,
        })
        .collect();
    let output_of = |id: &str| {
        outputs
            .iter()
            .find(|(call_id, _)| call_id == id)
            .map(|(_, output)| output.clone())
            .unwrap_or_else(|| panic!("no output for {id}"))
    };
    assert!(output_of("c1").is_error && output_of("c1").content.contains("database unreachable"));
    assert!(output_of("c2").is_error && output_of("c2").content.contains("not valid JSON"));
    assert!(output_of("c3").is_error && output_of("c3").content.contains("no_such_tool"));
    assert!(
        output_of("c3").content.contains("broken, echo, panics"),
        "{}",
        output_of("c3").content
    );
    assert!(output_of("c4").is_error);
    assert_eq!(
        output_of("c5"),
        ToolOutput::text("echo got {}"),
        "empty arguments mean {{}}"
    );
    assert_eq!(result.final_output, "I see some problems.");
    let second = &server.requests()[1];
    let tool_messages: Vec<&Value> = second
        .conversation()
        .iter()
        .filter(|message| message["role"] == "tool")
        .collect();
    assert_eq!(tool_messages.len(), 5, "the model sees every outcome");
    assert!(
        tool_messages[0]["content"]
            .as_str()
            .is_some_and(|text| text.contains("database unreachable"))
    );
}

#[tokio::test]
async fn going_past_max_turns_ends_with_a_clear_error() {
    let server = FakeOpenAi::start().await;
    for index in 0..3 {
        server.push_turn(ScriptedTurn::tool_call(&format!("c{index}"), "echo", "{}"));
    }
    let agent = Agent::new("helper", chat(&server))
        .with_tool(echo_tool("echo"))
        .with_max_turns(2);
    let (events, error) = run(&agent, vec![Message::user("loop forever")]).await;
    assert_eq!(error, Some(AgentError::MaxTurnsExceeded { max_turns: 2 }));
    assert_eq!(server.requests().len(), 2, "no third model call");
    let tool_runs = events
        .iter()
        .filter(|event| matches!(event, RunEvent::ToolCallFinished { .. }))
        .count();
    assert_eq!(tool_runs, 2);
    assert!(error.is_some_and(|error| error.to_string().contains("limit of 2 model turns")));
}

#[tokio::test]
async fn stop_on_first_tool_makes_its_output_the_final_output() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::tool_call("c1", "echo", r#"{"x":1}"#));
    let agent = Agent::new("helper", chat(&server))
        .with_tool(echo_tool("echo"))
        .with_tool_use_behavior(ToolUseBehavior::StopOnFirstTool);
    let (_, result) = finished(&agent, vec![Message::user("go")]).await;
    assert_eq!(result.final_output, r#"echo got {"x":1}"#);
    assert_eq!(
        result.stop,
        RunStop::StoppedAtTool {
            call: call("c1", "echo", r#"{"x":1}"#)
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stop_at_named_tools_only_stops_on_those() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::tool_call("c1", "lookup", "{}"));
    server.push_turn(
        ScriptedTurn::tool_call("c2", "lookup", "{}").with_tool_call("c3", "submit", r#"{"v":2}"#),
    );
    let agent = Agent::new("helper", chat(&server))
        .with_tools([echo_tool("lookup"), echo_tool("submit")])
        .with_tool_use_behavior(ToolUseBehavior::StopAtTools(HashSet::from([
            "submit".to_owned()
        ])));
    let (_, result) = finished(&agent, vec![Message::user("go")]).await;
    assert_eq!(result.final_output, r#"submit got {"v":2}"#);
    assert_eq!(result.turns, 2);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_client_tool_call_stops_the_run_and_is_reported() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        let before = server.requests().len();
        server.push_turn(
            ScriptedTurn::text("Opening it.")
                .with_tool_call("c1", "echo", "{}")
                .with_tool_call("c2", "open_page", r#"{"path":"/tasks"}"#),
        );
        let agent = Agent::new("helper", model)
            .with_tool(echo_tool("echo"))
            .with_client_tool(ToolDefinition {
                name: "open_page".into(),
                description: "Opens a page in the browser.".into(),
                parameters: schema(),
            });
        let (events, result) = finished(&agent, vec![Message::user("open my tasks")]).await;
        let client_call = call("c2", "open_page", r#"{"path":"/tasks"}"#);
        assert!(
            events.contains(&RunEvent::ClientToolCallRequested {
                call: client_call.clone()
            }),
            "{name}"
        );
        assert!(
            !events.iter().any(|event| matches!(event, RunEvent::ToolCallStarted { call } if call.name == "open_page")),
            "{name}: client tools never run on the server"
        );
        assert_eq!(
            result.stop,
            RunStop::ClientToolCalls {
                calls: vec![client_call]
            },
            "{name}"
        );
        assert_eq!(
            result.new_messages.last(),
            Some(&Message::tool_result("c1", "echo got {}")),
            "{name}"
        );
        assert_eq!(
            server.requests().len() - before,
            1,
            "{name}: the run stopped"
        );
        let tools = &server.requests()[before].body["tools"];
        assert_eq!(
            tools.as_array().map(Vec::len),
            Some(2),
            "{name}: the model sees the client tool"
        );
    }
}

#[tokio::test]
async fn dropping_the_run_cancels_the_model_request() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Hello endless world").hang_after(2));
    let agent = Agent::new("helper", chat(&server));
    let mut stream = run_streamed(&agent, context(), vec![Message::user("hi")]);
    loop {
        match with_patience(stream.next()).await {
            Some(Ok(RunEvent::TextDelta { .. })) => break,
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(stream);
    with_patience(server.wait_for_disconnects(1)).await;
}

#[tokio::test]
async fn a_provider_error_mid_run_is_the_last_item() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::tool_call("c1", "echo", "{}"));
    server.push_turn(ScriptedTurn::http_error(401, "bad key"));
    let agent = Agent::new("helper", chat(&server)).with_tool(echo_tool("echo"));
    let (_, error) = run(&agent, vec![Message::user("go")]).await;
    assert!(
        matches!(error, Some(AgentError::Provider { status: 401, .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_history_window_limits_what_the_model_sees() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("ok"));
    let mut input = Vec::new();
    for index in 0..12 {
        input.push(Message::user(format!("question {index}")));
        input.push(Message::assistant(format!("answer {index}")));
    }
    input.push(Message::user("latest"));
    let agent = Agent::new("helper", chat(&server))
        .with_instructions("Rules.")
        .with_history_items(3);
    finished(&agent, input).await;
    let sent = server.requests()[0].conversation().to_vec();
    assert_eq!(
        Value::Array(sent),
        json!([
            {"role": "system", "content": "Rules."},
            {"role": "user", "content": "question 11"},
            {"role": "assistant", "content": "answer 11"},
            {"role": "user", "content": "latest"},
        ])
    );
}

#[tokio::test]
async fn the_default_history_window_is_ten_items() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("ok"));
    let input: Vec<Message> = (0..25)
        .map(|index| Message::user(format!("m{index}")))
        .collect();
    let agent = Agent::new("helper", chat(&server));
    finished(&agent, input).await;
    let sent = server.requests()[0].conversation().to_vec();
    assert_eq!(sent.len(), 10, "no instructions, ten items");
    assert_eq!(sent[0]["content"], "m15");
}

#[tokio::test]
async fn the_run_context_reaches_the_system_prompt() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("ok"));
    let agent = Agent::new("tasky", chat(&server)).with_instructions(
        Instructions::template("You are Tasky, a to-do assistant.")
            .question("What is on my list today?")
            .principle("Only use tools to change tasks.")
            .with_user_info()
            .with_page_context(["page"])
            .build(),
    );
    let mut ctx = context();
    ctx.metadata.insert("page".into(), json!("/tasks/today"));
    ctx.metadata
        .insert("internal_token".into(), json!("do-not-leak"));
    let mut stream = run_streamed(&agent, ctx, vec![Message::user("hi")]);
    while let Some(item) = with_patience(stream.next()).await {
        item.expect("the run succeeds");
    }
    let request = &server.requests()[0];
    let prompt = request.system_prompt().expect("a system prompt");
    assert!(
        prompt.starts_with("You are Tasky, a to-do assistant."),
        "{prompt}"
    );
    assert!(prompt.contains("- What is on my list today?"));
    assert!(prompt.contains("- Only use tools to change tasks."));
    assert!(prompt.contains(r#"- Name: "Ada""#));
    assert!(prompt.contains(r#"- E-mail: "ada@example.com""#));
    assert!(prompt.contains(r#"- page: "/tasks/today""#));
    assert!(!prompt.contains("do-not-leak"));
    assert_eq!(
        request.conversation()[0]["role"],
        "system",
        "instructions come first"
    );
}

#[tokio::test]
async fn the_demo_model_streams_and_calls_a_task_tool_offline() {
    let added = Arc::new(AtomicUsize::new(0));
    let add_task = {
        let added = added.clone();
        FunctionTool::new(
            "add_task",
            "Adds a task.",
            schema(),
            move |_ctx, arguments: Value| {
                let added = added.clone();
                async move {
                    added.fetch_add(1, Ordering::SeqCst);
                    let title = arguments["title"].as_str().unwrap_or_default().to_owned();
                    Ok(ToolOutput::text(format!("added {title:?}")))
                }
            },
        )
        .into_dyn()
    };
    let agent = Agent::new("demo", Arc::new(DemoModel::new(Duration::ZERO))).with_tool(add_task);
    let (events, result) = finished(&agent, vec![Message::user("Add a task: buy milk")]).await;
    assert_eq!(added.load(Ordering::SeqCst), 1);
    assert!(
        result.final_output.contains("buy milk"),
        "{}",
        result.final_output
    );
    let deltas = events
        .iter()
        .filter(|event| matches!(event, RunEvent::TextDelta { .. }))
        .count();
    assert!(deltas > 3, "the answer streams in pieces");

    let (_, chat_only) = finished(&agent, vec![Message::user("hello")]).await;
    assert!(chat_only.final_output.contains("demo model"));
    assert_eq!(chat_only.turns, 1);
}

#[tokio::test]
async fn a_client_tool_result_continues_the_run_and_lost_results_do_not_break_it() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::text("Page opened."));
    server.push_turn(ScriptedTurn::text("Still here."));
    let agent = Agent::new("helper", chat(&server)).with_client_tool(ToolDefinition {
        name: "open_page".into(),
        description: "Opens a page.".into(),
        parameters: schema(),
    });
    let pending = Message::Assistant {
        content: None,
        tool_calls: vec![call("c9", "open_page", "{}")],
    };

    let answered = vec![
        Message::user("open it"),
        pending.clone(),
        Message::tool_result("c9", "opened"),
    ];
    let (_, result) = finished(&agent, answered).await;
    assert_eq!(result.final_output, "Page opened.");

    // The client never answered: the model gets an error result instead of a 400 from the vendor.
    let (_, result) = finished(
        &agent,
        vec![Message::user("open it"), pending, Message::user("hello?")],
    )
    .await;
    assert_eq!(result.final_output, "Still here.");
    let sent = server.requests()[1].conversation().to_vec();
    assert_eq!(sent[2]["role"], "tool");
    assert_eq!(sent[2]["tool_call_id"], "c9");
    assert_eq!(sent[3]["content"], "hello?");
}

#[tokio::test]
async fn provider_citations_are_reported_as_they_arrive_and_again_with_the_message() {
    let server = FakeOpenAi::start().await;
    server.push_turn(
        ScriptedTurn::text("Rust 1.85 is out.").with_annotation(json!({
        "type": "url_citation", "start_index": 0, "end_index": 9,
        "url": "https://blog.rust-lang.test/1.85", "title": "Rust 1.85"})),
    );
    let agent = Agent::new("helper", responses(&server));
    let (events, _) = finished(&agent, vec![Message::user("news?")]).await;
    let added: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| matches!(event, RunEvent::AnnotationAdded { .. }))
        .map(|(position, _)| position)
        .collect();
    let done = events
        .iter()
        .position(|event| matches!(event, RunEvent::MessageDone { .. }))
        .expect("the message is done");
    assert_eq!(added.len(), 1, "{events:?}");
    assert!(added[0] < done, "reported before the message is done");
    let (RunEvent::AnnotationAdded { annotation, .. }, RunEvent::MessageDone { annotations, .. }) =
        (&events[added[0]], &events[done])
    else {
        unreachable!()
    };
    assert_eq!(annotation.index, 9);
    assert_eq!(annotations, std::slice::from_ref(annotation));
}
