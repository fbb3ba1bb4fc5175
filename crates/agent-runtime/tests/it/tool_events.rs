//! Tools that talk to the run's consumer while they run: emitted events and client tool calls a
//! tool ends the turn with, against the fake server.

use std::sync::Arc;

use agent_runtime::{
    Agent, AgentError, FunctionTool, Message, RunContext, RunEvent, RunStop, ToolCallContext,
    ToolEvent, ToolOutput, UserInfo, run_streamed,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use test_support::{FakeOpenAi, ScriptedTurn};
use tokio::sync::{Mutex, oneshot};

use crate::{both, call, with_patience};

fn schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn context() -> RunContext {
    RunContext::for_user(UserInfo {
        id: "user-1".into(),
        ..UserInfo::default()
    })
}

/// A tool that emits `count` events of kind `kind` (data: its call id and the event's number),
/// then answers.
fn emitting_tool(name: &'static str, count: usize) -> agent_runtime::DynTool {
    FunctionTool::new(
        name,
        "Emits events.",
        schema(),
        move |ctx: RunContext, _| async move {
            let tool_call = ctx
                .tool_call
                .expect("the run loop gives every call its context");
            for number in 0..count {
                tool_call
                    .emit(ToolEvent::new(
                        "test.step",
                        json!({"call": tool_call.call_id(), "n": number}),
                    ))
                    .await
                    .map_err(|error| agent_runtime::ToolError::Backend(error.to_string()))?;
            }
            Ok(ToolOutput::text(format!("{name} done")))
        },
    )
    .into_dyn()
}

async fn run_all(agent: &Agent, input: Vec<Message>) -> Vec<RunEvent> {
    let stream = run_streamed(agent, context(), input);
    with_patience(stream.collect::<Vec<_>>())
        .await
        .into_iter()
        .collect::<Result<Vec<_>, AgentError>>()
        .expect("the run succeeded")
}

/// The events of one call, as (kind, data) pairs, and the index of its `ToolCallFinished`.
fn emitted_by(events: &[RunEvent], call_id: &str) -> (Vec<Value>, usize) {
    let mut emitted = Vec::new();
    let mut finished_at = None;
    for (index, event) in events.iter().enumerate() {
        match event {
            RunEvent::ToolEmitted { call, event } if call.id == call_id => {
                assert!(
                    finished_at.is_none(),
                    "an event came after its call finished"
                );
                assert_eq!(event.kind, "test.step");
                emitted.push(event.data.clone());
            }
            RunEvent::ToolCallFinished { call, .. } if call.id == call_id => {
                finished_at = Some(index)
            }
            _ => {}
        }
    }
    (emitted, finished_at.expect("the call finished"))
}

#[tokio::test]
async fn events_a_tool_emits_arrive_in_order_before_its_call_finishes() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        server.push_turn(ScriptedTurn::tool_call("c1", "steps", "{}").with_tool_call(
            "c2",
            "more_steps",
            "{}",
        ));
        server.push_turn(ScriptedTurn::text("Done."));
        // More events than the channel buffers: the loop must read them while the tool runs.
        let agent = Agent::new("helper", model)
            .with_tool(emitting_tool("steps", 3))
            .with_tool(emitting_tool("more_steps", 100));
        let events = run_all(&agent, vec![Message::user("go")]).await;

        let (first, _) = emitted_by(&events, "c1");
        assert_eq!(
            first,
            (0..3)
                .map(|n| json!({"call": "c1", "n": n}))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let (second, _) = emitted_by(&events, "c2");
        assert_eq!(
            second,
            (0..100)
                .map(|n| json!({"call": "c2", "n": n}))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let started = events
            .iter()
            .position(
                |event| matches!(event, RunEvent::ToolCallStarted { call } if call.id == "c1"),
            )
            .expect("started");
        let first_event = events
            .iter()
            .position(|event| matches!(event, RunEvent::ToolEmitted { .. }))
            .expect("emitted");
        assert!(
            started < first_event,
            "{name}: events follow the call's start"
        );
        assert!(
            matches!(events.last(), Some(RunEvent::RunFinished(result)) if result.final_output == "Done."),
            "{name}: the run goes on after emitting tools"
        );
    }
}

#[tokio::test]
async fn a_tool_can_end_the_turn_with_a_client_tool_call() {
    let server = FakeOpenAi::start().await;
    for (name, model) in both(&server) {
        let before = server.requests().len();
        server.push_turn(
            ScriptedTurn::tool_call("c1", "pick_color", r#"{"hint":"warm"}"#)
                .with_tool_call("c2", "plain", "{}"),
        );
        let pick_color = FunctionTool::new(
            "pick_color",
            "Lets the user pick a color in the browser.",
            schema(),
            |ctx: RunContext, arguments: Value| async move {
                let mut client_arguments = Map::new();
                client_arguments.insert("palette".into(), arguments["hint"].clone());
                ctx.tool_call
                    .expect("in a run")
                    .end_turn_with_client_tool_call("open_color_picker", client_arguments);
                Ok(ToolOutput::text("asked the browser"))
            },
        )
        .into_dyn();
        let plain = FunctionTool::new("plain", "Answers.", schema(), |_, _| async {
            Ok(ToolOutput::text("plain answer"))
        })
        .into_dyn();
        let agent = Agent::new("helper", model)
            .with_tool(pick_color)
            .with_tool(plain);
        let events = run_all(&agent, vec![Message::user("pick a color")]).await;

        let client_call = call("c1", "open_color_picker", r#"{"palette":"warm"}"#);
        assert!(
            events.contains(&RunEvent::ClientToolCallRequested {
                call: client_call.clone()
            }),
            "{name}"
        );
        let Some(RunEvent::RunFinished(result)) = events.last() else {
            panic!("{name}: the run finished")
        };
        assert_eq!(
            result.stop,
            RunStop::ClientToolCalls {
                calls: vec![client_call]
            },
            "{name}"
        );
        // The other call's result is kept; the requesting call waits for the client's answer.
        assert_eq!(
            result.new_messages[1..],
            [Message::tool_result("c2", "plain answer")],
            "{name}"
        );
        assert_eq!(
            server.requests().len() - before,
            1,
            "{name}: the model was not asked again"
        );

        // The client's result answers the call, and the run continues from there.
        server.push_turn(ScriptedTurn::text("Orange it is."));
        let mut input = vec![Message::user("pick a color")];
        input.extend(result.new_messages.clone());
        input.push(Message::tool_result("c1", "orange"));
        let events = run_all(&agent, input).await;
        assert!(
            matches!(events.last(), Some(RunEvent::RunFinished(result)) if result.final_output == "Orange it is."),
            "{name}"
        );
        let sent = server
            .requests()
            .last()
            .expect("asked")
            .conversation()
            .to_vec();
        let answers: Vec<&Value> = sent
            .iter()
            .filter(|message| {
                message["role"] == "tool" || message["type"] == "function_call_output"
            })
            .collect();
        assert_eq!(answers.len(), 2, "{name}: one answer per call: {sent:?}");
    }
}

#[tokio::test]
async fn a_finished_call_cannot_emit_into_the_run() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::tool_call("c1", "leaky", "{}"));
    server.push_turn(ScriptedTurn::text("Done."));
    let kept: Arc<Mutex<Option<ToolCallContext>>> = Arc::default();
    let keep = kept.clone();
    let leaky = FunctionTool::new(
        "leaky",
        "Keeps its context.",
        schema(),
        move |ctx: RunContext, _| {
            let keep = keep.clone();
            async move {
                *keep.lock().await = ctx.tool_call;
                Ok(ToolOutput::text("ok"))
            }
        },
    )
    .into_dyn();
    let agent = Agent::new("helper", crate::chat(&server)).with_tool(leaky);
    let events = run_all(&agent, vec![Message::user("go")]).await;
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, RunEvent::ToolEmitted { .. }))
    );
    let tool_call = kept
        .lock()
        .await
        .clone()
        .expect("the tool kept its context");
    assert_eq!(tool_call.call_id(), "c1");
    assert_eq!(
        tool_call
            .emit(ToolEvent::new("test.late", Value::Null))
            .await,
        Err(AgentError::ToolCallOver)
    );
}

#[tokio::test]
async fn dropping_the_run_while_a_tool_streams_stops_the_tool() {
    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::tool_call("c1", "endless", "{}"));
    let (stopped_sender, stopped) = oneshot::channel::<()>();
    let stopped_sender = Arc::new(std::sync::Mutex::new(Some(stopped_sender)));
    let endless = FunctionTool::new(
        "endless",
        "Streams forever.",
        schema(),
        move |ctx: RunContext, _| {
            let stopped_sender = stopped_sender.clone();
            async move {
                // Signals when the future is dropped, however it ends.
                struct OnDrop(Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        if let Some(sender) = self.0.lock().expect("not poisoned").take() {
                            let _ = sender.send(());
                        }
                    }
                }
                let _guard = OnDrop(stopped_sender);
                let tool_call = ctx.tool_call.expect("in a run");
                let mut number = 0u64;
                while tool_call
                    .emit(ToolEvent::new("test.step", json!(number)))
                    .await
                    .is_ok()
                {
                    number += 1;
                }
                Ok(ToolOutput::text("never"))
            }
        },
    )
    .into_dyn();
    let agent = Agent::new("helper", crate::chat(&server)).with_tool(endless);
    let mut stream = run_streamed(&agent, context(), vec![Message::user("go")]);
    let mut seen = 0;
    while let Some(item) = with_patience(stream.next()).await {
        if let Ok(RunEvent::ToolEmitted { event, .. }) = item {
            assert_eq!(event.data, json!(seen));
            seen += 1;
            if seen == 5 {
                break;
            }
        }
    }
    drop(stream);
    with_patience(stopped)
        .await
        .expect("the tool's future was dropped with the run");
}

#[tokio::test]
async fn a_tool_called_outside_a_run_has_no_call_context_and_a_detached_one_works() {
    assert!(context().tool_call.is_none());
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let tool_call = ToolCallContext::detached("c7", "steps", sender);
    tool_call
        .emit(ToolEvent::new("test.step", json!(1)))
        .await
        .expect("the receiver is alive");
    assert_eq!(
        receiver.recv().await,
        Some((0, ToolEvent::new("test.step", json!(1))))
    );
    drop(receiver);
    assert_eq!(
        tool_call.emit(ToolEvent::new("test.step", json!(2))).await,
        Err(AgentError::ToolCallOver)
    );
}
