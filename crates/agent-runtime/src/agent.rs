//! The agent: a model, its instructions, its tools and the rules of its tool loop.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::guardrail::{InputGuardrail, OutputGuardrail};
use crate::handoff::Handoff;
use crate::history::DEFAULT_HISTORY_ITEMS;
use crate::hooks::AgentHooks;
use crate::instructions::Instructions;
use crate::model::{HostedTool, ModelProvider, ModelSettings, OutputSchema};
use crate::tool::{DynTool, ToolDefinition, ToolSource};

/// What the loop does after the tools of a turn have run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolUseBehavior {
    /// Give the results to the model and let it continue (the default).
    #[default]
    RunLlmAgain,
    /// Stop after the first tool call; its output is the run's final output.
    StopOnFirstTool,
    /// Stop when one of these tools was called; its output is the run's final output.
    StopAtTools(HashSet<String>),
}

/// How many tool calls of one turn run at the same time by default.
pub const DEFAULT_MAX_CONCURRENT_TOOL_CALLS: usize = 4;

/// How many model turns a run may take by default.
pub const DEFAULT_MAX_TURNS: usize = 10;

/// An agent: everything a run needs besides the context and the conversation.
///
/// Cheap to clone (tools and the model are shared), so one agent can serve many runs at once.
#[derive(Clone)]
pub struct Agent {
    pub(crate) name: String,
    pub(crate) model: Arc<dyn ModelProvider>,
    pub(crate) instructions: Instructions,
    pub(crate) settings: ModelSettings,
    pub(crate) tools: Vec<DynTool>,
    pub(crate) tool_sources: Vec<Arc<dyn ToolSource>>,
    pub(crate) client_tools: Vec<ToolDefinition>,
    pub(crate) max_turns: usize,
    pub(crate) tool_use_behavior: ToolUseBehavior,
    pub(crate) max_concurrent_tool_calls: usize,
    pub(crate) history_items: usize,
    pub(crate) reset_tool_choice: bool,
    pub(crate) handoffs: Vec<Handoff>,
    pub(crate) handoff_description: Option<String>,
    pub(crate) input_guardrails: Vec<Arc<dyn InputGuardrail>>,
    pub(crate) output_guardrails: Vec<Arc<dyn OutputGuardrail>>,
    pub(crate) hooks: Option<Arc<dyn AgentHooks>>,
}

impl fmt::Debug for Agent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tool_names: Vec<String> = self
            .tools
            .iter()
            .map(|tool| tool.definition().name)
            .collect();
        formatter
            .debug_struct("Agent")
            .field("name", &self.name)
            .field("model", &self.model.model_name())
            .field("tools", &tool_names)
            .field("tool_sources", &self.tool_sources.len())
            .field("client_tools", &self.client_tools.len())
            .field("max_turns", &self.max_turns)
            .field("tool_use_behavior", &self.tool_use_behavior)
            .field("handoffs", &self.handoffs)
            .field("input_guardrails", &self.input_guardrails.len())
            .field("output_guardrails", &self.output_guardrails.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent named `name` using `model`, with no instructions and no tools.
    pub fn new(name: impl Into<String>, model: Arc<dyn ModelProvider>) -> Self {
        Self {
            name: name.into(),
            model,
            instructions: Instructions::default(),
            settings: ModelSettings::default(),
            tools: Vec::new(),
            tool_sources: Vec::new(),
            client_tools: Vec::new(),
            max_turns: DEFAULT_MAX_TURNS,
            tool_use_behavior: ToolUseBehavior::default(),
            max_concurrent_tool_calls: DEFAULT_MAX_CONCURRENT_TOOL_CALLS,
            history_items: DEFAULT_HISTORY_ITEMS,
            reset_tool_choice: true,
            handoffs: Vec::new(),
            handoff_description: None,
            input_guardrails: Vec::new(),
            output_guardrails: Vec::new(),
            hooks: None,
        }
    }

    /// Lets the model hand the conversation to another agent (see [`Handoff`]): it sees a
    /// `transfer_to_<name>` tool, and calling it makes the target the active agent of the run.
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoffs.push(handoff);
        self
    }

    /// What the agents that can hand off to this one are told about it (appended to the default
    /// description of their `transfer_to_...` tool; the SDK's `handoff_description`).
    pub fn with_handoff_description(mut self, description: impl Into<String>) -> Self {
        self.handoff_description = Some(description.into());
        self
    }

    /// The description other agents' handoff tools give of this agent.
    pub fn handoff_description(&self) -> Option<&str> {
        self.handoff_description.as_deref()
    }

    /// The handoffs this agent offers.
    pub fn handoffs(&self) -> &[Handoff] {
        &self.handoffs
    }

    /// The handoff whose tool is named `tool_name`.
    pub fn handoff_named(&self, tool_name: &str) -> Option<&Handoff> {
        self.handoffs
            .iter()
            .find(|handoff| handoff.tool_name() == tool_name)
    }

    /// Adds an input guardrail; they run when this agent starts a run (see
    /// [`crate::guardrail`]).
    pub fn with_input_guardrail(mut self, guardrail: Arc<dyn InputGuardrail>) -> Self {
        self.input_guardrails.push(guardrail);
        self
    }

    /// Adds an output guardrail; they run on the final answer when this agent gives it.
    pub fn with_output_guardrail(mut self, guardrail: Arc<dyn OutputGuardrail>) -> Self {
        self.output_guardrails.push(guardrail);
        self
    }

    /// Sets the hooks called while this agent is the active agent.
    pub fn with_hooks(mut self, hooks: Arc<dyn AgentHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Sets the instructions (a `&str`, a [`crate::InstructionsTemplate`], or
    /// [`Instructions::dynamic`]).
    pub fn with_instructions(mut self, instructions: impl Into<Instructions>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Sets the model settings.
    pub fn with_settings(mut self, settings: ModelSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Asks for a final answer matching `schema` (the Agents SDK's `output_type`): the schema
    /// goes with every model call, and a completed run's answer is validated against it; read it
    /// with [`RunResult::final_output_as`](crate::RunResult::final_output_as).
    pub fn with_output_schema(mut self, schema: OutputSchema) -> Self {
        self.settings.output_schema = Some(schema);
        self
    }

    /// Adds a tool the vendor runs itself (Responses API only; a Chat Completions provider
    /// refuses the request).
    pub fn with_hosted_tool(mut self, tool: HostedTool) -> Self {
        self.settings.hosted_tools.push(tool);
        self
    }

    /// Whether a forced tool choice (`Required` or `Named`) is dropped once the model called a
    /// tool, so that the next model call may answer (default true, as in the Agents SDK). With
    /// false the choice holds on every call; pair it with a tool-use behaviour that stops.
    pub fn with_reset_tool_choice(mut self, reset: bool) -> Self {
        self.reset_tool_choice = reset;
        self
    }

    /// The model settings every model call of a run starts from.
    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    /// Whether the tools the model may call include one named `name` (a loop tool or a client
    /// tool).
    pub fn has_tool(&self, name: &str) -> bool {
        self.tools.iter().any(|tool| tool.definition().name == name)
            || self.client_tools.iter().any(|tool| tool.name == name)
    }

    /// Adds a tool the loop runs itself.
    pub fn with_tool(mut self, tool: DynTool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds several tools the loop runs itself.
    pub fn with_tools(mut self, tools: impl IntoIterator<Item = DynTool>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Adds a source of tools that may change over time (an MCP manager, say). It is asked at
    /// the start of every run; see [`ToolSource`] for the contract.
    pub fn with_tool_source(mut self, source: Arc<dyn ToolSource>) -> Self {
        self.tool_sources.push(source);
        self
    }

    /// The tools one run uses: the fixed ones, then each source's, the first of a name winning.
    pub async fn current_tools(&self) -> Vec<DynTool> {
        let mut tools = self.tools.clone();
        if self.tool_sources.is_empty() {
            return tools;
        }
        let mut names: HashSet<String> = tools.iter().map(|tool| tool.definition().name).collect();
        for source in &self.tool_sources {
            for tool in source.tools().await {
                if names.insert(tool.definition().name) {
                    tools.push(tool);
                }
            }
        }
        tools
    }

    /// Adds a client-side tool: the model may call it, but it runs on the client. When the model
    /// calls it, the run stops and reports the pending call; the caller continues the
    /// conversation with the client's result as a tool message.
    pub fn with_client_tool(mut self, definition: ToolDefinition) -> Self {
        self.client_tools.push(definition);
        self
    }

    /// Caps how many times the model is asked within one run (default 10).
    pub fn with_max_turns(mut self, max_turns: usize) -> Self {
        self.max_turns = max_turns;
        self
    }

    /// Chooses what happens after tools ran.
    pub fn with_tool_use_behavior(mut self, behavior: ToolUseBehavior) -> Self {
        self.tool_use_behavior = behavior;
        self
    }

    /// Caps how many tool calls of one turn run at once (default 4, at least 1).
    pub fn with_max_concurrent_tool_calls(mut self, max: usize) -> Self {
        self.max_concurrent_tool_calls = max.max(1);
        self
    }

    /// How many conversation items of the input are sent to the model (default 10); see
    /// [`crate::history::keep_last_items`].
    pub fn with_history_items(mut self, max_items: usize) -> Self {
        self.history_items = max_items;
        self
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model provider.
    pub fn model(&self) -> &Arc<dyn ModelProvider> {
        &self.model
    }

    /// The definitions of the fixed tools, then the client tools, then the handoff tools (a run
    /// adds those of its tool sources, see [`current_tools`](Self::current_tools)).
    pub fn tool_definitions(&self) -> Vec<ToolDefinition> {
        self.definitions_with(&self.tools)
    }

    /// The definitions of `tools` (one run's [`current_tools`](Self::current_tools)), of the
    /// client tools and of the handoff tools.
    pub(crate) fn definitions_with(&self, tools: &[DynTool]) -> Vec<ToolDefinition> {
        tools
            .iter()
            .map(|tool| tool.definition())
            .chain(self.client_tools.iter().cloned())
            .chain(self.handoffs.iter().map(Handoff::definition))
            .collect()
    }

    pub(crate) fn is_client_tool(&self, name: &str) -> bool {
        self.client_tools.iter().any(|tool| tool.name == name)
    }
}
