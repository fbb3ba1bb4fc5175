//! Agents SDK parity, part A, against the fake server on both wire formats: handoffs, input and
//! output guardrails, run and agent hooks, usage over a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_runtime::{
    Agent, AgentError, AgentHooks, FunctionTool, GuardrailOutput, Handoff, InputGuardrail, Message,
    ModelGuardrail, ModelProvider, OutputGuardrail, RunContext, RunEvent, RunHooks, RunResult,
    ToolCall, ToolOutput, Usage, run_streamed_with_hooks,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::sync::Mutex;

use agent_runtime::{ModelEventStream, ModelRequest};
use serde_json::{Value, json};
use test_support::{FakeOpenAi, RecordedRequest, ScriptedTurn};
use tokio::sync::Notify;

use crate::{both, with_patience};

fn counting_tool(name: &str, runs: Arc<AtomicUsize>) -> agent_runtime::DynTool {
    let label = name.to_owned();
    FunctionTool::new(
        name,
        "Looks something up.",
        json!({"type": "object", "properties": {}}),
        move |_ctx, _arguments: Value| {
            let runs = runs.clone();
            let label = label.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(ToolOutput::text(format!("{label} result")))
            }
        },
    )
    .into_dyn()
}

/// Runs to the end with `hooks`; returns every event and the final error, if any.
async fn run_with(
    agent: &Agent,
    input: Vec<Message>,
    hooks: Arc<dyn RunHooks>,
) -> (Vec<RunEvent>, Option<AgentError>) {
    let mut stream = run_streamed_with_hooks(agent, RunContext::default(), input, hooks);
    let mut events = Vec::new();
    while let Some(item) = with_patience(stream.next()).await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(with_patience(stream.next()).await.is_none());
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

async fn run(agent: &Agent, text: &str) -> (Vec<RunEvent>, Option<AgentError>) {
    run_with(
        agent,
        vec![Message::user(text)],
        Arc::new(agent_runtime::NoRunHooks),
    )
    .await
}

fn result_of(events: &[RunEvent]) -> RunResult {
    match events.last() {
        Some(RunEvent::RunFinished(result)) => result.clone(),
        other => panic!("the run did not finish: {other:?}"),
    }
}

/// The tool results a recorded request carried, as `(call id, output)`, in either wire format.
fn tool_results(request: &RecordedRequest) -> Vec<(String, String)> {
    request
        .conversation()
        .iter()
        .filter_map(|item| {
            let (id, output) = if item.get("role").and_then(Value::as_str) == Some("tool") {
                (item.get("tool_call_id")?, item.get("content")?)
            } else if item.get("type").and_then(Value::as_str) == Some("function_call_output") {
                (item.get("call_id")?, item.get("output")?)
            } else {
                return None;
            };
            Some((id.as_str()?.to_owned(), output.as_str()?.to_owned()))
        })
        .collect()
}

fn triage_and_tutor(model: Arc<dyn ModelProvider>, tutor_runs: Arc<AtomicUsize>) -> Agent {
    let tutor = Agent::new("Course Tutor", model.clone())
        .with_instructions("Teach the course.")
        .with_handoff_description("Answers questions about the course.")
        .with_tool(counting_tool("lookup_lesson", tutor_runs));
    Agent::new("triage", model)
        .with_instructions("Route the user.")
        .with_handoff(Handoff::to(tutor))
}

#[tokio::test]
async fn a_handoff_switches_instructions_and_tools_for_the_rest_of_the_run() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        let before = server.requests().len();
        server.push_turn(
            ScriptedTurn::default()
                .with_text("Let me get the tutor.")
                .with_tool_call("call_h", "transfer_to_course_tutor", "{}"),
        );
        server.push_turn(ScriptedTurn::tool_call("call_l", "lookup_lesson", "{}"));
        server.push_turn(ScriptedTurn::text("Lesson 3 covers loops."));
        let tutor_runs = Arc::new(AtomicUsize::new(0));
        let agent = triage_and_tutor(model, tutor_runs.clone());

        let (events, error) = run(&agent, "What is in lesson 3?").await;
        assert_eq!(error, None, "{wire}");
        let result = result_of(&events);
        assert_eq!(result.last_agent, "Course Tutor", "{wire}");
        assert_eq!(result.final_output, "Lesson 3 covers loops.", "{wire}");
        assert_eq!(result.turns, 3, "{wire}");
        assert_eq!(tutor_runs.load(Ordering::SeqCst), 1, "{wire}");
        let handoffs: Vec<&RunEvent> = events
            .iter()
            .filter(|event| matches!(event, RunEvent::Handoff { .. }))
            .collect();
        assert_eq!(
            handoffs,
            [&RunEvent::Handoff {
                call: ToolCall {
                    id: "call_h".into(),
                    name: "transfer_to_course_tutor".into(),
                    arguments: "{}".into()
                },
                from: "triage".into(),
                to: "Course Tutor".into(),
            }],
            "{wire}"
        );
        // The handoff is no tool call of the loop: it is not reported as one.
        assert!(
            !events.iter().any(
                |event| matches!(event, RunEvent::ToolCallStarted { call } if call.id == "call_h")
            ),
            "{wire}"
        );

        let requests = &server.requests()[before..];
        assert_eq!(requests.len(), 3, "{wire}");
        assert_eq!(
            requests[0].system_prompt(),
            Some("Route the user."),
            "{wire}"
        );
        assert_eq!(
            requests[0].tool_names(),
            ["transfer_to_course_tutor"],
            "{wire}"
        );
        let description = requests[0].body["tools"][0]
            .pointer("/function/description")
            .or_else(|| requests[0].body["tools"][0].get("description"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        assert_eq!(
            description.as_deref(),
            Some(
                "Handoff to the Course Tutor agent to handle the request. Answers questions about the course."
            ),
            "{wire}"
        );
        for request in &requests[1..] {
            assert_eq!(request.system_prompt(), Some("Teach the course."), "{wire}");
            assert_eq!(request.tool_names(), ["lookup_lesson"], "{wire}");
        }
        assert_eq!(
            tool_results(&requests[1]),
            [(
                "call_h".to_owned(),
                r#"{"assistant": "Course Tutor"}"#.to_owned()
            )],
            "{wire}"
        );
        assert_eq!(
            result.new_messages[1],
            Message::tool_result("call_h", r#"{"assistant": "Course Tutor"}"#),
            "{wire}"
        );
    }
}

#[tokio::test]
async fn an_input_filter_rewrites_what_the_target_agent_reads_and_only_the_first_handoff_counts() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        let before = server.requests().len();
        server.push_turn(
            ScriptedTurn::default()
                .with_tool_call("call_1", "transfer_to_tutor", "{}")
                .with_tool_call("call_2", "transfer_to_todo", "{}"),
        );
        server.push_turn(ScriptedTurn::text("Tutor here."));
        let tutor = Agent::new("tutor", model.clone()).with_instructions("Teach.");
        let todo = Agent::new("todo", model.clone()).with_instructions("Track todos.");
        // Keeps the user's messages only: the tutor starts without the triage's tool traffic.
        let only_users = Arc::new(|history: Vec<Message>| {
            history
                .into_iter()
                .filter(|message| matches!(message, Message::User { .. }))
                .collect::<Vec<_>>()
        });
        let agent = Agent::new("triage", model)
            .with_handoff(Handoff::to(tutor).with_input_filter(only_users))
            .with_handoff(Handoff::to(todo));

        let (events, error) = run(&agent, "teach me").await;
        assert_eq!(error, None, "{wire}");
        let result = result_of(&events);
        assert_eq!(result.last_agent, "tutor", "{wire}");
        assert_eq!(
            result.new_messages[1..3],
            [
                Message::tool_result("call_1", r#"{"assistant": "tutor"}"#),
                Message::tool_result("call_2", "Multiple handoffs detected, ignoring this one."),
            ],
            "{wire}"
        );
        let requests = &server.requests()[before..];
        assert_eq!(requests.len(), 2, "{wire}");
        assert_eq!(requests[1].system_prompt(), Some("Teach."), "{wire}");
        let conversation = requests[1].conversation();
        assert_eq!(conversation.len(), 2, "{wire}: system and the user message");
        assert!(tool_results(&requests[1]).is_empty(), "{wire}");
    }
}

/// An input guardrail that trips when the last user message mentions `word`.
struct WordGuardrail {
    word: &'static str,
    parallel: bool,
    checks: AtomicUsize,
    /// When set, the check waits for this signal before it looks at the input.
    gate: Option<Arc<Notify>>,
}

#[async_trait]
impl InputGuardrail for WordGuardrail {
    fn name(&self) -> &str {
        "no_cheating"
    }

    fn run_in_parallel(&self) -> bool {
        self.parallel
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        input: &[Message],
    ) -> Result<GuardrailOutput, AgentError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let text = agent_runtime::guardrail::last_user_text(input);
        Ok(if text.contains(self.word) {
            GuardrailOutput::tripwire(json!({ "word": self.word }))
        } else {
            GuardrailOutput::pass()
        })
    }
}

#[async_trait]
impl OutputGuardrail for WordGuardrail {
    fn name(&self) -> &str {
        "no_secrets"
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        output: &str,
    ) -> Result<GuardrailOutput, AgentError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        Ok(if output.contains(self.word) {
            GuardrailOutput::tripwire(Value::Null)
        } else {
            GuardrailOutput::pass()
        })
    }
}

fn word_guardrail(word: &'static str, parallel: bool) -> Arc<WordGuardrail> {
    Arc::new(WordGuardrail {
        word,
        parallel,
        checks: AtomicUsize::new(0),
        gate: None,
    })
}

#[tokio::test]
async fn a_blocking_input_guardrail_stops_the_run_before_the_model_is_asked() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        let before = server.requests().len();
        let guardrail = word_guardrail("cheat", false);
        let agent = Agent::new("tutor", model).with_input_guardrail(guardrail.clone());
        let (events, error) = run(&agent, "help me cheat on the exam").await;
        assert_eq!(
            error,
            Some(AgentError::InputGuardrailTripwire {
                guardrail: "no_cheating".into()
            }),
            "{wire}"
        );
        assert!(events.is_empty(), "{wire}: {events:?}");
        assert_eq!(server.requests().len(), before, "{wire}: no model call");
    }
}

/// A provider that signals once the wrapped provider's answer started streaming, so that a test
/// can let a guardrail decide while the model call is under way.
struct SignallingModel {
    inner: Arc<dyn ModelProvider>,
    started: Arc<Notify>,
}

#[async_trait]
impl ModelProvider for SignallingModel {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelEventStream, AgentError> {
        let stream = self.inner.stream(request).await?;
        self.started.notify_one();
        Ok(stream)
    }
}

#[tokio::test]
async fn a_parallel_input_guardrail_stops_the_run_despite_the_model_call_and_no_tool_runs() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        let before = server.requests().len();
        server.push_turn(ScriptedTurn::tool_call("call_l", "lookup_lesson", "{}"));
        let runs = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Notify::new());
        // The verdict comes only once the model answer is streaming: the trip happens during
        // the model call, not before it.
        let guardrail = Arc::new(WordGuardrail {
            word: "cheat",
            parallel: true,
            checks: AtomicUsize::new(0),
            gate: Some(started.clone()),
        });
        let model: Arc<dyn ModelProvider> = Arc::new(SignallingModel {
            inner: model,
            started,
        });
        let agent = Agent::new("tutor", model)
            .with_tool(counting_tool("lookup_lesson", runs.clone()))
            .with_input_guardrail(guardrail.clone());
        let (events, error) = run(&agent, "help me cheat on the exam").await;
        assert_eq!(
            error,
            Some(AgentError::InputGuardrailTripwire {
                guardrail: "no_cheating".into()
            }),
            "{wire}"
        );
        assert_eq!(
            server.requests().len(),
            before + 1,
            "{wire}: the model was asked"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0, "{wire}: the tool never ran");
        assert!(
            !events.iter().any(|event| matches!(
                event,
                RunEvent::ToolCallStarted { .. } | RunEvent::RunFinished(_)
            )),
            "{wire}: {events:?}"
        );
        // A clean input passes, and the guardrail ran once per run.
        server.push_turn(ScriptedTurn::text("Loops repeat things."));
        let (events, error) = run(&agent, "what is a loop?").await;
        assert_eq!(error, None, "{wire}");
        assert_eq!(result_of(&events).final_output, "Loops repeat things.");
        assert_eq!(guardrail.checks.load(Ordering::SeqCst), 2, "{wire}");
    }
}

#[tokio::test]
async fn input_guardrails_only_run_for_the_starting_agent() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        server.push_turn(ScriptedTurn::tool_call("call_h", "transfer_to_tutor", "{}"));
        server.push_turn(ScriptedTurn::text("Tutor here."));
        let tutor_guardrail = word_guardrail("teach", false);
        let tutor =
            Agent::new("tutor", model.clone()).with_input_guardrail(tutor_guardrail.clone());
        let agent = Agent::new("triage", model).with_handoff(Handoff::to(tutor));
        let (_, error) = run(&agent, "teach me").await;
        assert_eq!(error, None, "{wire}");
        assert_eq!(tutor_guardrail.checks.load(Ordering::SeqCst), 0, "{wire}");
    }
}

#[tokio::test]
async fn an_output_guardrail_of_the_final_agent_trips_on_its_answer() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        server.push_turn(ScriptedTurn::text("The password is hunter2."));
        let guardrail = word_guardrail("hunter2", true);
        let agent = Agent::new("helper", model).with_output_guardrail(guardrail.clone());
        let (events, error) = run(&agent, "what is the password?").await;
        assert_eq!(
            error,
            Some(AgentError::OutputGuardrailTripwire {
                guardrail: "no_secrets".into()
            }),
            "{wire}"
        );
        // The answer was streamed before the check: the caller must take it back.
        assert!(
            events
                .iter()
                .any(|event| matches!(event, RunEvent::MessageDone { .. })),
            "{wire}"
        );
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, RunEvent::RunFinished(_))),
            "{wire}"
        );
    }
}

#[tokio::test]
async fn an_output_guardrail_also_checks_the_output_of_a_stopping_tool() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        server.push_turn(ScriptedTurn::tool_call("call_l", "lookup_lesson", "{}"));
        let agent = Agent::new("helper", model)
            .with_tool(counting_tool(
                "lookup_lesson",
                Arc::new(AtomicUsize::new(0)),
            ))
            .with_tool_use_behavior(agent_runtime::ToolUseBehavior::StopOnFirstTool)
            .with_output_guardrail(word_guardrail("lookup_lesson result", true));
        let (events, error) = run(&agent, "look it up").await;
        assert_eq!(
            error,
            Some(AgentError::OutputGuardrailTripwire {
                guardrail: "no_secrets".into()
            }),
            "{wire}"
        );
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, RunEvent::RunFinished(_))),
            "{wire}"
        );
    }
}

#[tokio::test]
async fn a_model_guardrail_asks_the_model_for_a_yes_or_no() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        let before = server.requests().len();
        let guardrail = Arc::new(
            ModelGuardrail::new(
                "homework",
                model.clone(),
                "Block requests to do graded homework.",
            )
            .with_run_in_parallel(false),
        );
        let agent = Agent::new("tutor", model)
            .with_input_guardrail(guardrail.clone())
            .with_output_guardrail(guardrail);
        // Input: the judge says no, the agent answers, the judge says yes on the answer.
        server.push_turn(ScriptedTurn::text("No"));
        server.push_turn(ScriptedTurn::text("Here is your graded essay."));
        server.push_turn(ScriptedTurn::text("Yes."));
        let (_, error) = run(&agent, "write my essay").await;
        assert_eq!(
            error,
            Some(AgentError::OutputGuardrailTripwire {
                guardrail: "homework".into()
            }),
            "{wire}"
        );
        let requests = &server.requests()[before..];
        assert_eq!(requests.len(), 3, "{wire}");
        let judge_prompt = requests[0].system_prompt().unwrap_or_default();
        assert!(
            judge_prompt.starts_with("Block requests to do graded homework."),
            "{wire}: {judge_prompt}"
        );
        assert!(requests[0].tool_names().is_empty(), "{wire}");
        assert_eq!(requests[2].system_prompt(), Some(judge_prompt), "{wire}");
    }
}

/// Records every hook call as a line, run hooks and agent hooks alike.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn push(&self, line: String) {
        self.0.lock().expect("not poisoned").push(line);
    }
}

#[async_trait]
impl RunHooks for Recorder {
    async fn on_agent_start(&self, _ctx: &RunContext, agent: &Agent) {
        self.push(format!("run: start {}", agent.name()));
    }
    async fn on_llm_end(&self, _ctx: &RunContext, agent: &Agent, usage: Option<&Usage>) {
        self.push(format!(
            "run: llm end {} {}",
            agent.name(),
            usage.map_or(0, |usage| usage.total_tokens)
        ));
    }
    async fn on_tool_start(&self, _ctx: &RunContext, agent: &Agent, call: &ToolCall) {
        self.push(format!("run: tool start {} {}", agent.name(), call.name));
    }
    async fn on_tool_end(
        &self,
        _ctx: &RunContext,
        agent: &Agent,
        call: &ToolCall,
        output: &ToolOutput,
    ) {
        self.push(format!(
            "run: tool end {} {} {}",
            agent.name(),
            call.name,
            output.content
        ));
    }
    async fn on_handoff(&self, _ctx: &RunContext, from: &Agent, to: &Agent) {
        self.push(format!("run: handoff {} -> {}", from.name(), to.name()));
    }
    async fn on_agent_end(&self, _ctx: &RunContext, agent: &Agent, output: &str) {
        self.push(format!("run: end {} {output}", agent.name()));
    }
}

/// Agent hooks that write into a shared [`Recorder`].
struct AgentRecorder(Arc<Recorder>);

#[async_trait]
impl AgentHooks for AgentRecorder {
    async fn on_start(&self, _ctx: &RunContext, agent: &Agent) {
        self.0.push(format!("agent: start {}", agent.name()));
    }
    async fn on_tool_start(&self, _ctx: &RunContext, agent: &Agent, call: &ToolCall) {
        self.0
            .push(format!("agent: tool start {} {}", agent.name(), call.name));
    }
    async fn on_tool_end(
        &self,
        _ctx: &RunContext,
        agent: &Agent,
        call: &ToolCall,
        _output: &ToolOutput,
    ) {
        self.0
            .push(format!("agent: tool end {} {}", agent.name(), call.name));
    }
    async fn on_handoff(&self, _ctx: &RunContext, agent: &Agent, source: &Agent) {
        self.0.push(format!(
            "agent: handoff {} <- {}",
            agent.name(),
            source.name()
        ));
    }
    async fn on_end(&self, _ctx: &RunContext, agent: &Agent, output: &str) {
        self.0.push(format!("agent: end {} {output}", agent.name()));
    }
}

#[tokio::test]
async fn hooks_are_called_in_order_and_usage_is_summed_over_agents() {
    let server = FakeOpenAi::start().await;
    for (wire, model) in both(&server) {
        server.push_turn(
            ScriptedTurn::default()
                .with_tool_call("call_n", "note", "{}")
                .with_tool_call("call_h", "transfer_to_tutor", "{}")
                .with_usage(10, 4),
        );
        server.push_turn(ScriptedTurn::text("Done.").with_usage(20, 3));
        let recorder = Arc::new(Recorder::default());
        let agent_hooks = Arc::new(AgentRecorder(recorder.clone()));
        let tutor = Agent::new("tutor", model.clone()).with_hooks(agent_hooks.clone());
        let agent = Agent::new("triage", model)
            .with_tool(counting_tool("note", Arc::new(AtomicUsize::new(0))))
            .with_handoff(Handoff::to(tutor))
            .with_hooks(agent_hooks);

        let (events, error) = run_with(&agent, vec![Message::user("hi")], recorder.clone()).await;
        assert_eq!(error, None, "{wire}");
        let result = result_of(&events);
        assert_eq!(
            result.usage,
            Usage {
                input_tokens: 30,
                output_tokens: 7,
                total_tokens: 37
            },
            "{wire}"
        );
        assert_eq!(result.turns, 2, "{wire}");
        assert_eq!(
            *recorder.0.lock().expect("not poisoned"),
            [
                "run: start triage",
                "agent: start triage",
                "run: llm end triage 14",
                "run: tool start triage note",
                "agent: tool start triage note",
                "run: tool end triage note note result",
                "agent: tool end triage note",
                "run: handoff triage -> tutor",
                "agent: handoff tutor <- triage",
                "run: start tutor",
                "agent: start tutor",
                "run: llm end tutor 23",
                "run: end tutor Done.",
                "agent: end tutor Done.",
            ],
            "{wire}"
        );
    }
}
