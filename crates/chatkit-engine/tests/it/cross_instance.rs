//! One stream per thread across instances: two engines ("instances") on one PostgreSQL schema,
//! each with its own store pool and its own `PgThreadLock` pool, contend for one thread.
//!
//! PostgreSQL is `CHATKIT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! an unreachable server fails these tests.

use std::sync::Arc;
use std::time::Duration;

use chatkit_engine::{Engine, EngineConfig, Response};
use chatkit_store::{
    ItemIdKind, PgThreadLock, PgThreadLockConfig, SeaOrmStore, Store, StoreConfig, generate_id,
};
use sea_orm::{ConnectionTrait, Database};

use crate::support::{Harness, Script, ScriptedServer, add_message, create, user};

struct Schema {
    url: String,
    name: String,
}

/// Waits until a lock session of `application_name` is queued in PostgreSQL's lock manager, by
/// asking PostgreSQL (no sleeping): proof that the other instance's request really waits.
async fn wait_until_queued(url: &str, application_name: &str) {
    let admin = Database::connect(url).await.expect("admin");
    let started = std::time::Instant::now();
    loop {
        let row = admin
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS waiting FROM pg_locks l \
                 JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = $1",
                [application_name.into()],
            ))
            .await
            .expect("pg_locks")
            .expect("one row");
        let waiting: i64 = row.try_get("", "waiting").expect("count");
        if waiting > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{application_name} never queued for the thread"
        );
        tokio::task::yield_now().await;
    }
    admin.close().await.expect("close");
}

impl Schema {
    async fn fresh() -> Self {
        let url = std::env::var("CHATKIT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("chatkit_engine_{}", generate_id(ItemIdKind::Thread));
        let admin = Database::connect(url.as_str())
            .await
            .expect("PostgreSQL must run for the cross-instance tests");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        admin.close().await.expect("close");
        Self { url, name }
    }

    /// An instance: its own store pool, lock pool and responder, on the shared schema.
    async fn instance(&self, config: EngineConfig, application_name: &str) -> Harness {
        let store: Arc<dyn Store> = Arc::new(
            SeaOrmStore::connect(StoreConfig {
                max_connections: 4,
                min_connections: 0,
                postgres_schema: Some(self.name.clone()),
                ..StoreConfig::with_url(self.url.clone())
            })
            .await
            .expect("store"),
        );
        let lock = PgThreadLock::connect(PgThreadLockConfig {
            url: self.url.clone(),
            namespace: self.name.clone(),
            max_connections: 4,
            application_name: application_name.to_owned(),
            ..PgThreadLockConfig::default()
        })
        .await
        .expect("lock pool");
        let server = Arc::new(ScriptedServer::default());
        let engine = Engine::new(Arc::clone(&store), server.clone(), config)
            .with_thread_lock(Arc::new(lock));
        Harness {
            engine,
            server,
            store,
        }
    }

    async fn drop_schema(self) {
        let admin = Database::connect(self.url.as_str()).await.expect("admin");
        admin
            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await
            .expect("drop schema");
        admin.close().await.expect("close");
    }
}

fn texts(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_another_instance_waits_its_turn_then_runs_or_gets_409() {
    let schema = Schema::fresh().await;
    let patient_name = format!(
        "chatkit-engine-patient-{}",
        generate_id(ItemIdKind::Message)
    );
    let a = schema
        .instance(EngineConfig::default(), "chatkit-engine-a")
        .await;
    let b = schema
        .instance(
            EngineConfig {
                thread_busy_timeout: Duration::from_millis(300),
                ..EngineConfig::default()
            },
            "chatkit-engine-b",
        )
        .await;
    let patient_b = schema
        .instance(EngineConfig::default(), &patient_name)
        .await;
    a.server.push(Script::answer(&["Hello world"]));
    let thread_id = a.create_thread("alice", "one").await;

    let (script, gate, reached) = Script::paused(&["first", " answer"], 1);
    a.server.push(script);
    let first = a
        .stream("alice", add_message(&thread_id, "two"))
        .await
        .expect("starts on A");
    reached.notified().await;

    // B's wait is shorter than A's stream: 409 before any stream starts, nothing stored.
    let err = b
        .stream("alice", add_message(&thread_id, "refused"))
        .await
        .expect_err("busy across instances");
    assert_eq!(err.status(), 409);

    // Another instance with the default wait queues behind A and runs once A is done.
    patient_b.server.push(Script::answer(&["second answer"]));
    let second = {
        let engine = patient_b.engine.clone();
        let body = add_message(&thread_id, "three").to_string();
        tokio::spawn(async move { engine.process(body.as_bytes(), user("alice")).await })
    };
    wait_until_queued(&schema.url, &patient_name).await;
    assert!(!second.is_finished());
    gate.notify_one();
    first.collect_all().await;
    match second.await.expect("joins").expect("runs after A") {
        Response::Stream(events) => {
            events.collect_all().await;
        }
        Response::Json(_) => panic!("streams"),
    }
    assert_eq!(
        texts(&a.items("alice", &thread_id).await),
        [
            "one",
            "Hello world",
            "two",
            "first answer",
            "three",
            "second answer"
        ],
        "the streams of two instances never interleave"
    );
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_created_on_one_instance_is_locked_for_the_others_before_thread_created() {
    let schema = Schema::fresh().await;
    let b_name = format!("chatkit-engine-b-{}", generate_id(ItemIdKind::Message));
    let a = schema
        .instance(EngineConfig::default(), "chatkit-engine-a")
        .await;
    let b = schema.instance(EngineConfig::default(), &b_name).await;
    let (script, gate, reached) = Script::paused(&["first", " answer"], 1);
    a.server.push(script);
    b.server.push(Script::answer(&["second answer"]));
    let mut first = a.stream("alice", create("one")).await.expect("starts");
    let Some(chatkit_protocol::ThreadStreamEvent::ThreadCreated { thread }) = first.recv().await
    else {
        panic!("thread.created comes first");
    };
    reached.notified().await;
    let second = {
        let engine = b.engine.clone();
        let body = add_message(&thread.id, "two").to_string();
        tokio::spawn(async move { engine.process(body.as_bytes(), user("alice")).await })
    };
    wait_until_queued(&schema.url, &b_name).await;
    assert!(!second.is_finished());
    gate.notify_one();
    first.collect_all().await;
    match second.await.expect("joins").expect("runs after A") {
        Response::Stream(events) => {
            events.collect_all().await;
        }
        Response::Json(_) => panic!("streams"),
    }
    assert_eq!(
        texts(&b.items("alice", &thread.id).await),
        ["one", "first answer", "two", "second answer"]
    );
    schema.drop_schema().await;
}
