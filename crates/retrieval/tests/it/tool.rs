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
