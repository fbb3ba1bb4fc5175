//! `POST /api/chat`: the plain JSON endpoint on the same conversations as ChatKit, with tool calls
//! from a real MCP server (this binary's `todo-mcp` subcommand).

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use test_support::fake_openai::ScriptedTurn;

use crate::support::*;

pub const SECRET: &str = "a-shared-better-auth-secret-of-at-least-32-bytes";

/// A token for `user`, valid for 15 minutes, signed with [`SECRET`].
pub fn user_token(user: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let claims = json!({"sub": user, "exp": now + 900, "iat": now});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("signs")
}

/// The bundled todo MCP server, as a child process of the app, on a database in `dir`.
pub fn todo_server(dir: &std::path::Path) -> mcp_client::McpServerConfig {
    mcp_client::McpServerConfig::stdio(
        "todo",
        env!("CARGO_BIN_EXE_chatkit-server"),
        [
            "todo-mcp".to_owned(),
            "--db".to_owned(),
            dir.join("todo.db").display().to_string(),
        ],
    )
    .user_id_arguments(["user_id"])
}

pub async fn chat(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/chat", app.base))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sends");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn shared_conversations(db: Db) {
    let tools = tempfile::tempdir().expect("tempdir");
    let todo = todo_server(tools.path());
    let app = spawn_app_with(db, move |settings| {
        settings.auth.shared_secret = Some(SECRET.to_owned());
        settings.mcp_servers = vec![todo];
    })
    .await;
    let alice = user_token("alice");
    let mallory = user_token("mallory");

    // Started on /api/chat, with a tool call the real MCP server answers.
    app.model.push_turn(ScriptedTurn::tool_call(
        "call_1",
        "add_task",
        r#"{"title": "buy milk"}"#,
    ));
    app.model
        .push_turn(ScriptedTurn::text("Added \"buy milk\"."));
    let (status, first) = chat(
        &app,
        Some(&alice),
        json!({"message": "add a task to buy milk"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["response"], "Added \"buy milk\".");
    let conversation_id = first["conversation_id"].as_str().expect("id").to_owned();
    let calls = first["tool_calls"].as_array().expect("tool calls");
    assert_eq!(calls.len(), 1, "{first}");
    assert_eq!(calls[0]["name"], "add_task");
    assert_eq!(calls[0]["arguments"], json!({"title": "buy milk"}));
    assert!(
        calls[0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("buy milk"),
        "the MCP server's own output: {first}"
    );

    // ChatKit sees the conversation and continues it.
    let listed = app
        .post_as(json!({"type": "threads.list", "params": {}}), Some(&alice))
        .await;
    assert_eq!(listed.json["data"][0]["id"], conversation_id.as_str());
    app.model
        .push_turn(ScriptedTurn::text("You have one task."));
    let continued = app
        .post_as(
            add_message(&conversation_id, "what is on my list?"),
            Some(&alice),
        )
        .await;
    assert_eq!(continued.status, 200, "{}", continued.raw);
    let roles: Vec<String> = app.model.requests()[2]
        .conversation()
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"],
        "the ChatKit turn sees the /api/chat turn, tool call included"
    );

    // And /api/chat continues it again, seeing the ChatKit turn; no tool calls this time.
    app.model.push_turn(ScriptedTurn::text("Still one task."));
    let (status, third) = chat(
        &app,
        Some(&alice),
        json!({"conversation_id": conversation_id, "message": "and now?"}),
    )
    .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(
        third,
        json!({"conversation_id": conversation_id, "response": "Still one task.", "tool_calls": []})
    );
    let last = app.model.requests()[3].conversation().to_vec();
    assert!(
        last.iter().any(|m| m["content"] == "You have one task."),
        "the /api/chat turn sees the ChatKit answer"
    );
    let thread = app
        .post_as(
            json!({"type": "threads.get_by_id", "params": {"thread_id": conversation_id}}),
            Some(&alice),
        )
        .await;
    let texts: Vec<String> = thread.json["items"]["data"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["type"] == "user_message" || item["type"] == "assistant_message")
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "add a task to buy milk",
            "Added \"buy milk\".",
            "what is on my list?",
            "You have one task.",
            "and now?",
            "Still one task."
        ]
    );

    // A conversation started in ChatKit continues on /api/chat.
    app.model.push_turn(ScriptedTurn::text("Hi!"));
    let created = app.post_as(create("Hello"), Some(&alice)).await;
    let chatkit_thread = created.events[0]["thread"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.model.push_turn(ScriptedTurn::text("Goodbye!"));
    let (status, reply) = chat(
        &app,
        Some(&alice),
        json!({"conversation_id": chatkit_thread, "message": "Bye"}),
    )
    .await;
    assert_eq!(
        (status, reply["response"].clone()),
        (200, json!("Goodbye!"))
    );
    let roles: Vec<String> = app.model.requests()[5]
        .conversation()
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);

    // Someone else's conversation is 404, and nothing reaches the model or the thread.
    let calls_before = app.model.requests().len();
    let (status, refused) = chat(
        &app,
        Some(&mallory),
        json!({"conversation_id": conversation_id, "message": "let me in"}),
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(refused["error"]["code"], "not_found");
    assert_eq!(app.model.requests().len(), calls_before);
    let (status, _) = chat(&app, None, json!({"message": "who am I?"})).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_chat_and_chatkit_share_conversations_on_sqlite() {
    shared_conversations(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_chat_and_chatkit_share_conversations_on_postgres() {
    shared_conversations(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_chat_refuses_bad_bodies_and_reports_model_failures_in_json() {
    let app = spawn_app(Db::Sqlite).await;
    for (body, mentions) in [
        (json!({"text": "no message"}), "message"),
        (json!({"message": "   "}), "message"),
        (json!({"message": 5}), "message"),
    ] {
        let (status, reply) = chat(&app, None, body).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["error"]["code"], "bad_request");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(mentions),
            "{reply}"
        );
    }
    let (status, reply) = chat(
        &app,
        None,
        json!({"conversation_id": "thr_nope", "message": "hi"}),
    )
    .await;
    assert_eq!(
        (status, reply["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    for _ in 0..3 {
        app.model
            .push_turn(ScriptedTurn::http_error(500, "secret upstream detail"));
    }
    let (status, reply) = chat(&app, None, json!({"message": "hi"})).await;
    assert_eq!(status, 502, "{reply}");
    assert_eq!(reply["error"]["code"], "stream_error");
    assert!(!reply.to_string().contains("secret upstream detail"));
}
