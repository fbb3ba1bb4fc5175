//! The thread lock: the conformance suite against the in-process lock and against PostgreSQL
//! with two separate pools standing for two instances, plus what only PostgreSQL can show (a
//! holder whose connection dies lets go).

use std::sync::Arc;
use std::time::Duration;

use chatkit_store::thread_lock::conformance;
use chatkit_store::{
    InProcessThreadLock, ItemIdKind, PgThreadLock, PgThreadLockConfig, StoreContext, StoreError,
    ThreadLock, generate_id,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::postgres::PostgresSchemas;

const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until a session of `application_name` is queued in PostgreSQL's lock manager for an
/// advisory lock, by asking PostgreSQL (no sleeping): proof that a waiter really waits in the
/// database rather than arriving after the release.
async fn wait_until_queued(admin: &sea_orm::DatabaseConnection, application_name: &str) {
    let started = std::time::Instant::now();
    loop {
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
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
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no session of {application_name} ever queued for the lock"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_lock_passes_the_conformance_suite() {
    let lock = InProcessThreadLock::new();
    let report = conformance::run_all(Arc::new(lock.clone()), Arc::new(lock)).await;
    report.assert_passed();
    assert_eq!(report.passed.len(), conformance::cases().len());
}

/// A lock "instance": a pool of its own, named so that its sessions can be found.
async fn instance(url: &str, namespace: &str, application_name: &str) -> PgThreadLock {
    PgThreadLock::connect(PgThreadLockConfig {
        url: url.to_owned(),
        namespace: namespace.to_owned(),
        max_connections: 8,
        application_name: application_name.to_owned(),
        ..PgThreadLockConfig::default()
    })
    .await
    .expect("thread lock pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_passes_the_conformance_suite_across_two_instances() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let namespace = generate_id(ItemIdKind::Thread);
    let first = instance(&schemas.url, &namespace, "chatkit-lock-first").await;
    let second = instance(&schemas.url, &namespace, "chatkit-lock-second").await;
    let report = conformance::run_all(Arc::new(first), Arc::new(second)).await;
    report.assert_passed();
    assert_eq!(report.passed.len(), conformance::cases().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_waiter_queues_in_the_database_and_takes_over_at_release() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let namespace = generate_id(ItemIdKind::Thread);
    let waiter_name = format!("chatkit-lock-waiter-{}", generate_id(ItemIdKind::Message));
    let holder = instance(&schemas.url, &namespace, "chatkit-lock-holder").await;
    let other = Arc::new(instance(&schemas.url, &namespace, &waiter_name).await);
    let thread = generate_id(ItemIdKind::Thread);
    let ctx = StoreContext::new("alice");
    let held = holder.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    let waiter = {
        let (other, thread, ctx) = (other.clone(), thread.clone(), ctx.clone());
        tokio::spawn(async move { other.acquire(&thread, &ctx, PATIENCE).await })
    };
    wait_until_queued(&schemas.admin, &waiter_name).await;
    assert!(!waiter.is_finished(), "the waiter got a held thread");
    held.release().await;
    let taken = waiter
        .await
        .expect("waiter task")
        .expect("the queued waiter takes the thread at release");
    match holder.acquire(&thread, &ctx, Duration::ZERO).await {
        Err(StoreError::Busy { .. }) => {}
        other => panic!("the waiter holds the thread now: {other:?}"),
    }
    taken.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_namespaces_keep_deployments_apart() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let one = instance(&schemas.url, "deployment_one", "chatkit-lock-ns").await;
    let two = instance(&schemas.url, "deployment_two", "chatkit-lock-ns").await;
    let thread = generate_id(ItemIdKind::Thread);
    let ctx = StoreContext::new("alice");
    let held = one
        .acquire(&thread, &ctx, Duration::ZERO)
        .await
        .expect("free");
    let other = two
        .acquire(&thread, &ctx, Duration::ZERO)
        .await
        .expect("the same thread id in another namespace is another lock");
    held.release().await;
    other.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_is_released_when_the_holders_connection_dies() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let namespace = generate_id(ItemIdKind::Thread);
    let holder_name = format!("chatkit-lock-doomed-{}", generate_id(ItemIdKind::Message));
    let holder = instance(&schemas.url, &namespace, &holder_name).await;
    let survivor_name = format!("chatkit-lock-survivor-{}", generate_id(ItemIdKind::Message));
    let survivor = Arc::new(instance(&schemas.url, &namespace, &survivor_name).await);
    let thread = generate_id(ItemIdKind::Thread);
    let ctx = StoreContext::new("alice");

    let doomed_guard = holder
        .acquire(&thread, &ctx, Duration::ZERO)
        .await
        .expect("free");
    let waiter = {
        let (survivor, thread, ctx) = (survivor.clone(), thread.clone(), ctx.clone());
        tokio::spawn(async move { survivor.acquire(&thread, &ctx, PATIENCE).await })
    };
    match survivor.acquire(&thread, &ctx, Duration::ZERO).await {
        Err(StoreError::Busy { .. }) => {}
        other => panic!("the thread is held: {other:?}"),
    }
    wait_until_queued(&schemas.admin, &survivor_name).await;
    assert!(!waiter.is_finished(), "the waiter got a held thread");

    // The holder's instance "dies": PostgreSQL ends its sessions, as when the process is
    // killed or the network drops it.
    let terminated = schemas
        .admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity \
             WHERE application_name = $1",
            [holder_name.clone().into()],
        ))
        .await
        .expect("terminate the holder's sessions")
        .expect("one row");
    let terminated: i64 = terminated.try_get("", "terminated").expect("count");
    assert!(terminated >= 1, "the holder had a session to terminate");

    let taken_over = waiter
        .await
        .expect("waiter task")
        .expect("the waiter gets the thread once the holder's session is gone");
    // The dead holder's guard lets go without a panic and without touching the new holder.
    doomed_guard.release().await;
    match holder.acquire(&thread, &ctx, Duration::ZERO).await {
        Err(StoreError::Busy { .. }) => {}
        other => panic!("the survivor holds the thread now: {other:?}"),
    }
    taken_over.release().await;
    // The holder's pool recovers with a fresh connection.
    let back = holder
        .acquire(&thread, &ctx, PATIENCE)
        .await
        .expect("the recovered instance can take the thread again");
    back.release().await;
}

#[tokio::test]
async fn postgres_lock_unreachable_is_unavailable() {
    let error = PgThreadLock::connect(PgThreadLockConfig {
        url: "postgres://postgres@127.0.0.1:1/none".to_owned(),
        connect_timeout: Duration::from_secs(2),
        ..PgThreadLockConfig::default()
    })
    .await
    .expect_err("nothing listens on port 1");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_pool_exhaustion_is_unavailable_not_busy() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let lock = PgThreadLock::connect(PgThreadLockConfig {
        url: schemas.url.clone(),
        namespace: generate_id(ItemIdKind::Thread),
        max_connections: 1,
        connect_timeout: Duration::from_millis(300),
        ..PgThreadLockConfig::default()
    })
    .await
    .expect("pool");
    let ctx = StoreContext::new("alice");
    let (first, second) = (
        generate_id(ItemIdKind::Thread),
        generate_id(ItemIdKind::Thread),
    );
    let held = lock
        .acquire(&first, &ctx, Duration::ZERO)
        .await
        .expect("free");
    // The only connection holds `first`: `second` is free, but there is no connection to lock
    // it with. That is the instance's capacity, not a busy thread.
    match lock
        .acquire(&second, &ctx, Duration::from_millis(100))
        .await
    {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    held.release().await;
    let taken = lock
        .acquire(&second, &ctx, PATIENCE)
        .await
        .expect("the released connection serves the next thread");
    taken.release().await;
}
