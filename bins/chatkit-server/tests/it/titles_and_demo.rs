//! Generated thread titles, and the zero-configuration demo: the real binary, the demo model and
//! the bundled todo MCP server it spawns for itself.

use std::process::Stdio;
use std::time::Duration;

use chatkit_protocol::sse::SseDecoder;
use serde_json::{Value, json};
use test_support::fake_openai::ScriptedTurn;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_answer_is_followed_by_a_generated_title_that_threads_list_shows() {
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.agent.generate_titles = Some(true)
    })
    .await;
    app.model
        .push_turn(ScriptedTurn::text("Aisle 4, next to the eggs."));
    app.model
        .push_turn(ScriptedTurn::text("Title: Finding the milk"));
    let created = app.post(create("Where is the milk?")).await;
    assert_eq!(created.status, 200);
    let kinds = kinds(&created.events);
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["thread.item.done:assistant_message", "thread.updated"]
    );
    let updated = created.events.last().expect("an event");
    assert_eq!(updated["thread"]["title"], "Finding the milk");
    let title_call = &app.model.requests()[1];
    assert_eq!(
        title_call.system_prompt(),
        Some(chatkit_engine::TITLE_PROMPT)
    );
    let listed = app
        .post(json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(listed.json["data"][0]["title"], "Finding the milk");
    assert_eq!(app.model.requests().len(), 2, "exactly one extra call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tools_stay_off_when_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = chatkit_server::Settings::default();
    settings.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("chatkit.db").display()
    );
    settings.demo.todo_tools = false;
    // The demo's documentation search is on (no [retrieval]): its data in the tempdir too.
    settings.demo.docs_dir = dir.path().join("demo-docs");
    let components = chatkit_server::compose(&settings).await.expect("composes");
    assert!(components.mcp.is_none());
    assert!(!settings.generate_titles(), "no titles from the demo model");
}

/// Parses an SSE body into its JSON events.
fn events(raw: &str) -> Vec<Value> {
    SseDecoder::new()
        .push(raw.as_bytes())
        .into_iter()
        .map(|message| serde_json::from_str(&message.data).expect("JSON frames"))
        .collect()
}

/// The real binary, run with no configuration at all in an empty directory, answers "add a task"
/// with a real tool call of the todo MCP server it started for itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_with_no_configuration_shows_a_real_tool_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
        .args(["--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        // No OPENAI_API_KEY, DATABASE_URL or CHATKIT_* from the developer's shell.
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("reads stdout") {
            if let Some(address) = line.strip_prefix("listening on ") {
                return address.to_owned();
            }
        }
        panic!("the server exited without saying where it listens");
    })
    .await
    .expect("the server starts in time");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "the real port: {base}");

    let client = reqwest::Client::new();
    let ask = |body: Value| {
        let client = client.clone();
        let url = format!("{base}/chatkit");
        async move {
            let response = client
                .post(url)
                .body(body.to_string())
                .send()
                .await
                .expect("sends");
            assert_eq!(response.status().as_u16(), 200);
            events(&response.text().await.expect("reads"))
        }
    };
    let added = ask(create("add a task to buy milk")).await;
    let added_kinds = kinds(&added);
    assert!(
        added_kinds.contains(&"thread.item.added:workflow".to_owned())
            && added_kinds.contains(&"thread.item.done:workflow".to_owned()),
        "{added_kinds:?}"
    );
    let answer = added
        .iter()
        .rev()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
        .map(|e| {
            e["item"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .expect("a streamed answer");
    assert!(answer.contains("buy milk"), "{answer}");
    assert!(
        added_kinds
            .iter()
            .filter(|k| k.ends_with("content_part.text_delta"))
            .count()
            > 1,
        "the answer streams word by word"
    );

    // The task was really stored: listing finds it (on the demo's database in the working dir).
    let thread_id = added[0]["thread"]["id"].as_str().expect("id").to_owned();
    let listed = ask(add_message(&thread_id, "list my tasks")).await;
    let answer = listed
        .iter()
        .rev()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
        .map(|e| {
            e["item"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .expect("a streamed answer");
    assert!(answer.contains("buy milk"), "{answer}");
    assert!(dir.path().join("data/todo.db").exists());

    // SIGTERM stops it cleanly, MCP child included.
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops in time")
        .expect("waits");
    assert!(exit.success(), "{exit:?}");
}
