//! `[retrieval]` through the bundled server: the folder is indexed at start-up, the model's
//! search shows a search task with its sources, the `[1]` in the answer becomes an annotation at
//! the marker, and `items.list` replays it as it was sent.

use chatkit_server::retrieval::{RetrievalSettings, SourceSettings};
use chatkit_server::settings::Settings;
use serde_json::{Value, json};
use test_support::chatkit::{create, kinds};
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

const AUTH_DOC: &str = "# Authentication\n\n\
## JWKS\n\n\
Set `jwks_url` to the JWKS endpoint of your identity provider; the server fetches the signing \
keys from it and refreshes them when a token names an unknown key.\n\n\
## Shared secret\n\n\
For HS256 tokens, set `shared_secret` instead.\n";

const LIMITS_DOC: &str = "# Rate limits\n\nEach user may send sixty requests a minute.\n";

#[tokio::test]
async fn a_search_shows_its_task_and_the_answer_cites_it_where_the_marker_stood() {
    let docs = tempfile::tempdir().expect("tempdir");
    std::fs::write(docs.path().join("auth.md"), AUTH_DOC).expect("writes");
    std::fs::write(docs.path().join("limits.md"), LIMITS_DOC).expect("writes");
    let index = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.retrieval = Some(RetrievalSettings {
            index_dir: index.path().join("index"),
            sources: vec![SourceSettings {
                path: docs.path().to_owned(),
                base_url: Some("https://docs.example.test/".to_owned()),
                prefix: None,
            }],
            k: 1,
            ..RetrievalSettings::default()
        });
    })
    .await;
    app.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "search_documentation",
        r#"{"query": "configure jwks_url JWKS endpoint"}"#,
    ));
    app.model.push_turn(ScriptedTurn::text(
        "Set `jwks_url` to your identity provider's JWKS endpoint [1].",
    ));
    let reply = app.post(create("How do I configure JWKS?")).await;
    assert_eq!(reply.status, 200);
    let events = &reply.events;

    // The model read the passage numbered [1] with its URL.
    let requests = app.model.requests();
    let tool_output = requests
        .last()
        .expect("two model calls")
        .conversation()
        .iter()
        .find(|message| message["role"] == "tool")
        .and_then(|message| message["content"].as_str())
        .expect("the search result reached the model")
        .to_owned();
    assert!(tool_output.contains("[1] Authentication"), "{tool_output}");

    // The search task: the query while it runs, the source found when done.
    let task = &search_task(events);
    assert_eq!(task["type"], "web_search", "{task:#}");
    assert_eq!(task["status_indicator"], "complete");
    assert_eq!(task["title_query"], "configure jwks_url JWKS endpoint");
    let sources = task["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{task:#}");
    let source = sources[0].clone();
    assert_eq!(source["type"], "url");
    assert!(
        source["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://docs.example.test/auth")),
        "{source:#}"
    );

    // The marker is stripped and the annotation sits where it stood.
    let answer = events.last().expect("an answer");
    assert_eq!(answer["item"]["type"], "assistant_message");
    let content = &answer["item"]["content"][0];
    let text = "Set `jwks_url` to your identity provider's JWKS endpoint.";
    assert_eq!(content["text"], text);
    let expected = json!([{"type": "annotation", "source": source,
        "index": text.chars().count() - 1}]);
    assert_eq!(content["annotations"], expected);
    assert_eq!(streamed_annotations(events), [&expected[0]]);

    // items.list gives the stored answer back exactly as it was sent.
    let stored = listed_answer(&app, events).await;
    assert_eq!(stored["content"][0], *content);
}

/// The answer `items.list` gives back for the thread `events` created.
async fn listed_answer(app: &TestApp, events: &[Value]) -> Value {
    let thread_id = events[0]["thread"]["id"].as_str().expect("thread");
    let listed = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(listed.status, 200);
    listed.json["data"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["type"] == "assistant_message")
        .expect("the answer is stored")
        .clone()
}

/// The first task of the first finished workflow (the search's).
fn search_task(events: &[Value]) -> Value {
    let workflow = events
        .iter()
        .find(|event| event["type"] == "thread.item.done" && event["item"]["type"] == "workflow")
        .unwrap_or_else(|| panic!("a workflow in {:?}", kinds(events)));
    workflow["item"]["workflow"]["tasks"][0].clone()
}

/// The annotations sent as `annotation_added` updates, in order.
fn streamed_annotations(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|event| {
            event["update"]["type"] == "assistant_message.content_part.annotation_added"
        })
        .map(|event| &event["update"]["annotation"])
        .collect()
}

#[test]
fn check_config_rejects_retrieval_with_nothing_to_search() {
    let mut settings = Settings {
        retrieval: Some(RetrievalSettings::default()),
        ..Settings::default()
    };
    let error = settings.validate().expect_err("no sources, no service");
    assert!(
        error.to_string().contains("[[retrieval.sources]]"),
        "{error}"
    );
    settings.retrieval = Some(RetrievalSettings {
        citation_markers: "hide".to_owned(),
        ..RetrievalSettings::default()
    });
    let error = settings.validate().expect_err("unknown marker mode");
    assert!(error.to_string().contains("citation_markers"), "{error}");
}

#[test]
fn the_index_command_builds_the_index_then_only_reads_what_changed() {
    let docs = tempfile::tempdir().expect("tempdir");
    std::fs::write(docs.path().join("auth.md"), AUTH_DOC).expect("writes");
    std::fs::write(docs.path().join("limits.md"), LIMITS_DOC).expect("writes");
    let data = tempfile::tempdir().expect("tempdir");
    let config = data.path().join("chatkit.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[retrieval]\nindex_dir = \"{}\"\n[[retrieval.sources]]\npath = \"{}\"\n",
            data.path().join("chatkit.db").display(),
            data.path().join("index").display(),
            docs.path().display()
        ),
    )
    .expect("writes");
    let index = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
            .arg("--config")
            .arg(&config)
            .arg("index")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The summary line (logs may share stdout).
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .lines()
            .find(|line| line.starts_with("indexed "))
            .expect("a summary line")
            .to_owned()
    };
    let first = index();
    assert!(first.starts_with("indexed 2 files (0 unchanged"), "{first}");
    std::fs::write(
        docs.path().join("limits.md"),
        "# Rate limits\n\nThirty a minute.\n",
    )
    .expect("writes");
    let second = index();
    assert!(
        second.starts_with("indexed 1 files (1 unchanged"),
        "{second}"
    );
}

/// The app as `cargo run -p chatkit-server` makes it with no settings: the demo model, no
/// `[retrieval]` (its documentation search), its data in `data`.
async fn spawn_demo_app(data: &std::path::Path, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data = data.to_owned();
    spawn_app_with(Db::Sqlite, move |settings| {
        settings.model.base_url = None;
        settings.model.api_key = None;
        // The bundled todo server is this very binary's subcommand, which a test binary lacks.
        settings.demo.todo_tools = false;
        settings.demo.docs_dir = data.join("demo-docs");
        configure(settings);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_configuration_the_demo_answers_from_the_project_docs_and_cites_them() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = spawn_demo_app(data.path(), |_| {}).await;
    let reply = app.post(create("how do I configure JWKS?")).await;
    assert_eq!(reply.status, 200);
    let events = &reply.events;

    // A search task with its query, then the docs it found.
    let task = &search_task(events);
    assert_eq!(task["type"], "web_search", "{task:#}");
    assert_eq!(task["status_indicator"], "complete");
    assert_eq!(task["title_query"], "how do I configure JWKS?");
    let sources = task["sources"].as_array().expect("sources");
    assert!(!sources.is_empty(), "{task:#}");
    let is_a_doc = |url: &str| {
        url.starts_with("/playground/docs/")
            && chatkit_server::demo_corpus::DEMO_DOCS
                .iter()
                .any(|doc| url.split('#').next() == Some(&format!("/playground/docs/{}", doc.name)))
    };
    for source in sources {
        assert_eq!(source["type"], "url");
        assert!(source["url"].as_str().is_some_and(is_a_doc), "{source:#}");
    }

    // The answer quotes the passages and cites them; the markers are gone from every delta and
    // each annotation streamed is one the answer keeps.
    let answer = events.last().expect("an answer");
    assert_eq!(answer["item"]["type"], "assistant_message", "{answer:#}");
    let content = &answer["item"]["content"][0];
    let text = content["text"].as_str().expect("text");
    assert!(!text.contains("[1]"), "{text}");
    let annotations = content["annotations"].as_array().expect("annotations");
    assert!(!annotations.is_empty(), "{content:#}");
    for annotation in annotations {
        let url = annotation["source"]["url"].as_str().expect("a URL source");
        assert!(is_a_doc(url), "{annotation:#}");
        assert!(sources.contains(&annotation["source"]), "{annotation:#}");
        let index = annotation["index"].as_u64().expect("an index") as usize;
        assert!(index > 0 && index <= text.chars().count(), "{annotation:#}");
    }
    let mentions_jwks = text.to_lowercase().contains("jwks");
    assert!(mentions_jwks, "the passages quoted are about JWKS: {text}");
    let streamed: String = events
        .iter()
        .filter(|event| event["update"]["type"] == "assistant_message.content_part.text_delta")
        .filter_map(|event| event["update"]["delta"].as_str())
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(
        streamed_annotations(events),
        annotations.iter().collect::<Vec<_>>()
    );

    // The cited document is served where the citation points.
    let url = annotations[0]["source"]["url"].as_str().expect("url");
    let page = reqwest::get(format!(
        "{}{}",
        app.base,
        url.split('#').next().unwrap_or(url)
    ))
    .await
    .expect("fetches");
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("a body");
    assert!(
        chatkit_server::demo_corpus::DEMO_DOCS
            .iter()
            .any(|doc| doc.text == body)
    );

    // items.list replays the answer with its annotations as sent.
    let stored = listed_answer(&app, events).await;
    assert_eq!(stored["content"][0], *content);

    // Everything was indexed at start-up: a restart re-reads nothing.
    let settings = Settings {
        demo: chatkit_server::settings::DemoSettings {
            docs_dir: data.path().join("demo-docs"),
            ..Default::default()
        },
        ..Settings::default()
    };
    let retrieval = chatkit_server::demo_corpus::demo_retrieval(&settings);
    let index = retrieval.open_index(&settings).expect("opens the index");
    let report =
        chatkit_server::retrieval::update_index(&index, &retrieval.source_folders(), &mut |_| {})
            .await
            .expect("updates");
    assert_eq!(report.files_indexed, 0, "{report:?}");
    assert_eq!(
        report.files_unchanged,
        chatkit_server::demo_corpus::DEMO_DOCS.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_enabled_false_turns_the_demo_search_off() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = spawn_demo_app(data.path(), |settings| {
        settings.retrieval = Some(RetrievalSettings {
            enabled: false,
            ..RetrievalSettings::default()
        });
    })
    .await;
    let reply = app.post(create("how do I configure JWKS?")).await;
    assert_eq!(reply.status, 200);
    assert!(
        !kinds(&reply.events)
            .iter()
            .any(|kind| kind.contains("workflow")),
        "{:?}",
        kinds(&reply.events)
    );
    let answer = reply.events.last().expect("an answer");
    assert!(
        answer["item"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("You said: how do I configure JWKS?")),
        "{answer:#}"
    );
    assert!(!data.path().join("demo-docs").exists(), "nothing indexed");
}
