//! Issue #18's proof: three instances on one PostgreSQL schema behind a round-robin proxy with no
//! affinity behave like one. The instances are three `Application`s in this process, each with
//! its own HTTP server, database pool and thread-lock pool (so the only thing they share is the
//! database and the bucket, as three processes would).

use std::collections::BTreeMap;
use std::time::Duration;

use chatkit_protocol::sse::SseDecoder;
use chatkit_protocol::{Order, ThreadItem};
use chatkit_store::StoreContext;
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, FakeOpenAiOptions, Fallback};

use crate::legacy_chat::{SECRET, user_token};
use crate::multi_instance::{shared_schema, start_s3_server, texts, use_s3};
use crate::proxy::TcpProxy;
use crate::support::*;

/// Hang guard only: a stream that has not ended by then is a hung stream, a failure.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// How one client turn ended.
#[derive(Debug)]
pub(crate) struct Turn {
    pub status: u16,
    pub events: Vec<Value>,
    /// The client left after seeing `cut_after` in the answer.
    pub cut: bool,
    /// The answer text the client saw.
    pub answer: String,
}

/// Sends a streaming request and reads its events; with `cut_after`, hangs up as soon as the
/// answer text contains it. Every event read is recorded for the conformance check.
pub(crate) async fn stream_turn(
    recorder: &TestApp,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
    cut_after: Option<&str>,
) -> Turn {
    stream_turn_watching(recorder, client, base, token, body, |answer| {
        cut_after.is_some_and(|marker| answer.contains(marker))
    })
    .await
}

/// [`stream_turn`], calling `hang_up` with the answer so far after each chunk: `true` closes
/// the connection there.
pub(crate) async fn stream_turn_watching(
    recorder: &TestApp,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
    mut hang_up: impl FnMut(&str) -> bool,
) -> Turn {
    let read = async {
        let mut response = client
            .post(format!("{base}/chatkit"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        let mut turn = Turn {
            status,
            events: Vec::new(),
            cut: false,
            answer: String::new(),
        };
        if status != 200 {
            return turn;
        }
        let mut decoder = SseDecoder::new();
        // A connection cut by the server ends the body with an error: the events so far stand.
        while let Ok(Some(chunk)) = response.chunk().await {
            for message in decoder.push(&chunk) {
                let event: Value = serde_json::from_str(&message.data).expect("a JSON frame");
                recorder.remember("event", event.clone());
                if event["update"]["type"] == "assistant_message.content_part.text_delta" {
                    turn.answer
                        .push_str(event["update"]["delta"].as_str().unwrap_or_default());
                }
                turn.events.push(event);
            }
            if hang_up(&turn.answer) {
                turn.cut = true;
                // Dropping the response closes the connection mid-answer.
                return turn;
            }
        }
        turn
    };
    tokio::time::timeout(HANG_GUARD, read)
        .await
        .expect("the stream ended (hang guard)")
}

/// A client that opens a new connection for every request, so that the proxy deals each
/// request to the next instance.
pub(crate) fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

pub(crate) fn last_kind(turn: &Turn) -> String {
    kinds(&turn.events).last().cloned().unwrap_or_default()
}

/// A deterministic coin (xorshift), so that a failure replays the same disconnects.
struct Coin(u64);

impl Coin {
    fn flip(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.is_multiple_of(2)
    }
}

/// Every stored item of a thread, oldest first, read from the store.
async fn stored(app: &TestApp, thread_id: &str, user: &str) -> Vec<ThreadItem> {
    let page = app
        .engine
        .store()
        .load_thread_items(
            thread_id,
            None,
            10_000,
            Order::Asc,
            &StoreContext::new(user),
        )
        .await
        .expect("loads the items");
    assert!(!page.has_more);
    page.data
}

/// `(type, text)` of every stored item of a thread, oldest first.
async fn stored_items(app: &TestApp, thread_id: &str, user: &str) -> Vec<(String, String)> {
    texts(&serde_json::to_value(stored(app, thread_id, user).await).expect("serializes"))
}

/// A model whose answers echo their question (`You said: ...`), so that they identify it, word by
/// word with `latency` before each, so that a client can leave half-way.
async fn slow_echo_model(latency: Duration) -> FakeOpenAi {
    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
        fallback: Fallback::Echo,
        ..FakeOpenAiOptions::default()
    })
    .await
    .expect("fake model starts");
    model.set_echo_chunk_latency(latency);
    model
}

/// Words after the marker, so that an answer streams in many chunks.
const FILLER: &str = "alpha bravo charlie delta echo foxtrot golf hotel";

fn message_text(marker: &str) -> String {
    format!("{marker} {FILLER}")
}

/// The marker a user message or an echoed answer (`You said: <message>`) starts with.
fn marker_of(text: &str) -> Option<&str> {
    text.strip_prefix("You said: ")
        .unwrap_or(text)
        .split(' ')
        .next()
        .filter(|word| word.starts_with('m'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_a_round_robin_proxy_keep_every_thread_in_order() {
    every_thread_in_order_behind_a_proxy(3).await;
}

/// The same on one instance: the cut answer's cleanup and the next question meet in one
/// process (its in-process queue, then the database lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_on_postgres_keeps_every_thread_in_order() {
    every_thread_in_order_behind_a_proxy(1).await;
}

/// `instances` instances behind the proxy; several users, each with two tabs writing into one
/// thread, leaving mid-answer about half of the time and sending the next message at once.
async fn every_thread_in_order_behind_a_proxy(instances: usize) {
    const USERS: usize = 4;
    const TABS: usize = 2;
    const MESSAGES: usize = 6;

    let model = slow_echo_model(Duration::from_millis(15)).await;
    let (s3_endpoint, _bucket) = start_s3_server().await;
    let schema = shared_schema().await;
    let configure = |settings: &mut chatkit_server::Settings| {
        settings.database.schema = Some(schema.clone());
        settings.model.base_url = Some(model.base_url());
        settings.agent.history_items = 200;
        settings.auth.shared_secret = Some(SECRET.to_owned());
        use_s3(settings, &s3_endpoint);
    };
    let mut apps = Vec::new();
    for _ in 0..instances {
        apps.push(spawn_app_with(Db::Postgres, configure).await);
    }
    let backends = apps
        .iter()
        .map(|app| {
            app.base
                .trim_start_matches("http://")
                .parse()
                .expect("socket address")
        })
        .collect();
    let proxy = TcpProxy::start(backends).await;
    let base = format!("http://{}", proxy.address);
    let recorder = &apps[0];

    // Each user's tabs share one thread, created through the proxy.
    let mut threads = Vec::new();
    for user in 0..USERS {
        let token = user_token(&format!("user-{user}"));
        let first = format!("m{user}-first");
        let created = stream_turn(
            recorder,
            &unpooled_client(),
            &base,
            &token,
            &create(&message_text(&first)),
            None,
        )
        .await;
        assert_eq!(created.status, 200);
        assert_eq!(last_kind(&created), "thread.item.done:assistant_message");
        let thread_id = created.events[0]["thread"]["id"]
            .as_str()
            .expect("thread id")
            .to_owned();
        threads.push((token, thread_id));
    }

    // Every tab sends its messages one after another; about half of them it leaves mid-answer
    // and sends the next one at once, while the other tab of the same thread does the same.
    let mut tabs = Vec::new();
    for (user, (token, thread_id)) in threads.iter().enumerate() {
        for tab in 0..TABS {
            let (token, thread_id, base) = (token.clone(), thread_id.clone(), base.clone());
            tabs.push(async move {
                let client = unpooled_client();
                let mut coin = Coin(0x9e37_79b9_7f4a_7c15 ^ ((user * TABS + tab) as u64 + 1));
                let mut outcomes = Vec::new();
                for message in 0..MESSAGES {
                    let marker = format!("m{user}-{tab}-{message}");
                    let cut = coin.flip();
                    let turn = stream_turn(
                        recorder,
                        &client,
                        &base,
                        &token,
                        &add_message(&thread_id, &message_text(&marker)),
                        cut.then_some(marker.as_str()),
                    )
                    .await;
                    assert_eq!(turn.status, 200, "{marker}: {:?}", turn.events);
                    if !turn.cut {
                        assert_eq!(
                            last_kind(&turn),
                            "thread.item.done:assistant_message",
                            "{marker}"
                        );
                    }
                    outcomes.push((marker, turn.cut, turn.answer));
                }
                outcomes
            });
        }
    }
    let outcomes: Vec<_> = futures::future::join_all(tabs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let cuts = outcomes.iter().filter(|(_, cut, _)| *cut).count();
    assert!(
        cuts > 0 && cuts < outcomes.len(),
        "some turns cut, some not: {cuts}"
    );

    // Each instance's cut streams finish their cleanup before the thread is read, since the
    // cleanup holds the thread's lock: a stream on every thread waits for it.
    for (user, (token, thread_id)) in threads.iter().enumerate() {
        let last = format!("m{user}-last");
        let turn = stream_turn(
            recorder,
            &unpooled_client(),
            &base,
            token,
            &add_message(thread_id, &message_text(&last)),
            None,
        )
        .await;
        assert_eq!(last_kind(&turn), "thread.item.done:assistant_message");
    }

    // Check every thread from the stored order of its items.
    let mut answer_after_next_question = 0;
    let mut cut_answers_stored = 0;
    let mut unanswered = 0;
    let mut answered_twice = 0;
    for (user, (_, thread_id)) in threads.iter().enumerate() {
        let items = stored_items(&apps[user % instances], thread_id, &format!("user-{user}")).await;
        let mut asked: Vec<&str> = Vec::new();
        // Per question: its answers, and whether one came after a later question.
        let mut answers: BTreeMap<&str, usize> = BTreeMap::new();
        for (kind, text) in &items {
            match kind.as_str() {
                "user_message" => {
                    let marker = marker_of(text).expect("a marked question");
                    assert_eq!(text, &message_text(marker), "the question is stored whole");
                    asked.push(marker);
                }
                "assistant_message" => {
                    // Every answer names its question (cut ones were cut after the marker
                    // streamed); one that names none answered something else.
                    let Some(marker) = marker_of(text) else {
                        answer_after_next_question += 1;
                        continue;
                    };
                    let whole = format!("You said: {}", message_text(marker));
                    assert!(
                        whole.starts_with(text.as_str()),
                        "{text:?} is part of {whole:?}"
                    );
                    if text != &whole {
                        cut_answers_stored += 1;
                    }
                    if asked.last() != Some(&marker) {
                        answer_after_next_question += 1;
                    }
                    *answers.entry(marker).or_default() += 1;
                }
                // The hidden "user cancelled" notes of cut answers.
                _ => {}
            }
        }
        let mut expected: Vec<String> = vec![format!("m{user}-first"), format!("m{user}-last")];
        for tab in 0..TABS {
            for message in 0..MESSAGES {
                expected.push(format!("m{user}-{tab}-{message}"));
            }
        }
        let mut stored: Vec<String> = asked.iter().map(|marker| (*marker).to_owned()).collect();
        expected.sort();
        stored.sort();
        assert_eq!(stored, expected, "every question stored once, none lost");
        unanswered += asked.iter().filter(|m| !answers.contains_key(*m)).count();
        answered_twice += answers.values().filter(|count| **count > 1).count();
        // Each tab's questions are stored in the order that tab sent them.
        for tab in 0..TABS {
            let prefix = format!("m{user}-{tab}-");
            let order: Vec<usize> = asked
                .iter()
                .filter_map(|m| m.strip_prefix(&prefix)?.parse().ok())
                .collect();
            assert_eq!(order, (0..MESSAGES).collect::<Vec<_>>());
        }
    }
    eprintln!(
        "{} turns, {cuts} cut by the client, {cut_answers_stored} stored cut, \
         answer stored after next question: {answer_after_next_question}, \
         questions without an answer: {unanswered}, answered twice: {answered_twice}, \
         connections per instance: {:?}",
        outcomes.len() + 2 * USERS,
        proxy.relayed()
    );
    assert_eq!(
        (answer_after_next_question, unanswered, answered_twice),
        (0, 0, 0),
        "every answer, whole or cut, lies between its own question and the next"
    );
    // Every answer the client saw whole is stored whole; every cut answer is stored as far as
    // the client saw it at least.
    for (marker, cut, seen) in &outcomes {
        let user: usize = marker[1..]
            .split('-')
            .next()
            .and_then(|u| u.parse().ok())
            .expect("user");
        let items = stored_items(&apps[0], &threads[user].1, &format!("user-{user}")).await;
        let stored = items
            .iter()
            .find(|(kind, text)| kind == "assistant_message" && marker_of(text) == Some(marker))
            .map(|(_, text)| text.clone())
            .expect("the answer is stored");
        if *cut {
            assert!(
                stored.starts_with(seen.as_str()),
                "{stored:?} keeps {seen:?}"
            );
        } else {
            assert_eq!(&stored, seen);
        }
    }
    assert!(
        proxy.relayed().iter().all(|count| *count > 0),
        "every instance served: {:?}",
        proxy.relayed()
    );

    // An attachment uploaded through one instance (straight to the bucket) downloads through
    // each instance, in turn behind the proxy.
    let token = &threads[0].0;
    let bytes = b"one upload, three instances".to_vec();
    let client = unpooled_client();
    let created = client
        .post(format!("{base}/chatkit"))
        .bearer_auth(token)
        .json(&json!({"type": "attachments.create", "params": {
            "name": "notes.txt", "size": bytes.len(), "mime_type": "text/plain"}}))
        .send()
        .await
        .expect("creates");
    assert_eq!(created.status().as_u16(), 200);
    let created: Value = created.json().await.expect("json");
    recorder.remember("attachment", created.clone());
    let id = created["id"].as_str().expect("id");
    let upload = created["upload_descriptor"]["url"].as_str().expect("url");
    let uploaded = client
        .put(upload)
        .header("Content-Type", "text/plain")
        .body(bytes.clone())
        .send()
        .await
        .expect("uploads");
    assert_eq!(uploaded.status().as_u16(), 200);
    let relayed_before = proxy.relayed();
    for _ in 0..instances {
        let fetched = client
            .get(format!("{base}/attachments/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("downloads (following the redirect to the bucket)");
        assert_eq!(fetched.status().as_u16(), 200);
        assert_eq!(fetched.bytes().await.expect("body").as_ref(), bytes);
    }
    let relayed_after = proxy.relayed();
    assert!(
        relayed_after
            .iter()
            .zip(&relayed_before)
            .all(|(after, before)| after > before),
        "each instance served one download: {relayed_before:?} -> {relayed_after:?}"
    );

    for app in &mut apps {
        app.stop().await;
    }
}

/// How a turn of the database test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The whole answer arrived.
    Answered,
    /// The stream ended with a ChatKit `error` event.
    ErrorEvent,
    /// Refused before any stream, with a JSON error (503 `unavailable`).
    Refused,
}

/// How `turn` ended; panics on a stream that just stopped.
fn ending(turn: &Turn) -> Ending {
    if turn.status != 200 {
        assert_eq!(turn.status, 503, "{turn:?}");
        return Ending::Refused;
    }
    match last_kind(turn).as_str() {
        "thread.item.done:assistant_message" => Ending::Answered,
        "error" => Ending::ErrorEvent,
        other => panic!("a stream ended on {other}, neither an answer nor an error event"),
    }
}

/// The ids of the items the client was told are saved (`thread.item.done`).
fn reported_saved(turn: &Turn) -> Vec<String> {
    turn.events
        .iter()
        .filter(|event| event["type"] == "thread.item.done")
        .filter_map(|event| event["item"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// The database goes wrong under load, without touching the PostgreSQL other tests share: the
/// instance reaches it through a TCP proxy of this test. First every connection of this
/// instance is killed with `pg_terminate_backend` (what a PostgreSQL restart does to clients)
/// while several users stream; then the proxy refuses connections altogether (a database that
/// is gone) while an answer streams, and comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_drops_its_connections_or_goes_away_ends_turns_cleanly() {
    use sea_orm::ConnectionTrait;
    const USERS: usize = 3;
    const TURNS: usize = 4;

    let model = slow_echo_model(Duration::from_millis(20)).await;
    let schema = shared_schema().await;
    let mut url = reqwest::Url::parse(&postgres_url()).expect("database URL");
    let database = tokio::net::lookup_host((
        url.host_str().expect("host").to_owned(),
        url.port().unwrap_or(5432),
    ))
    .await
    .expect("resolves")
    .next()
    .expect("an address");
    let proxy = TcpProxy::start(vec![database]).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.address.port())).expect("port");
    let mut app = spawn_app_with(Db::Postgres, |settings| {
        settings.database.url = url.to_string();
        settings.database.schema = Some(schema.clone());
        settings.model.base_url = Some(model.base_url());
        settings.auth.shared_secret = Some(SECRET.to_owned());
    })
    .await;
    let client = unpooled_client();
    let mut saved = Vec::new();
    let mut threads = Vec::new();
    for user in 0..USERS {
        let token = user_token(&format!("user-{user}"));
        let created = stream_turn(
            &app,
            &client,
            &app.base,
            &token,
            &create(&message_text(&format!("m{user}-first"))),
            None,
        )
        .await;
        assert_eq!(ending(&created), Ending::Answered);
        saved.extend(reported_saved(&created));
        let thread_id = created.events[0]["thread"]["id"]
            .as_str()
            .expect("thread id")
            .to_owned();
        threads.push((token, thread_id));
    }

    // 1. Every connection of this instance is terminated while the users stream.
    let answered = tokio::sync::watch::Sender::new(0_usize);
    let users = threads
        .iter()
        .enumerate()
        .map(|(user, (token, thread_id))| {
            let (app, client, answered) = (&app, &client, &answered);
            async move {
                let mut turns = Vec::new();
                for turn in 0..TURNS {
                    let body = add_message(thread_id, &message_text(&format!("m{user}-{turn}")));
                    let turn = stream_turn(app, client, &app.base, token, &body, None).await;
                    answered.send_modify(|count| *count += 1);
                    turns.push(turn);
                }
                turns
            }
        });
    let terminate = async {
        // Once a few turns are through, so that the others are mid-stream.
        let _ = answered.subscribe().wait_for(|count| *count >= USERS).await;
        let ports: Vec<i32> = proxy.upstream_ports().into_iter().map(i32::from).collect();
        let direct = sea_orm::Database::connect(postgres_url())
            .await
            .expect("connects directly");
        let terminated = direct
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND client_port = ANY($1)",
                [ports.into()],
            ))
            .await
            .expect("terminates")
            .expect("a row")
            .try_get::<i64>("", "n")
            .expect("a count");
        assert!(terminated > 0, "the instance had connections to terminate");
        terminated
    };
    let (turns, terminated) = tokio::join!(futures::future::join_all(users), terminate);
    let mut endings = BTreeMap::<&str, usize>::new();
    for turn in turns.iter().flatten() {
        let name = match ending(turn) {
            Ending::Answered => "answered",
            Ending::ErrorEvent => "error event",
            Ending::Refused => "refused",
        };
        *endings.entry(name).or_default() += 1;
        saved.extend(reported_saved(turn));
    }
    eprintln!("terminated {terminated} connections mid-run; turns: {endings:?}");

    // The pools reconnect: every user's next turn is answered.
    for (user, (token, thread_id)) in threads.iter().enumerate() {
        let body = add_message(thread_id, &message_text(&format!("m{user}-after")));
        let turn = stream_turn(&app, &client, &app.base, token, &body, None).await;
        assert_eq!(ending(&turn), Ending::Answered, "{turn:?}");
        saved.extend(reported_saved(&turn));
    }
    let (status, ready) = app.get("/readyz").await;
    assert_eq!((status, &ready["checks"]["database"]), (200, &json!("ok")));

    // 2. The database goes away while an answer streams: the answer cannot be saved, and the
    // stream ends with an error event instead of hanging.
    let (token, thread_id) = &threads[0];
    let body = add_message(thread_id, &message_text("m0-gone"));
    let proxy_ref = &proxy;
    let turn = stream_turn_watching(&app, &client, &app.base, token, &body, |answer| {
        if answer.contains("m0-gone") {
            proxy_ref.set_open(false);
        }
        false
    })
    .await;
    assert_eq!(ending(&turn), Ending::ErrorEvent, "{turn:?}");
    saved.extend(reported_saved(&turn));
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(
        (status, &ready["status"], &ready["checks"]["database"]),
        (503, &json!("unavailable"), &json!("unavailable"))
    );
    let send = async |marker: &str| {
        let body = add_message(thread_id, &message_text(marker));
        stream_turn(&app, &client, &app.base, token, &body, None).await
    };
    // While it is gone, a new turn is refused before any stream starts.
    assert_eq!(ending(&send("m0-refused").await), Ending::Refused);

    // 3. It comes back: ready again, and the thread goes on.
    proxy.set_open(true);
    let (status, ready) = app.get("/readyz").await;
    assert_eq!((status, &ready["checks"]["database"]), (200, &json!("ok")));
    let back = send("m0-back").await;
    assert_eq!(ending(&back), Ending::Answered, "{back:?}");
    saved.extend(reported_saved(&back));

    // Nothing the clients were told is saved was lost.
    let mut stored_ids = Vec::new();
    for (user, (_, thread_id)) in threads.iter().enumerate() {
        let items = stored(&app, thread_id, &format!("user-{user}")).await;
        stored_ids.extend(items.iter().map(|item| item.id().to_owned()));
    }
    let lost: Vec<_> = saved.iter().filter(|id| !stored_ids.contains(id)).collect();
    assert!(lost.is_empty(), "reported saved, then lost: {lost:?}");
    app.stop().await;
}
