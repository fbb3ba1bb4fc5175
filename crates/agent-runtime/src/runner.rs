//! The agent loop: ask the model, run the tools it calls, feed the results back, repeat.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::{Map, Value};

use crate::agent::{Agent, ToolUseBehavior};
use crate::context::RunContext;
use crate::error::AgentError;
use crate::guardrail;
use crate::handoff::{IGNORED_HANDOFF_OUTPUT, transfer_message};
use crate::history::{answer_unanswered_tool_calls, keep_last_items};
use crate::hooks::{NoRunHooks, RunHooks};
use crate::model::{
    FinishReason, HostedToolEvent, Message, ModelEvent, ModelRequest, ReasoningItem,
    TextAnnotation, ToolCall, ToolChoice, Usage,
};
use crate::tool::{DynTool, ToolOutput};
use crate::tool_events::{CallState, Emitted, TOOL_EVENT_BUFFER, ToolCallContext, ToolEvent};
use tokio::sync::mpsc;

/// Why a run ended without an error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunStop {
    /// The model answered without calling tools.
    Completed {
        /// Why the model stopped (a `Length` here means the answer was cut off).
        finish_reason: FinishReason,
    },
    /// A tool call ended the run, per the agent's [`ToolUseBehavior`].
    StoppedAtTool {
        /// The call whose output is the final output.
        call: ToolCall,
    },
    /// The model called client-side tools, or tools ended the turn with client tool calls; the
    /// client must run them, and the conversation goes on with their results as tool messages.
    ClientToolCalls {
        /// The pending calls: those requested by tools first (with the id of the tool's call),
        /// then those the model made, each group in call order.
        calls: Vec<ToolCall>,
    },
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The last answer text, or the stopping tool's output.
    pub final_output: String,
    /// Why the run ended.
    pub stop: RunStop,
    /// Everything the run added to the conversation (assistant messages and tool results), for
    /// the caller to store.
    pub new_messages: Vec<Message>,
    /// Token usage summed over all turns.
    pub usage: Usage,
    /// How many times the model was asked.
    pub turns: usize,
    /// The name of the agent that was active when the run ended: the starting agent, or the last
    /// one handed to. A caller that keeps conversations continues the next run with it.
    pub last_agent: String,
}

/// What a run reports while it runs. Ids (`message_id`, `reasoning_id`) are unique within the
/// run and tie the events of one item together.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// The model is being asked (1 for the first time).
    TurnStarted {
        /// The turn number.
        turn: usize,
    },
    /// An assistant message begins.
    MessageStarted {
        /// The message's id within the run.
        message_id: String,
    },
    /// More text for the current assistant message.
    TextDelta {
        /// The message's id.
        message_id: String,
        /// The new text.
        delta: String,
    },
    /// The provider attached a citation to the current assistant message's text, as it streamed
    /// (the same citation is in [`RunEvent::MessageDone`]'s `annotations`, at the same position,
    /// for a consumer that only looks at whole messages). A citation that arrives before any text
    /// only comes with `MessageDone`.
    AnnotationAdded {
        /// The message's id.
        message_id: String,
        /// The citation.
        annotation: TextAnnotation,
    },
    /// The assistant message is complete.
    MessageDone {
        /// The message's id.
        message_id: String,
        /// The full text.
        text: String,
        /// The citations the provider attached to the text, in the order it sent them.
        annotations: Vec<TextAnnotation>,
    },
    /// The model starts sharing its reasoning.
    ReasoningStarted {
        /// The reasoning's id within the run.
        reasoning_id: String,
    },
    /// More reasoning text.
    ReasoningDelta {
        /// The reasoning's id.
        reasoning_id: String,
        /// The new text.
        delta: String,
    },
    /// The reasoning is complete.
    ReasoningDone {
        /// The reasoning's id.
        reasoning_id: String,
        /// The full reasoning text.
        text: String,
    },
    /// A tool call starts running.
    ToolCallStarted {
        /// The call (id, name, raw arguments).
        call: ToolCall,
    },
    /// A tool call finished; an error output is shown to the model and the run goes on.
    ToolCallFinished {
        /// The call.
        call: ToolCall,
        /// What the model will read.
        output: ToolOutput,
    },
    /// A running tool emitted an event (see [`ToolCallContext::emit`]). Comes after the call's
    /// `ToolCallStarted` and before its `ToolCallFinished`, in the order the tool emitted.
    ToolEmitted {
        /// The call whose tool emitted the event.
        call: ToolCall,
        /// The event, opaque to the runtime.
        event: ToolEvent,
    },
    /// The model called a client-side tool, or a tool ended the turn with one
    /// ([`ToolCallContext::end_turn_with_client_tool_call`]): the client must run it. The run
    /// ends right after.
    ClientToolCallRequested {
        /// The call.
        call: ToolCall,
    },
    /// Token usage of one turn, after the turn's message is done and before its tools run.
    Usage(Usage),
    /// Progress of a tool the vendor runs itself (web search, file search, image generation),
    /// in the order the model stream reported it.
    HostedTool(HostedToolEvent),
    /// The model called a handoff tool and the run goes on with another agent (its
    /// instructions, tools and handoffs from the next model call on). Comes after the turn's
    /// server-side tools finished.
    Handoff {
        /// The handoff call; the model reads the transfer message as its result.
        call: ToolCall,
        /// The agent that handed off.
        from: String,
        /// The agent that is active from now on.
        to: String,
    },
    /// The run is over; always the last event of a successful run.
    RunFinished(RunResult),
}

/// The stream of a run: events, then either `RunFinished` or one `Err` as the last item.
/// Dropping it cancels the run, including the model request and running tools.
pub type RunStream = Pin<Box<dyn Stream<Item = Result<RunEvent, AgentError>> + Send>>;

/// Runs `agent` on a conversation and streams what happens.
///
/// `input` is the conversation so far (without the system message: the agent renders its
/// instructions from `ctx`). Tool calls without a result get an error result (see
/// [`answer_unanswered_tool_calls`]), then the input is cut to the agent's history window.
/// To continue after a client tool call, append the client's result as a tool message. Nothing happens until
/// the stream is polled.
pub fn run_streamed(agent: &Agent, ctx: RunContext, input: Vec<Message>) -> RunStream {
    run_streamed_with_hooks(agent, ctx, input, Arc::new(NoRunHooks))
}

/// [`run_streamed`], calling `hooks` on the run's lifecycle events (see [`RunHooks`]).
///
/// The starting agent's input guardrails check the input (see [`crate::guardrail`]); the final
/// agent's output guardrails check its answer. A handoff switches the active agent for the rest
/// of the run; the run keeps the starting agent's turn limit.
pub fn run_streamed_with_hooks(
    agent: &Agent,
    ctx: RunContext,
    input: Vec<Message>,
    hooks: Arc<dyn RunHooks>,
) -> RunStream {
    let mut agent = agent.clone();
    Box::pin(async_stream::stream! {
        let started = Instant::now();
        // Asked once per run: a source's list may change between runs, never within one.
        let current_tools = agent.current_tools().await;
        let mut tools: HashMap<String, DynTool> = current_tools
            .iter()
            .map(|tool| (tool.definition().name, tool.clone()))
            .collect();
        let mut tool_definitions = agent.definitions_with(&current_tools);
        let mut instructions = agent.instructions.render(&ctx);
        let mut history = keep_last_items(&answer_unanswered_tool_calls(input), agent.history_items);
        // Guardrails that must pass before the first model call, then those that run beside it.
        if let Some(verdict) = guardrail::input_verdict(&agent.input_guardrails, false, &ctx, &agent.name, &history)
            && let Err(error) = verdict.await
        {
            yield Err(error);
            return;
        }
        let mut input_verdict = guardrail::input_verdict(&agent.input_guardrails, true, &ctx, &agent.name, &history);
        let max_turns = agent.max_turns;
        let mut agent_started = false;
        let mut new_messages: Vec<Message> = Vec::new();
        let mut usage_total = Usage::default();
        let mut next_id = 0usize;
        let mut new_id = |prefix: &str| {
            next_id += 1;
            format!("{prefix}_{next_id}")
        };
        tracing::info!(
            agent.name = %agent.name,
            model.name = %agent.model.model_name(),
            thread.id = ctx.thread_id.as_deref().unwrap_or(""),
            "agent run started"
        );
        let mut settings = agent.settings.clone();
        let mut turn = 0usize;
        loop {
            turn += 1;
            if turn > max_turns {
                tracing::warn!(agent.name = %agent.name, max_turns, "agent run hit its turn limit");
                yield Err(AgentError::MaxTurnsExceeded { max_turns });
                return;
            }
            if !agent_started {
                agent_started = true;
                hooks.on_agent_start(&ctx, &agent).await;
                if let Some(agent_hooks) = &agent.hooks {
                    agent_hooks.on_start(&ctx, &agent).await;
                }
            }
            yield Ok(RunEvent::TurnStarted { turn });
            let mut messages = Vec::with_capacity(history.len() + 1);
            if !instructions.is_empty() {
                messages.push(Message::system(instructions.clone()));
            }
            messages.extend(history.iter().cloned());
            let request = ModelRequest {
                messages,
                tools: tool_definitions.clone(),
                settings: settings.clone(),
            };
            let mut model_stream = match guardrail::stream_guarded(&agent.model, request, input_verdict.take()).await {
                Ok(stream) => stream,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            let mut text = String::new();
            let mut annotations: Vec<TextAnnotation> = Vec::new();
            let mut message_id: Option<String> = None;
            let mut reasoning = String::new();
            let mut reasoning_id: Option<String> = None;
            let mut calls: Vec<ToolCall> = Vec::new();
            let mut reasoning_items: Vec<ReasoningItem> = Vec::new();
            let mut finish_reason = None;
            let mut turn_usage = None;
            while let Some(item) = model_stream.next().await {
                let event = match item {
                    Ok(event) => event,
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                };
                let closes_reasoning = matches!(event, ModelEvent::TextDelta(_) | ModelEvent::ToolCall(_) | ModelEvent::HostedTool(_));
                if closes_reasoning && let Some(id) = reasoning_id.take() {
                    yield Ok(RunEvent::ReasoningDone { reasoning_id: id, text: std::mem::take(&mut reasoning) });
                }
                match event {
                    ModelEvent::ReasoningDelta(delta) => {
                        let id = match &reasoning_id {
                            Some(id) => id.clone(),
                            None => {
                                let id = new_id("rs");
                                reasoning_id = Some(id.clone());
                                yield Ok(RunEvent::ReasoningStarted { reasoning_id: id.clone() });
                                id
                            }
                        };
                        reasoning.push_str(&delta);
                        yield Ok(RunEvent::ReasoningDelta { reasoning_id: id, delta });
                    }
                    ModelEvent::TextDelta(delta) => {
                        let id = match &message_id {
                            Some(id) => id.clone(),
                            None => {
                                let id = new_id("msg");
                                message_id = Some(id.clone());
                                yield Ok(RunEvent::MessageStarted { message_id: id.clone() });
                                id
                            }
                        };
                        text.push_str(&delta);
                        yield Ok(RunEvent::TextDelta { message_id: id, delta });
                    }
                    ModelEvent::Annotation(annotation) => {
                        if let Some(id) = &message_id {
                            yield Ok(RunEvent::AnnotationAdded { message_id: id.clone(), annotation: annotation.clone() });
                        }
                        annotations.push(annotation);
                    }
                    ModelEvent::ToolCall(call) => calls.push(call),
                    ModelEvent::ReasoningItem(item) => reasoning_items.push(item),
                    ModelEvent::HostedTool(event) => yield Ok(RunEvent::HostedTool(event)),
                    // Reported after the message is done: usage describes the whole turn.
                    ModelEvent::Usage(usage) => turn_usage = Some(usage),
                    ModelEvent::Finished(reason) => {
                        finish_reason = Some(reason);
                        break;
                    }
                    ModelEvent::ToolCallDelta { .. } => {}
                }
            }
            // Closes the upstream request now rather than when the run ends.
            drop(model_stream);
            let Some(finish_reason) = finish_reason else {
                yield Err(AgentError::StreamInterrupted("the model stream ended without finishing".to_owned()));
                return;
            };
            if let Some(id) = reasoning_id.take() {
                yield Ok(RunEvent::ReasoningDone { reasoning_id: id, text: std::mem::take(&mut reasoning) });
            }
            if let Some(id) = message_id.take() {
                yield Ok(RunEvent::MessageDone { message_id: id, text: text.clone(), annotations: std::mem::take(&mut annotations) });
            }
            hooks.on_llm_end(&ctx, &agent, turn_usage.as_ref()).await;
            if let Some(usage) = turn_usage {
                usage_total.add(&usage);
                yield Ok(RunEvent::Usage(usage));
            }
            if !text.is_empty() || !calls.is_empty() {
                // The reasoning goes back before the output it led to (the vendor refuses a
                // reasoning item without its following item, so only when there is one).
                for item in reasoning_items.drain(..) {
                    history.push(Message::Reasoning(item.clone()));
                    new_messages.push(Message::Reasoning(item));
                }
                let assistant = Message::Assistant {
                    content: (!text.is_empty()).then(|| text.clone()),
                    tool_calls: calls.clone(),
                };
                history.push(assistant.clone());
                new_messages.push(assistant);
            }
            if calls.is_empty() {
                if let Some(schema) = &settings.output_schema
                    && let Err(error) = schema.validate(&text)
                {
                    tracing::warn!(agent.name = %agent.name, "the final output does not match the output schema");
                    yield Err(error);
                    return;
                }
                if let Err(error) = guardrail::check_output(&agent.output_guardrails, &ctx, &agent.name, &text).await {
                    yield Err(error);
                    return;
                }
                hooks.on_agent_end(&ctx, &agent, &text).await;
                if let Some(agent_hooks) = &agent.hooks {
                    agent_hooks.on_end(&ctx, &agent, &text).await;
                }
                tracing::info!(
                    agent.name = %agent.name,
                    turns = turn,
                    duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "agent run finished"
                );
                yield Ok(RunEvent::RunFinished(RunResult {
                    final_output: text,
                    stop: RunStop::Completed { finish_reason },
                    new_messages,
                    usage: usage_total,
                    turns: turn,
                    last_agent: agent.name.clone(),
                }));
                return;
            }
            // A forced tool choice is met once the model called a tool; forcing it again on the
            // next turn would make the model call tools forever (the Agents SDK's
            // `reset_tool_choice`).
            if agent.reset_tool_choice
                && matches!(settings.tool_choice, Some(ToolChoice::Named(_) | ToolChoice::Required))
            {
                settings.tool_choice = None;
            }
            let (handoff_calls, calls): (Vec<ToolCall>, Vec<ToolCall>) =
                calls.into_iter().partition(|call| agent.handoff_named(&call.name).is_some());
            let (mut client_calls, server_calls): (Vec<ToolCall>, Vec<ToolCall>) =
                calls.into_iter().partition(|call| agent.is_client_tool(&call.name));
            for call in &server_calls {
                yield Ok(RunEvent::ToolCallStarted { call: call.clone() });
                hooks.on_tool_start(&ctx, &agent, call).await;
                if let Some(agent_hooks) = &agent.hooks {
                    agent_hooks.on_tool_start(&ctx, &agent, call).await;
                }
            }
            let mut outputs: Vec<Option<ToolOutput>> = vec![None; server_calls.len()];
            // One channel per turn for what the turn's tools emit while they run; each call gets
            // its own context (and open/closed state) so late events of a finished call are refused.
            let (event_sender, mut event_receiver) = mpsc::channel::<Emitted>(TOOL_EVENT_BUFFER);
            let mut call_states: Vec<Arc<CallState>> = Vec::with_capacity(server_calls.len());
            let mut call_contexts: Vec<RunContext> = Vec::with_capacity(server_calls.len());
            for (position, call) in server_calls.iter().enumerate() {
                let (tool_call, state) = ToolCallContext::new(
                    call.id.clone(),
                    call.name.clone(),
                    position,
                    event_sender.clone(),
                );
                let mut call_ctx = ctx.clone();
                call_ctx.tool_call = Some(tool_call);
                call_contexts.push(call_ctx);
                call_states.push(state);
            }
            drop(event_sender);
            {
                // A hand-rolled bounded set rather than `buffer_unordered` over a closure: the
                // closure's borrowed futures trip the compiler's `Send` inference in this stream.
                let mut waiting = server_calls.iter().zip(call_contexts).enumerate();
                let mut running = FuturesUnordered::new();
                let mut finished = vec![false; server_calls.len()];
                loop {
                    while running.len() < agent.max_concurrent_tool_calls {
                        let Some((position, (call, call_ctx))) = waiting.next() else { break };
                        running.push(execute_tool(position, &tools, call_ctx, call));
                    }
                    // Events first: a tool that emits faster than it finishes must not wait on a
                    // full channel while the loop only watches for finished calls.
                    let next = tokio::select! {
                        biased;
                        Some(emitted) = event_receiver.recv() => ToolProgress::Emitted(emitted),
                        done = running.next() => ToolProgress::Finished(done),
                    };
                    match next {
                        ToolProgress::Emitted((position, event)) => {
                            if !finished[position] {
                                yield Ok(RunEvent::ToolEmitted { call: server_calls[position].clone(), event });
                            }
                        }
                        ToolProgress::Finished(None) => break,
                        ToolProgress::Finished(Some((position, output))) => {
                            call_states[position].close();
                            // Everything the call sent before it returned is in the channel now;
                            // it goes out before the call's `ToolCallFinished`.
                            while let Ok((sender_position, event)) = event_receiver.try_recv() {
                                if !finished[sender_position] {
                                    yield Ok(RunEvent::ToolEmitted { call: server_calls[sender_position].clone(), event });
                                }
                            }
                            finished[position] = true;
                            hooks.on_tool_end(&ctx, &agent, &server_calls[position], &output).await;
                            if let Some(agent_hooks) = &agent.hooks {
                                agent_hooks.on_tool_end(&ctx, &agent, &server_calls[position], &output).await;
                            }
                            yield Ok(RunEvent::ToolCallFinished {
                                call: server_calls[position].clone(),
                                output: output.clone(),
                            });
                            outputs[position] = Some(output);
                        }
                    }
                }
            }
            let mut first_output: Option<(ToolCall, String)> = None;
            let mut stopping_output: Option<(ToolCall, String)> = None;
            let mut requested_by_tools: Vec<ToolCall> = Vec::new();
            for ((call, output), state) in server_calls.iter().zip(outputs).zip(&call_states) {
                let output = output.unwrap_or_else(|| ToolOutput::error("the tool did not run"));
                if let Some(request) = state.take_client_tool_call() {
                    // The client's result will answer this call, so the tool's own output is not
                    // recorded as its result (the history would hold two answers to one call).
                    requested_by_tools.push(ToolCall {
                        id: call.id.clone(),
                        name: request.name,
                        arguments: Value::Object(request.arguments).to_string(),
                    });
                    continue;
                }
                if first_output.is_none() {
                    first_output = Some((call.clone(), output.content.clone()));
                }
                if stopping_output.is_none()
                    && let ToolUseBehavior::StopAtTools(names) = &agent.tool_use_behavior
                    && names.contains(&call.name)
                {
                    stopping_output = Some((call.clone(), output.content.clone()));
                }
                let result = Message::Tool {
                    call_id: call.id.clone(),
                    content: output.content,
                    is_error: output.is_error,
                };
                history.push(result.clone());
                new_messages.push(result);
            }
            if !requested_by_tools.is_empty() {
                requested_by_tools.append(&mut client_calls);
                client_calls = requested_by_tools;
            }
            // The first handoff of the turn wins, after the turn's tools ran (as in the SDK).
            let handed_off = !handoff_calls.is_empty();
            if let Some((call, ignored)) = handoff_calls.split_first()
                && let Some(handoff) = agent.handoff_named(&call.name).cloned()
            {
                let target = (*handoff.agent).clone();
                history.push(Message::tool_result(call.id.clone(), transfer_message(&target.name)));
                new_messages.push(Message::tool_result(call.id.clone(), transfer_message(&target.name)));
                for call in ignored {
                    let result = Message::tool_result(call.id.clone(), IGNORED_HANDOFF_OUTPUT);
                    history.push(result.clone());
                    new_messages.push(result);
                }
                if let Some(filter) = &handoff.input_filter {
                    history = filter(history);
                }
                tracing::info!(agent.name = %agent.name, handoff.to = %target.name, "agent handed off");
                hooks.on_handoff(&ctx, &agent, &target).await;
                if let Some(target_hooks) = &target.hooks {
                    target_hooks.on_handoff(&ctx, &target, &agent).await;
                }
                yield Ok(RunEvent::Handoff { call: call.clone(), from: agent.name.clone(), to: target.name.clone() });
                agent = target;
                let current_tools = agent.current_tools().await;
                tools = current_tools
                    .iter()
                    .map(|tool| (tool.definition().name, tool.clone()))
                    .collect();
                tool_definitions = agent.definitions_with(&current_tools);
                instructions = agent.instructions.render(&ctx);
                settings = agent.settings.clone();
                agent_started = false;
            }
            if !client_calls.is_empty() {
                for call in &client_calls {
                    yield Ok(RunEvent::ClientToolCallRequested { call: call.clone() });
                }
                yield Ok(RunEvent::RunFinished(RunResult {
                    final_output: text,
                    stop: RunStop::ClientToolCalls { calls: client_calls },
                    new_messages,
                    usage: usage_total,
                    turns: turn,
                    last_agent: agent.name.clone(),
                }));
                return;
            }
            let stop = match agent.tool_use_behavior {
                _ if handed_off => None,
                ToolUseBehavior::RunLlmAgain => None,
                ToolUseBehavior::StopOnFirstTool => first_output,
                ToolUseBehavior::StopAtTools(_) => stopping_output,
            };
            if let Some((call, output)) = stop {
                // A stopping tool's output is the final output: checked and reported as an answer.
                if let Err(error) = guardrail::check_output(&agent.output_guardrails, &ctx, &agent.name, &output).await {
                    yield Err(error);
                    return;
                }
                hooks.on_agent_end(&ctx, &agent, &output).await;
                if let Some(agent_hooks) = &agent.hooks {
                    agent_hooks.on_end(&ctx, &agent, &output).await;
                }
                yield Ok(RunEvent::RunFinished(RunResult {
                    final_output: output,
                    stop: RunStop::StoppedAtTool { call },
                    new_messages,
                    usage: usage_total,
                    turns: turn,
                    last_agent: agent.name.clone(),
                }));
                return;
            }
        }
    })
}

/// Runs one tool call. Every failure becomes an error output for the model: an unknown tool,
/// arguments that are not JSON, an error the tool returned, even a panic inside the tool.
async fn execute_tool(
    position: usize,
    tools: &HashMap<String, DynTool>,
    ctx: RunContext,
    call: &ToolCall,
) -> (usize, ToolOutput) {
    (position, execute_tool_call(tools, &ctx, call).await)
}

/// What the tool loop of a turn waits for: an event a tool emitted, or a call finishing (`None`
/// when every call has finished).
enum ToolProgress {
    Emitted(Emitted),
    Finished(Option<(usize, ToolOutput)>),
}

async fn execute_tool_call(
    tools: &HashMap<String, DynTool>,
    ctx: &RunContext,
    call: &ToolCall,
) -> ToolOutput {
    let Some(tool) = tools.get(&call.name) else {
        let mut known: Vec<&str> = tools.keys().map(String::as_str).collect();
        known.sort_unstable();
        return ToolOutput::error(format!(
            "There is no tool named {:?}. Available tools: {}.",
            call.name,
            known.join(", ")
        ));
    };
    let arguments = if call.arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(&call.arguments) {
            Ok(arguments) => arguments,
            Err(error) => {
                return ToolOutput::error(format!(
                    "The arguments are not valid JSON ({error}). Call the tool again with a JSON \
                     object that matches its schema."
                ));
            }
        }
    };
    let started = Instant::now();
    let result = AssertUnwindSafe(tool.call(ctx, arguments))
        .catch_unwind()
        .await;
    let output = match result {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => ToolOutput::error(error.to_string()),
        Err(_) => ToolOutput::error("The tool failed unexpectedly."),
    };
    tracing::info!(
        tool.name = %call.name,
        tool.call_id = %call.id,
        tool.is_error = output.is_error,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "tool call finished"
    );
    output
}
