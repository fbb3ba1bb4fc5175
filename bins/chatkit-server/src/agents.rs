//! Several agents by configuration (`[[agents]]` and `default_agent`): handoffs between them and
//! guardrails, as an Agents SDK setup would have them.
//!
//! ```toml
//! default_agent = "triage"
//!
//! [[agents]]
//! name = "triage"
//! instructions = "Send course questions to the tutor and todo requests to the todo assistant."
//! handoffs = ["tutor", "todo"]
//!
//! [[agents.guardrails]]
//! name = "no_cheating"
//! on = "input"
//! instructions = "Block requests to do graded homework or exams for the learner."
//!
//! [[agents]]
//! name = "tutor"
//! instructions = "You teach the course."
//! tools = ["search_documentation"]
//! ```
//!
//! Without `[[agents]]` the single `[agent]` configuration applies unchanged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agent_runtime::{
    Agent, DynTool, GuardrailOutput, Handoff, Instructions, ModelGuardrail, ModelProvider,
    ModelSettings as RuntimeModelSettings, TextCheck, TextGuardrail, ToolSource,
};
use anyhow::bail;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::settings::Settings;

/// One agent of a multi-agent setup (`[[agents]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// The agent's name; other agents hand off to it by this name, and the model sees a
    /// `transfer_to_<name>` tool for it.
    pub name: String,
    /// What the agent is told (its system prompt; the `[agent]` section's user info and page
    /// context are added as for the single agent).
    pub instructions: String,
    /// What agents that can hand off to this one are told about it.
    #[serde(default)]
    pub handoff_description: Option<String>,
    /// The model to ask instead of `model.model` (same provider).
    #[serde(default)]
    pub model: Option<String>,
    /// The tools this agent may call, by name (MCP tools as the model sees them, the retrieval
    /// tool by its `tool_name`). Absent: every tool; empty: none.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// The agents this one may hand the conversation to, by name.
    #[serde(default)]
    pub handoffs: Vec<String>,
    /// Checks on what the user sends (when this agent starts a turn) or on this agent's answers.
    #[serde(default)]
    pub guardrails: Vec<GuardrailEntry>,
}

/// What a guardrail checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailTarget {
    /// The user's message, when the agent starts a turn.
    Input,
    /// The agent's final answer.
    Output,
}

/// A guardrail (`[[agents.guardrails]]`): either a rule in plain words that a model checks
/// (`instructions`), or a regular expression (`pattern`); a match trips it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailEntry {
    /// The guardrail's name, for logs.
    pub name: String,
    /// `input` or `output`.
    pub on: GuardrailTarget,
    /// The rule, for a model-checked guardrail: the model answers whether a text breaks it.
    #[serde(default)]
    pub instructions: Option<String>,
    /// A regular expression (Rust `regex` syntax; `(?i)` for case-insensitive): a match trips.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The model that checks the rule, instead of `model.model` (a small one is enough).
    #[serde(default)]
    pub model: Option<String>,
    /// For a model-checked input guardrail: check at the same time as the agent's first model
    /// call (true, the default: no added latency) or before it (false: no tokens spent on a
    /// refused message). Patterns always check first: they cost nothing.
    #[serde(default = "run_in_parallel_by_default")]
    pub run_in_parallel: bool,
}

fn run_in_parallel_by_default() -> bool {
    true
}

/// Checks `[[agents]]` and `default_agent`: unique names, known handoff targets, no handoff
/// cycles, well-formed guardrails.
pub fn validate(agents: &[AgentEntry], default_agent: Option<&str>) -> anyhow::Result<()> {
    if agents.is_empty() {
        if let Some(default) = default_agent {
            bail!("default_agent is `{default}` but no [[agents]] are configured");
        }
        return Ok(());
    }
    let mut names = HashSet::new();
    for entry in agents {
        if entry.name.trim().is_empty() {
            bail!("agents: every agent needs a `name`");
        }
        if !names.insert(entry.name.as_str()) {
            bail!("agents: the name `{}` is used twice", entry.name);
        }
        if entry.instructions.trim().is_empty() {
            bail!("agents.{}: `instructions` is empty", entry.name);
        }
    }
    if let Some(default) = default_agent
        && !names.contains(default)
    {
        bail!("default_agent: there is no agent named `{default}` in [[agents]]");
    }
    for entry in agents {
        let mut tool_names = HashSet::new();
        for target in &entry.handoffs {
            if !names.contains(target.as_str()) {
                bail!(
                    "agents.{}.handoffs: there is no agent named `{target}`",
                    entry.name
                );
            }
            if !tool_names.insert(agent_runtime::handoff::default_tool_name(target)) {
                bail!(
                    "agents.{}.handoffs: `{target}` is listed twice, or its transfer tool name collides with another's",
                    entry.name
                );
            }
        }
        for guardrail in &entry.guardrails {
            validate_guardrail(&entry.name, guardrail)?;
        }
    }
    if let Some(cycle) = find_cycle(agents) {
        bail!(
            "agents: the handoffs form a cycle ({}); an agent cannot be handed back to along the chain that reached it",
            cycle.join(" -> ")
        );
    }
    Ok(())
}

fn validate_guardrail(agent: &str, guardrail: &GuardrailEntry) -> anyhow::Result<()> {
    if guardrail.name.trim().is_empty() {
        bail!("agents.{agent}.guardrails: every guardrail needs a `name`");
    }
    match (&guardrail.instructions, &guardrail.pattern) {
        (Some(_), Some(_)) | (None, None) => bail!(
            "agents.{agent}.guardrails.{}: give exactly one of `instructions` (checked by a model) or `pattern` (a regular expression)",
            guardrail.name
        ),
        (None, Some(pattern)) => {
            if let Err(err) = regex::Regex::new(pattern) {
                bail!(
                    "agents.{agent}.guardrails.{}: `pattern` is not a valid regular expression: {err}",
                    guardrail.name
                );
            }
            if guardrail.model.is_some() {
                bail!(
                    "agents.{agent}.guardrails.{}: `model` only applies to `instructions`",
                    guardrail.name
                );
            }
        }
        (Some(instructions), None) => {
            if instructions.trim().is_empty() {
                bail!(
                    "agents.{agent}.guardrails.{}: `instructions` is empty",
                    guardrail.name
                );
            }
        }
    }
    Ok(())
}

/// A handoff cycle, as the names along it (the first repeated at the end), if there is one.
fn find_cycle(agents: &[AgentEntry]) -> Option<Vec<String>> {
    let handoffs: HashMap<&str, &[String]> = agents
        .iter()
        .map(|entry| (entry.name.as_str(), entry.handoffs.as_slice()))
        .collect();
    let mut done: HashSet<&str> = HashSet::new();
    for entry in agents {
        let mut path: Vec<&str> = Vec::new();
        if let Some(cycle) = visit(entry.name.as_str(), &handoffs, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit<'a>(
    name: &'a str,
    handoffs: &HashMap<&'a str, &'a [String]>,
    path: &mut Vec<&'a str>,
    done: &mut HashSet<&'a str>,
) -> Option<Vec<String>> {
    if let Some(start) = path.iter().position(|on_path| *on_path == name) {
        let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
        cycle.push(name.to_owned());
        return Some(cycle);
    }
    if done.contains(name) {
        return None;
    }
    path.push(name);
    for target in handoffs.get(name).copied().unwrap_or_default() {
        if let Some(cycle) = visit(target.as_str(), handoffs, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(name);
    None
}

/// What every configured agent may draw its tools from.
pub struct SharedTools {
    /// Tools the loop runs itself (the retrieval search tool).
    pub fixed: Vec<DynTool>,
    /// Tools that change over time (MCP servers).
    pub sources: Vec<Arc<dyn ToolSource>>,
}

/// The default agent of `[[agents]]`, with every agent it can reach as its handoffs (and theirs).
/// Call only after [`validate`] passed (names known, no cycles).
pub fn build(
    settings: &Settings,
    model: &Arc<dyn ModelProvider>,
    tools: &SharedTools,
) -> anyhow::Result<Agent> {
    let agents = &settings.agents;
    let Some(first) = agents.first() else {
        bail!("no [[agents]] are configured");
    };
    let default = settings.default_agent.as_deref().unwrap_or(&first.name);
    let mut built: HashMap<String, Agent> = HashMap::new();
    for entry in agents {
        built.insert(entry.name.clone(), single(settings, entry, model, tools));
    }
    with_handoffs(default, agents, &built, 0)
}

/// One agent without its handoffs.
fn single(
    settings: &Settings,
    entry: &AgentEntry,
    model: &Arc<dyn ModelProvider>,
    tools: &SharedTools,
) -> Agent {
    let shared = &settings.agent;
    let mut template = Instructions::template(entry.instructions.clone());
    if shared.include_user_info {
        template = template.with_user_info();
    }
    template = template.with_page_context(shared.page_context_keys.clone());
    let mut agent = Agent::new(entry.name.clone(), model.clone())
        .with_instructions(template.build())
        .with_max_turns(shared.max_turns)
        .with_settings(RuntimeModelSettings {
            model: entry.model.clone(),
            // Every agent shares `[model]`'s settings (reasoning, sampling, hosted tools...).
            ..crate::app::runtime_model_settings(&settings.model)
        });
    if let Some(description) = &entry.handoff_description {
        agent = agent.with_handoff_description(description.clone());
    }
    let allowed: Option<Arc<HashSet<String>>> = entry
        .tools
        .as_ref()
        .map(|names| Arc::new(names.iter().cloned().collect()));
    for tool in &tools.fixed {
        if allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&tool.definition().name))
        {
            agent = agent.with_tool(tool.clone());
        }
    }
    for source in &tools.sources {
        agent = match &allowed {
            None => agent.with_tool_source(source.clone()),
            Some(allowed) => agent.with_tool_source(Arc::new(OnlyNamedTools {
                inner: source.clone(),
                names: allowed.clone(),
            })),
        };
    }
    for guardrail in &entry.guardrails {
        agent = with_guardrail(agent, guardrail, model);
    }
    agent
}

fn with_guardrail(agent: Agent, entry: &GuardrailEntry, model: &Arc<dyn ModelProvider>) -> Agent {
    match (&entry.pattern, &entry.instructions) {
        (Some(pattern), _) => {
            let Ok(regex) = regex::Regex::new(pattern) else {
                // Unreachable after `validate`; an agent without the rule is never built silently.
                tracing::error!(guardrail.name = %entry.name, "a guardrail pattern did not compile");
                return agent;
            };
            let rule = Arc::new(TextGuardrail::new(entry.name.clone(), pattern_check(regex)));
            match entry.on {
                GuardrailTarget::Input => agent.with_input_guardrail(rule),
                GuardrailTarget::Output => agent.with_output_guardrail(rule),
            }
        }
        (None, Some(instructions)) => {
            let mut rule =
                ModelGuardrail::new(entry.name.clone(), model.clone(), instructions.clone())
                    .with_run_in_parallel(entry.run_in_parallel);
            if let Some(name) = &entry.model {
                rule = rule.with_model_name(name.clone());
            }
            let rule = Arc::new(rule);
            match entry.on {
                GuardrailTarget::Input => agent.with_input_guardrail(rule),
                GuardrailTarget::Output => agent.with_output_guardrail(rule),
            }
        }
        (None, None) => agent,
    }
}

/// `name`'s agent with its handoffs attached, recursively. `depth` guards against a cycle that
/// `validate` should have refused.
fn with_handoffs(
    name: &str,
    agents: &[AgentEntry],
    built: &HashMap<String, Agent>,
    depth: usize,
) -> anyhow::Result<Agent> {
    if depth > agents.len() {
        bail!("agents: the handoffs form a cycle through `{name}`");
    }
    let (Some(entry), Some(agent)) = (
        agents.iter().find(|entry| entry.name == name),
        built.get(name),
    ) else {
        bail!("agents: there is no agent named `{name}`");
    };
    let mut agent = agent.clone();
    for target in &entry.handoffs {
        agent = agent.with_handoff(Handoff::to(with_handoffs(
            target,
            agents,
            built,
            depth + 1,
        )?));
    }
    Ok(agent)
}

/// A tool source that offers only the named tools of another.
struct OnlyNamedTools {
    inner: Arc<dyn ToolSource>,
    names: Arc<HashSet<String>>,
}

#[async_trait]
impl ToolSource for OnlyNamedTools {
    async fn tools(&self) -> Vec<DynTool> {
        self.inner
            .tools()
            .await
            .into_iter()
            .filter(|tool| self.names.contains(&tool.definition().name))
            .collect()
    }
}

/// A check that trips when `regex` matches the text.
fn pattern_check(regex: regex::Regex) -> TextCheck {
    Arc::new(move |text: &str| {
        if regex.is_match(text) {
            GuardrailOutput::tripwire(json!({ "pattern": regex.as_str() }))
        } else {
            GuardrailOutput::pass()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, handoffs: &[&str]) -> AgentEntry {
        AgentEntry {
            name: name.to_owned(),
            instructions: format!("You are {name}."),
            handoff_description: None,
            model: None,
            tools: None,
            handoffs: handoffs.iter().map(|h| (*h).to_owned()).collect(),
            guardrails: Vec::new(),
        }
    }

    fn error(agents: &[AgentEntry], default: Option<&str>) -> String {
        validate(agents, default).expect_err("refused").to_string()
    }

    #[test]
    fn names_targets_and_cycles_are_checked() {
        let good = [
            entry("triage", &["tutor", "todo"]),
            entry("tutor", &[]),
            entry("todo", &[]),
        ];
        validate(&good, Some("triage")).expect("valid");
        validate(&[], None).expect("the single-agent configuration");
        assert!(error(&[], Some("triage")).contains("no [[agents]]"));
        assert!(error(&good, Some("tutr")).contains("no agent named `tutr`"));
        assert!(error(&[entry("a", &[]), entry("a", &[])], None).contains("`a` is used twice"));
        assert!(error(&[entry("a", &["b"])], None).contains("agents.a.handoffs"));
        let cycle = [
            entry("triage", &["tutor"]),
            entry("tutor", &["quiz"]),
            entry("quiz", &["tutor"]),
        ];
        assert!(
            error(&cycle, None).contains("tutor -> quiz -> tutor"),
            "{}",
            error(&cycle, None)
        );
        assert!(error(&[entry("a", &["a"])], None).contains("a -> a"));
        let colliding = [
            entry("a", &["Todo Bot", "todo-bot"]),
            entry("Todo Bot", &[]),
            entry("todo-bot", &[]),
        ];
        assert!(error(&colliding, None).contains("collides"));
    }

    #[test]
    fn guardrails_need_exactly_one_rule_that_compiles() {
        let mut agent = entry("a", &[]);
        let rule = |instructions: Option<&str>, pattern: Option<&str>| GuardrailEntry {
            name: "g".to_owned(),
            on: GuardrailTarget::Input,
            instructions: instructions.map(str::to_owned),
            pattern: pattern.map(str::to_owned),
            model: None,
            run_in_parallel: true,
        };
        agent.guardrails = vec![rule(None, None)];
        assert!(error(std::slice::from_ref(&agent), None).contains("exactly one"));
        agent.guardrails = vec![rule(Some("x"), Some("y"))];
        assert!(error(std::slice::from_ref(&agent), None).contains("exactly one"));
        agent.guardrails = vec![rule(None, Some("(unclosed"))];
        assert!(
            error(std::slice::from_ref(&agent), None).contains("not a valid regular expression")
        );
        agent.guardrails = vec![
            rule(None, Some("(?i)password")),
            rule(Some("No homework."), None),
        ];
        validate(std::slice::from_ref(&agent), None).expect("valid");
    }

    #[test]
    fn a_pattern_trips_on_a_match() {
        let check = pattern_check(regex::Regex::new("(?i)password").expect("compiles"));
        assert!(check("What is the PASSWORD?").tripwire_triggered);
        assert!(!check("What is a loop?").tripwire_triggered);
    }
}
