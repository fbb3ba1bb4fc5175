//! Guardrails: checks on a run's input and on its final answer, as the OpenAI Agents SDK has them.
//!
//! An input guardrail looks at the conversation before the starting agent answers; by default it
//! runs at the same time as the first model call (the SDK's `run_in_parallel`), and the run
//! neither finishes its first model turn nor runs a tool before every input guardrail passed. An
//! output guardrail looks at the final answer of the agent that gave it. A guardrail whose
//! tripwire triggers ends the run with [`AgentError::InputGuardrailTripwire`] or
//! [`AgentError::OutputGuardrailTripwire`]; a caller that already showed part of the answer should
//! take it back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::context::RunContext;
use crate::error::AgentError;
use crate::model::{
    Message, ModelEvent, ModelEventStream, ModelProvider, ModelRequest, ModelSettings,
};

/// What a guardrail concluded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardrailOutput {
    /// True when the run must stop.
    pub tripwire_triggered: bool,
    /// Whatever the guardrail wants to tell about its decision (for hooks and logs of the
    /// embedder; the runtime only keeps the guardrail's name in the error).
    pub output_info: Value,
}

impl GuardrailOutput {
    /// A passing verdict.
    pub fn pass() -> Self {
        Self::default()
    }

    /// A verdict that stops the run.
    pub fn tripwire(output_info: Value) -> Self {
        Self {
            tripwire_triggered: true,
            output_info,
        }
    }
}

/// A check on the conversation before the starting agent answers.
///
/// Contract: `check` must be cancel-safe (the run drops it when the model call fails or the run
/// is cancelled). An `Err` fails the run with that error, as a raised exception does in the SDK.
/// Only the starting agent's input guardrails run: after a handoff the input was already checked.
#[async_trait]
pub trait InputGuardrail: Send + Sync {
    /// The guardrail's name, reported in the tripwire error.
    fn name(&self) -> &str;

    /// Whether the guardrail runs at the same time as the first model call (true, the default)
    /// or before it starts (false: no tokens are spent on an input that trips).
    fn run_in_parallel(&self) -> bool {
        true
    }

    /// Checks `input`, the conversation as the agent will see it (without the system message).
    async fn check(
        &self,
        ctx: &RunContext,
        agent_name: &str,
        input: &[Message],
    ) -> Result<GuardrailOutput, AgentError>;
}

/// A check on the final answer of a run, by the agent that gave it.
#[async_trait]
pub trait OutputGuardrail: Send + Sync {
    /// The guardrail's name, reported in the tripwire error.
    fn name(&self) -> &str;

    /// Checks the final answer `output`.
    async fn check(
        &self,
        ctx: &RunContext,
        agent_name: &str,
        output: &str,
    ) -> Result<GuardrailOutput, AgentError>;
}

/// The pending verdict of a set of input guardrails.
pub(crate) type GuardrailVerdict = Pin<Box<dyn Future<Output = Result<(), AgentError>> + Send>>;

/// The verdict of the input guardrails of `guardrails` that run in parallel (or, with `parallel`
/// false, of those that run before the model call), or `None` when there are none. All of them
/// run at once; the first to trip (or fail) decides.
pub(crate) fn input_verdict(
    guardrails: &[Arc<dyn InputGuardrail>],
    parallel: bool,
    ctx: &RunContext,
    agent_name: &str,
    input: &[Message],
) -> Option<GuardrailVerdict> {
    let selected: Vec<Arc<dyn InputGuardrail>> = guardrails
        .iter()
        .filter(|guardrail| guardrail.run_in_parallel() == parallel)
        .cloned()
        .collect();
    if selected.is_empty() {
        return None;
    }
    let ctx = ctx.clone();
    let agent_name = agent_name.to_owned();
    let input = input.to_vec();
    Some(Box::pin(async move {
        let checks = selected.iter().map(|guardrail| {
            let (ctx, agent_name, input) = (&ctx, &agent_name, &input);
            async move {
                (
                    guardrail.name(),
                    guardrail.check(ctx, agent_name, input).await,
                )
            }
        });
        first_trip(checks, &agent_name, |guardrail| {
            AgentError::InputGuardrailTripwire { guardrail }
        })
        .await
    }))
}

/// Awaits `checks` all at once; the first to trip (or fail) decides, with `tripped` making the
/// error from the guardrail's name.
async fn first_trip<'a, F>(
    checks: impl IntoIterator<Item = F>,
    agent_name: &str,
    tripped: impl Fn(String) -> AgentError,
) -> Result<(), AgentError>
where
    F: Future<Output = (&'a str, Result<GuardrailOutput, AgentError>)>,
{
    let mut checks: FuturesUnordered<F> = checks.into_iter().collect();
    while let Some((name, verdict)) = checks.next().await {
        if verdict?.tripwire_triggered {
            let error = tripped(name.to_owned());
            tracing::info!(guardrail.name = %name, agent.name = %agent_name, error = %error, "a guardrail tripped");
            return Err(error);
        }
    }
    Ok(())
}

/// Runs every output guardrail of the final agent on `output`, all at once; the first to trip
/// (or fail) decides.
pub(crate) async fn check_output(
    guardrails: &[Arc<dyn OutputGuardrail>],
    ctx: &RunContext,
    agent_name: &str,
    output: &str,
) -> Result<(), AgentError> {
    let checks = guardrails.iter().map(|guardrail| async move {
        (
            guardrail.name(),
            guardrail.check(ctx, agent_name, output).await,
        )
    });
    first_trip(checks, agent_name, |guardrail| {
        AgentError::OutputGuardrailTripwire { guardrail }
    })
    .await
}

/// Starts a model call while `verdict` is pending. A tripwire before the model answers drops the
/// call; otherwise the returned stream holds back the model's `Finished` event until the verdict
/// is in, and ends with the tripwire error instead when it trips. The run loop acts on a turn
/// (runs its tools, finishes the run) only after `Finished`, so nothing happens on an input
/// that trips.
pub(crate) async fn stream_guarded(
    model: &Arc<dyn ModelProvider>,
    request: ModelRequest,
    verdict: Option<GuardrailVerdict>,
) -> Result<ModelEventStream, AgentError> {
    let Some(mut verdict) = verdict else {
        return model.stream(request).await;
    };
    let call = model.stream(request);
    tokio::pin!(call);
    tokio::select! {
        biased;
        passed = &mut verdict => {
            passed?;
            call.await
        }
        started = &mut call => Ok(hold_finish(started?, verdict)),
    }
}

/// What [`hold_finish`] waits for next.
enum Next {
    Verdict(Result<(), AgentError>),
    Item(Option<Result<ModelEvent, AgentError>>),
}

fn hold_finish(mut stream: ModelEventStream, verdict: GuardrailVerdict) -> ModelEventStream {
    Box::pin(async_stream::stream! {
        let mut verdict = Some(verdict);
        loop {
            let next = match verdict.as_mut() {
                Some(pending) => tokio::select! {
                    biased;
                    passed = pending => Next::Verdict(passed),
                    item = stream.next() => Next::Item(item),
                },
                None => Next::Item(stream.next().await),
            };
            match next {
                Next::Verdict(Ok(())) => verdict = None,
                Next::Verdict(Err(error)) => {
                    yield Err(error);
                    return;
                }
                Next::Item(Some(Ok(ModelEvent::Finished(reason)))) => {
                    if let Some(pending) = verdict.take()
                        && let Err(error) = pending.await
                    {
                        yield Err(error);
                        return;
                    }
                    yield Ok(ModelEvent::Finished(reason));
                }
                Next::Item(None) => {
                    if let Some(pending) = verdict.take()
                        && let Err(error) = pending.await
                    {
                        yield Err(error);
                    }
                    return;
                }
                Next::Item(Some(item)) => yield item,
            }
        }
    })
}

/// The text of the last user message of `input` (its text parts), empty when there is none: what
/// an input guardrail usually judges.
pub fn last_user_text(input: &[Message]) -> String {
    input
        .iter()
        .rev()
        .find_map(Message::user_text)
        .unwrap_or_default()
}

/// The check of a [`TextGuardrail`]: a verdict on one text.
pub type TextCheck = Arc<dyn Fn(&str) -> GuardrailOutput + Send + Sync>;

/// A guardrail made of a synchronous check on a text (a pattern, a word list): as an input
/// guardrail it judges the last user message, before the model is asked (such a check costs
/// nothing); as an output guardrail, the final answer.
#[derive(Clone)]
pub struct TextGuardrail {
    name: String,
    check: TextCheck,
}

impl std::fmt::Debug for TextGuardrail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TextGuardrail")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TextGuardrail {
    /// A guardrail named `name` that judges a text with `check`.
    pub fn new(name: impl Into<String>, check: TextCheck) -> Self {
        Self {
            name: name.into(),
            check,
        }
    }
}

#[async_trait]
impl InputGuardrail for TextGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    fn run_in_parallel(&self) -> bool {
        false
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        input: &[Message],
    ) -> Result<GuardrailOutput, AgentError> {
        Ok((self.check)(&last_user_text(input)))
    }
}

#[async_trait]
impl OutputGuardrail for TextGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        output: &str,
    ) -> Result<GuardrailOutput, AgentError> {
        Ok((self.check)(output))
    }
}

/// What a [`ModelGuardrail`] adds to its instructions, so that the answer can be read as a
/// verdict.
pub const MODEL_GUARDRAIL_SUFFIX: &str = "Answer with the single word \"yes\" if the text \
    must be blocked by this rule, or \"no\" if it may pass.";

/// A guardrail that asks a model (usually a small, cheap one) whether a text breaks a rule given
/// in plain words: the model answers yes (trip) or no. As an input guardrail it checks the last
/// user message; as an output guardrail, the final answer.
#[derive(Clone)]
pub struct ModelGuardrail {
    name: String,
    model: Arc<dyn ModelProvider>,
    instructions: String,
    run_in_parallel: bool,
    model_name: Option<String>,
}

impl std::fmt::Debug for ModelGuardrail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ModelGuardrail")
            .field("name", &self.name)
            .field("model", &self.model.model_name())
            .field("run_in_parallel", &self.run_in_parallel)
            .finish_non_exhaustive()
    }
}

impl ModelGuardrail {
    /// A guardrail named `name` that asks `model` whether a text breaks `instructions`.
    pub fn new(
        name: impl Into<String>,
        model: Arc<dyn ModelProvider>,
        instructions: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            model,
            instructions: instructions.into(),
            run_in_parallel: true,
            model_name: None,
        }
    }

    /// Asks this model instead of the provider's configured one (a smaller, cheaper model).
    pub fn with_model_name(mut self, model: impl Into<String>) -> Self {
        self.model_name = Some(model.into());
        self
    }

    /// As an input guardrail, whether it runs at the same time as the agent's first model call
    /// (the default) or before it.
    pub fn with_run_in_parallel(mut self, parallel: bool) -> Self {
        self.run_in_parallel = parallel;
        self
    }

    /// Asks the model about `text`.
    pub async fn judge(&self, text: &str) -> Result<GuardrailOutput, AgentError> {
        let request = ModelRequest {
            messages: vec![
                Message::system(format!("{}\n\n{MODEL_GUARDRAIL_SUFFIX}", self.instructions)),
                Message::user(text),
            ],
            tools: Vec::new(),
            settings: ModelSettings {
                model: self.model_name.clone(),
                ..ModelSettings::default()
            },
        };
        let mut stream = self.model.stream(request).await?;
        let mut answer = String::new();
        while let Some(event) = stream.next().await {
            if let ModelEvent::TextDelta(delta) = event? {
                answer.push_str(&delta);
            }
        }
        Ok(verdict_of(&answer))
    }
}

/// Reads a model's answer as a verdict: a first word of "yes" trips, anything else passes.
fn verdict_of(answer: &str) -> GuardrailOutput {
    let first_word: String = answer
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    let tripped = first_word == "yes";
    GuardrailOutput {
        tripwire_triggered: tripped,
        output_info: json!({ "answer": if tripped { "yes" } else { "no" } }),
    }
}

#[async_trait]
impl InputGuardrail for ModelGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    fn run_in_parallel(&self) -> bool {
        self.run_in_parallel
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        input: &[Message],
    ) -> Result<GuardrailOutput, AgentError> {
        let text = last_user_text(input);
        if text.trim().is_empty() {
            return Ok(GuardrailOutput::pass());
        }
        self.judge(&text).await
    }
}

#[async_trait]
impl OutputGuardrail for ModelGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(
        &self,
        _ctx: &RunContext,
        _agent_name: &str,
        output: &str,
    ) -> Result<GuardrailOutput, AgentError> {
        if output.trim().is_empty() {
            return Ok(GuardrailOutput::pass());
        }
        self.judge(output).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_yes_trips() {
        assert!(verdict_of("Yes.").tripwire_triggered);
        assert!(verdict_of("  yes, it asks for answers").tripwire_triggered);
        assert!(!verdict_of("No").tripwire_triggered);
        assert!(!verdict_of("yesterday").tripwire_triggered);
        assert!(!verdict_of("").tripwire_triggered);
    }
}
