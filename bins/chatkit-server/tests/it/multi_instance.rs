//! Two server instances on one PostgreSQL schema, as behind a load balancer without sticky
//! sessions: nothing a turn needs may live only in the process that served the previous turn
//! (ADR 0002). Both instances also talk to one fake model, so its request log shows what the model
//! was sent on every turn, whichever instance sent it.

use std::sync::atomic::{AtomicUsize, Ordering};

use chatkit_protocol::FeedbackKind;
use chatkit_store::StoreContext;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use test_support::fake_openai::{
    FakeOpenAi, FakeOpenAiOptions, Fallback, RecordedRequest, ScriptedTurn,
};

use crate::support::*;

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty schema both instances of a test share.
pub(crate) async fn shared_schema() -> String {
    let url = postgres_url();
    let db = sea_orm::Database::connect(&url)
        .await
        .unwrap_or_else(|err| {
            panic!("PostgreSQL at {url} is required (set CHATKIT_TEST_DATABASE_URL): {err}")
        });
    let schema = format!(
        "multi_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::Relaxed)
    );
    db.execute_unprepared(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .await
    .expect("creates the schema");
    schema
}

/// Two instances on one schema and one model. Each `TestApp` still starts a fake model of its
/// own (`app.model`); neither is used here, `model` is.
async fn spawn_pair(model: &FakeOpenAi) -> (TestApp, TestApp) {
    let schema = shared_schema().await;
    let configure = |settings: &mut chatkit_server::Settings| {
        settings.database.schema = Some(schema.clone());
        settings.model.base_url = Some(model.base_url());
        // Long enough that the model's window never cuts a conversation of these tests.
        settings.agent.history_items = 100;
    };
    // One after the other: the second start finds the migrations applied by the first.
    let a = spawn_app_with(Db::Postgres, configure).await;
    let b = spawn_app_with(Db::Postgres, configure).await;
    assert_ne!(a.base, b.base, "two servers, two ports");
    (a, b)
}

/// What the model was sent, without the system prompt: `(role, text)` in order.
fn dialogue(request: &RecordedRequest) -> Vec<(String, String)> {
    request
        .conversation()
        .iter()
        .filter(|message| message["role"] != "system")
        .map(|message| {
            (
                message["role"].as_str().unwrap_or_default().to_owned(),
                message["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Owned `(kind or role, text)` pairs, to compare with [`texts`] and [`dialogue`].
fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(kind, text)| ((*kind).to_owned(), (*text).to_owned()))
        .collect()
}

/// `(type, text)` of each item of a page or thread, in the order given.
pub(crate) fn texts(items: &Value) -> Vec<(String, String)> {
    items
        .as_array()
        .expect("an item list")
        .iter()
        .map(|item| {
            (
                item["type"].as_str().unwrap_or_default().to_owned(),
                item["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

async fn items_asc(app: &TestApp, thread_id: &str) -> Value {
    let page = app
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc", "limit": 100}}))
        .await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert_eq!(page.json["has_more"], false);
    page.json["data"].clone()
}

fn assert_streamed(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.raw);
    assert_eq!(
        kinds(&reply.events).last().map(String::as_str),
        Some("thread.item.done:assistant_message"),
        "{}",
        reply.raw
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_alternating_between_two_instances_on_postgres() {
    let model = FakeOpenAi::start().await;
    let (mut a, mut b) = spawn_pair(&model).await;

    // A creates the thread.
    model.push_turn(ScriptedTurn::text("Answer one"));
    let created = a.post(create("Hello")).await;
    assert_streamed(&created);
    assert_eq!(kinds(&created.events)[0], "thread.created");
    let thread_id = created.events[0]["thread"]["id"]
        .as_str()
        .expect("thread id")
        .to_owned();

    // B sees it at once and continues it; the model gets the turn A served.
    let first = pairs(&[
        ("user_message", "Hello"),
        ("assistant_message", "Answer one"),
    ]);
    assert_eq!(texts(&items_asc(&b, &thread_id).await), first);
    model.push_turn(ScriptedTurn::text("Answer two"));
    assert_streamed(&b.post(add_message(&thread_id, "Second")).await);

    // A reads the whole thread in order, then answers the third message with all of it.
    let thread = a
        .post(json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(thread.status, 200, "{}", thread.raw);
    let second = pairs(&[
        ("user_message", "Hello"),
        ("assistant_message", "Answer one"),
        ("user_message", "Second"),
        ("assistant_message", "Answer two"),
    ]);
    assert_eq!(texts(&thread.json["items"]["data"]), second);
    let answer_two_id = thread.json["items"]["data"][3]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let second_message_id = thread.json["items"]["data"][2]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    model.push_turn(ScriptedTurn::text("Answer three"));
    assert_streamed(&a.post(add_message(&thread_id, "Third")).await);

    // B renames it; A lists it under the new name.
    let renamed = b
        .post(json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Shared"}}))
        .await;
    assert_eq!(
        (renamed.status, renamed.json["title"].clone()),
        (200, json!("Shared"))
    );
    let listed = a
        .post(json!({"type": "threads.list", "params": {"limit": 10}}))
        .await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed.json["data"][0]["id"], thread_id.as_str());
    assert_eq!(listed.json["data"][0]["title"], "Shared");

    // A records feedback; B's store has it.
    let feedback = a
        .post(json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [answer_two_id], "kind": "negative"}}))
        .await;
    assert_eq!(feedback.status, 200, "{}", feedback.raw);
    let owner = StoreContext::new("local-user");
    let stored = b
        .engine
        .store()
        .load_feedback(&thread_id, &answer_two_id, &owner)
        .await
        .expect("loads feedback");
    assert_eq!(stored, Some(FeedbackKind::Negative));

    // B retries after the second message: A's third turn goes, a new second answer comes.
    model.push_turn(ScriptedTurn::text("A better answer two"));
    let retried = b
        .post(json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": second_message_id}}))
        .await;
    assert_streamed(&retried);

    let last = pairs(&[
        ("user_message", "Hello"),
        ("assistant_message", "Answer one"),
        ("user_message", "Second"),
        ("assistant_message", "A better answer two"),
    ]);
    let on_a = a
        .post(json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(on_a.json["title"], "Shared");
    assert_eq!(texts(&on_a.json["items"]["data"]), last);
    assert_eq!(texts(&items_asc(&b, &thread_id).await), last);
    let newest_first = b
        .post(json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "desc", "limit": 100}}))
        .await;
    let mut reversed = last.clone();
    reversed.reverse();
    assert_eq!(texts(&newest_first.json["data"]), reversed);

    // Every turn, from either instance, sent the model the whole history up to that turn.
    let requests = model.requests();
    assert_eq!(requests.len(), 4, "one model call per turn");
    let sent: Vec<_> = requests.iter().map(dialogue).collect();
    assert_eq!(
        sent,
        [
            pairs(&[("user", "Hello")]),
            pairs(&[
                ("user", "Hello"),
                ("assistant", "Answer one"),
                ("user", "Second")
            ]),
            pairs(&[
                ("user", "Hello"),
                ("assistant", "Answer one"),
                ("user", "Second"),
                ("assistant", "Answer two"),
                ("user", "Third"),
            ]),
            pairs(&[
                ("user", "Hello"),
                ("assistant", "Answer one"),
                ("user", "Second")
            ]),
        ]
    );
    assert_eq!(model.remaining_turns(), 0);

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_instances_share_one_postgres_store() {
    const MESSAGES: usize = 5;
    // The model answers each message with `You said: <message>`, so answers identify their turn
    // whatever order the two instances' calls reach it in.
    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
        fallback: Fallback::Echo,
        ..FakeOpenAiOptions::default()
    })
    .await
    .expect("fake model starts");
    let (mut a, mut b) = spawn_pair(&model).await;

    // Each instance writes its own thread of the same user, both at the same time.
    async fn write_thread(app: &TestApp, label: &str) -> String {
        let created = app.post(create(&format!("{label} message 0"))).await;
        assert_streamed(&created);
        let thread_id = created.events[0]["thread"]["id"]
            .as_str()
            .expect("thread id")
            .to_owned();
        for index in 1..MESSAGES {
            let reply = app
                .post(add_message(&thread_id, &format!("{label} message {index}")))
                .await;
            assert_streamed(&reply);
        }
        thread_id
    }
    let (thread_a, thread_b) = tokio::join!(write_thread(&a, "A"), write_thread(&b, "B"));

    let expected = |label: &str| {
        (0..MESSAGES)
            .flat_map(|index| {
                let message = format!("{label} message {index}");
                [
                    ("user_message".to_owned(), message.clone()),
                    (
                        "assistant_message".to_owned(),
                        format!("You said: {message}"),
                    ),
                ]
            })
            .collect::<Vec<_>>()
    };
    // Both threads are complete and ordered, read from either instance.
    for app in [&a, &b] {
        assert_eq!(texts(&items_asc(app, &thread_a).await), expected("A"));
        assert_eq!(texts(&items_asc(app, &thread_b).await), expected("B"));
    }

    // Listing from either instance shows both threads, in the same order.
    let mut listings = Vec::new();
    for app in [&a, &b] {
        let listed = app
            .post(json!({"type": "threads.list", "params": {"limit": 10}}))
            .await;
        assert_eq!(listed.status, 200, "{}", listed.raw);
        let ids: Vec<_> = listed.json["data"]
            .as_array()
            .expect("threads")
            .iter()
            .map(|thread| thread["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        let mut both = vec![thread_a.clone(), thread_b.clone()];
        both.sort();
        assert_eq!(sorted, both);
        listings.push(ids);
    }
    assert_eq!(listings[0], listings[1]);

    // Each model call carried its own thread's whole history and nothing of the other thread.
    let requests = model.requests();
    assert_eq!(requests.len(), 2 * MESSAGES);
    let mut lengths = std::collections::BTreeMap::<&str, Vec<usize>>::new();
    for request in &requests {
        let sent = dialogue(request);
        assert_eq!(sent.len() % 2, 1, "every call ends on the user's message");
        let label = if sent[0].1.starts_with('A') { "A" } else { "B" };
        let history: Vec<_> = expected(label)
            .into_iter()
            .take(sent.len())
            .map(|(kind, text)| {
                let role = if kind == "user_message" {
                    "user"
                } else {
                    "assistant"
                };
                (role.to_owned(), text)
            })
            .collect();
        assert_eq!(sent, history);
        lengths.entry(label).or_default().push(sent.len());
    }
    let every_turn: Vec<_> = (0..MESSAGES).map(|turn| 2 * turn + 1).collect();
    assert_eq!(lengths["A"], every_turn);
    assert_eq!(lengths["B"], every_turn);

    a.stop().await;
    b.stop().await;
}

/// A user's rate limit holds across instances: with a burst of 3 shared through the database,
/// requests alternating between the two instances get exactly 3 answers, then 429 from both. With
/// per-process buckets the same requests would get 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_one_limit_across_instances() {
    let schema = shared_schema().await;
    let configure = |settings: &mut chatkit_server::Settings| {
        settings.database.schema = Some(schema.clone());
        settings.auth.shared_secret = Some(crate::legacy_chat::SECRET.to_owned());
        settings.rate_limit.requests_per_minute = 1;
        settings.rate_limit.burst = 3;
    };
    let a = spawn_app_with(Db::Postgres, configure).await;
    let b = spawn_app_with(Db::Postgres, configure).await;
    let alice = crate::legacy_chat::user_token("alice");
    let list = json!({"type": "threads.list", "params": {}});
    let mut statuses = Vec::new();
    for n in 0..6 {
        let app = if n % 2 == 0 { &a } else { &b };
        statuses.push(app.post_as(list.clone(), Some(&alice)).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    // Another user's bucket is untouched, on either instance.
    let bob = crate::legacy_chat::user_token("bob");
    assert_eq!(b.post_as(list.clone(), Some(&bob)).await.status, 200);
    assert_eq!(a.post_as(list, Some(&bob)).await.status, 200);
}

/// An S3 server (s3s on a directory) in this process on a loopback port, with SigV4 auth on.
pub(crate) async fn start_s3_server() -> (String, tempfile::TempDir) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("chat-files")).expect("bucket directory");
    let file_system = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
    let mut builder = s3s::service::S3ServiceBuilder::new(file_system);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(
        "test-access-key",
        "test-secret-key-0123456789",
    ));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (endpoint, root)
}

/// Points `settings` at the bucket of [`start_s3_server`] at `endpoint`.
pub(crate) fn use_s3(settings: &mut chatkit_server::Settings, endpoint: &str) {
    settings.attachments.backend = chatkit_server::settings::AttachmentBackend::S3;
    let s3 = &mut settings.attachments.s3;
    s3.bucket = "chat-files".to_owned();
    s3.endpoint = Some(endpoint.to_owned());
    s3.access_key_id = Some("test-access-key".to_owned());
    s3.secret_access_key = Some("test-secret-key-0123456789".to_owned());
    s3.allow_http = true;
}

/// With `attachments.backend = "s3"`, an attachment created through one instance and uploaded
/// straight to the bucket is downloadable through the other (a redirect to a presigned URL), and
/// deleting it through the other deletes the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_in_object_storage_are_shared_by_every_instance() {
    let (endpoint, _bucket_root) = start_s3_server().await;
    let model = FakeOpenAi::start().await;
    let schema = shared_schema().await;
    let configure = |settings: &mut chatkit_server::Settings| {
        settings.database.schema = Some(schema.clone());
        settings.model.base_url = Some(model.base_url());
        use_s3(settings, &endpoint);
    };
    let a = spawn_app_with(Db::Postgres, configure).await;
    let b = spawn_app_with(Db::Postgres, configure).await;

    let bytes = b"a text file, uploaded once, read anywhere".to_vec();
    let created = a
        .post(json!({"type": "attachments.create", "params": {
            "name": "notes.txt", "size": bytes.len(), "mime_type": "text/plain"}}))
        .await;
    assert_eq!(created.status, 200, "{}", created.raw);
    let id = created.json["id"].as_str().expect("id").to_owned();
    let upload_url = created.json["upload_descriptor"]["url"]
        .as_str()
        .expect("upload url")
        .to_owned();
    assert!(
        upload_url.starts_with(&endpoint),
        "the upload goes straight to the bucket, not through an instance: {upload_url}"
    );
    let uploaded = reqwest::Client::new()
        .put(&upload_url)
        .header("Content-Type", "text/plain")
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status().as_u16(), 200);

    // Through the other instance: a redirect to a presigned URL, which serves the bytes.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = no_redirects
        .get(format!("{}/attachments/{id}", b.base))
        .send()
        .await
        .expect("download");
    assert_eq!(answer.status().as_u16(), 302);
    let location = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(&endpoint), "{location}");
    let fetched = reqwest::get(&location).await.expect("presigned get");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("body").as_ref(), bytes);

    let deleted = b
        .post(json!({"type": "attachments.delete", "params": {"attachment_id": id}}))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.raw);
    assert_eq!(
        reqwest::get(&location)
            .await
            .expect("get")
            .status()
            .as_u16(),
        404,
        "deleting through another instance deletes the object"
    );
}
