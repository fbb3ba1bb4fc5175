//! The search tool and citations, through the agent loop with the fake model.

use std::sync::Arc;

use agent_runtime::{RunContext, Tool, ToolError, UserInfo};
use retrieval::conformance::corpus;
use retrieval::{MarkerMode, MemoryRetriever, SearchTool, SearchToolConfig, map_citations};
use serde_json::json;

fn tool() -> SearchTool {
    SearchTool::new(
        Arc::new(MemoryRetriever::new(corpus())),
        SearchToolConfig {
            name: "search_course".into(),
            description: "Searches the course.".into(),
            k: 2,
            ..SearchToolConfig::default()
        },
    )
}

fn user(id: &str) -> RunContext {
    RunContext::for_user(UserInfo {
        id: id.into(),
        ..UserInfo::default()
    })
}

#[tokio::test]
async fn the_model_gets_numbered_passages_with_titles_and_the_citation_rule() {
    let tool = tool();
    let definition = tool.definition();
    assert_eq!(definition.name, "search_course");
    assert_eq!(definition.parameters["required"], json!(["query"]));
    let output = tool
        .call(&user("carol"), json!({"query": "deploy the server"}))
        .await
        .unwrap();
    assert!(!output.is_error);
    assert!(
        output.content.contains("[1] Deployment questions"),
        "{}",
        output.content
    );
    assert!(
        output.content.contains("[2] Deployment\n"),
        "{}",
        output.content
    );
    assert!(!output.content.contains("[3]"), "k = 2");
    assert!(output.content.contains("https://docs.example.test/deploy"));
    assert!(output.content.contains("like [1]"));
}

#[tokio::test]
async fn the_user_comes_from_the_context_and_the_page_from_metadata() {
    let tool = tool();
    let arguments = json!({"query": "zebrafish experiment", "user": "alice"});
    let bob = tool.call(&user("bob"), arguments.clone()).await.unwrap();
    assert!(!bob.content.contains("Alice notes"), "{}", bob.content);
    assert!(bob.content.contains("No passages matched"));
    let alice = tool.call(&user("alice"), arguments).await.unwrap();
    assert!(alice.content.contains("[1] Alice notes"));

    let mut on_page = user("carol");
    on_page.metadata.insert(
        "page".into(),
        json!({"url": "/courses/rust/lesson-b", "title": "Lesson B"}),
    );
    let result = tool
        .search(&on_page, &json!({"query": "borrowing ownership"}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.passages[0].source.title, "Lesson B");
    assert_eq!(result.query, "borrowing ownership");
    // The structured result also gives ChatKit sources for a search task.
    let sources = serde_json::to_value(result.sources()).unwrap();
    assert_eq!(sources[0]["type"], "url");
    assert_eq!(sources[0]["title"], "Lesson B");

    let granted = tool.clone().with_grants(Arc::new(|ctx: &RunContext| {
        if ctx.user.id == "teacher" {
            vec!["course:42".into()]
        } else {
            Vec::new()
        }
    }));
    let teacher = granted
        .call(&user("teacher"), json!({"query": "marmalade rubric"}))
        .await
        .unwrap();
    assert!(teacher.content.contains("[1] Teacher guide"));
    let student = granted
        .call(&user("student"), json!({"query": "marmalade rubric"}))
        .await
        .unwrap();
    assert!(!student.content.contains("Teacher guide"));
}

#[tokio::test]
async fn bad_arguments_are_invalid_and_a_blank_query_is_an_error_output() {
    let tool = tool();
    assert!(matches!(
        tool.call(&user("carol"), json!({"q": "x"})).await,
        Err(ToolError::InvalidArguments(_))
    ));
    let blank = tool
        .call(&user("carol"), json!({"query": "  "}))
        .await
        .unwrap();
    assert!(blank.is_error);
    assert!(blank.content.contains("blank"), "{}", blank.content);
}

#[tokio::test]
async fn markers_in_the_answer_map_to_the_passages_the_tool_numbered() {
    let tool = tool();
    let result = tool
        .search(&user("carol"), &json!({"query": "deploy the server"}))
        .await
        .unwrap()
        .unwrap();
    let answer = "Put it behind a proxy [1]. Kubernetes works too [2].";
    let cited = map_citations(answer, &result.passages, MarkerMode::Strip);
    assert_eq!(cited.text, "Put it behind a proxy. Kubernetes works too.");
    let mapped: Vec<(usize, usize, &str)> = cited
        .citations
        .iter()
        .map(|c| (c.number, c.index, c.passage.source.title.as_str()))
        .collect();
    assert_eq!(
        mapped,
        vec![(1, 21, "Deployment questions"), (2, 43, "Deployment")]
    );
    let annotations = serde_json::to_value(cited.annotations()).unwrap();
    assert_eq!(annotations[1]["index"], 43);
    assert_eq!(
        annotations[1]["source"]["url"],
        "https://docs.example.test/deploy"
    );
}

#[tokio::test]
async fn through_the_agent_loop_the_model_reads_numbered_passages_and_its_markers_map_back() {
    use agent_runtime::{Agent, Message, OpenAiChatProvider, OpenAiConfig, RunEvent, run_streamed};
    use futures::StreamExt;
    use test_support::{FakeOpenAi, ScriptedTurn};

    let server = FakeOpenAi::start().await;
    server.push_turn(ScriptedTurn::default().with_tool_call(
        "call_1",
        "search_course",
        r#"{"query": "jwks endpoint"}"#,
    ));
    server.push_turn(ScriptedTurn::text("Point jwks_url at your provider [1]."));
    let model = OpenAiChatProvider::new(OpenAiConfig::new(server.base_url(), "fake-model"))
        .expect("a valid config");
    let search = tool();
    let agent = Agent::new("tutor", Arc::new(model)).with_tool(Arc::new(search.clone()));
    let mut stream = run_streamed(&agent, user("carol"), vec![Message::user("JWKS?")]);
    let mut final_text = None;
    while let Some(event) = stream.next().await {
        if let Ok(RunEvent::RunFinished(result)) = event {
            final_text = Some(result.final_output);
        }
    }
    let final_text = final_text.expect("the run finished");
    // The second model request carries the tool output: numbered passages and the rule.
    let requests = server.requests();
    let tool_message = requests[1]
        .conversation()
        .iter()
        .find(|message| message["role"] == "tool")
        .cloned()
        .expect("a tool message");
    let content = tool_message["content"].as_str().unwrap();
    assert!(
        content.starts_with("Passages for \"jwks endpoint\""),
        "{content}"
    );
    assert!(content.contains("[1] Configuring JWKS"), "{content}");
    // The engine maps the answer's markers with the same search's passages.
    let result = search
        .search(&user("carol"), &json!({"query": "jwks endpoint"}))
        .await
        .unwrap()
        .unwrap();
    let cited = map_citations(&final_text, &result.passages, MarkerMode::Strip);
    assert_eq!(cited.text, "Point jwks_url at your provider.");
    assert_eq!(cited.citations.len(), 1);
    assert_eq!(cited.citations[0].index, 31);
    assert_eq!(cited.citations[0].passage.source.title, "Configuring JWKS");
}
