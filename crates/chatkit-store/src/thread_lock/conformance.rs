//! The conformance suite of the [`ThreadLock`] contract.
//!
//! Every case takes two lock objects that must exclude each other: for a lock shared between
//! instances, two objects with separate connections to the same backend (two "instances"); for
//! an in-process lock, two clones of one table. Cases use fresh random owners and threads, so
//! they can run against a backend in use.
//!
//! ```
//! # async fn example() {
//! use std::sync::Arc;
//! use chatkit_store::thread_lock::{InProcessThreadLock, ThreadLock, conformance};
//!
//! let lock = InProcessThreadLock::new();
//! let report = conformance::run_all(Arc::new(lock.clone()), Arc::new(lock)).await;
//! report.assert_passed();
//! # }
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(example());
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::ThreadLock;
use crate::conformance::Report;
use crate::{ItemIdKind, StoreContext, StoreError, generate_id};

/// Long enough that a case never fails on a slow machine, short enough to end a broken run.
const PATIENCE: Duration = Duration::from_secs(30);

type Locks = (Arc<dyn ThreadLock>, Arc<dyn ThreadLock>);

/// How a case is run: with the two lock objects that must exclude each other.
pub type CaseFn = fn(Arc<dyn ThreadLock>, Arc<dyn ThreadLock>) -> BoxFuture<'static, ()>;

/// One case of the suite.
pub struct Case {
    /// The contract point it checks, as a function name.
    pub name: &'static str,
    /// Runs the case; panics (with an explanation) when the contract is broken.
    pub run: CaseFn,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case of the suite, in a stable order.
        pub fn cases() -> Vec<Case> {
            vec![$(Case {
                name: stringify!($name),
                run: |first, second| Box::pin($name((first, second))),
            }),*]
        }
    };
}

cases!(
    a_held_thread_is_busy_for_the_other_instance,
    a_waiter_gets_the_thread_after_release,
    a_waiter_gets_the_thread_when_the_guard_is_dropped,
    waiting_past_the_timeout_gives_busy,
    different_threads_do_not_wait_for_each_other,
    a_released_thread_can_be_taken_again_by_its_holder,
    an_abandoned_wait_never_takes_the_thread,
);

/// Runs every case in a task of its own, so that a panicking case is reported by name and the
/// others still run.
pub async fn run_all(first: Arc<dyn ThreadLock>, second: Arc<dyn ThreadLock>) -> Report {
    let mut report = Report::default();
    for case in cases() {
        let outcome = tokio::spawn((case.run)(first.clone(), second.clone())).await;
        match outcome {
            Ok(()) => report.passed.push(case.name),
            Err(error) => {
                let message = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(error) => error.to_string(),
                };
                report.failed.push((case.name, message));
            }
        }
    }
    report
}

fn fresh() -> (String, StoreContext) {
    (
        generate_id(ItemIdKind::Thread),
        StoreContext::new(format!("owner_{}", generate_id(ItemIdKind::Message))),
    )
}

fn assert_busy(outcome: Result<super::ThreadLockGuard, StoreError>, why: &str) {
    match outcome {
        Err(StoreError::Busy { .. }) => {}
        Err(other) => panic!("{why}: expected Busy, got error {other}"),
        Ok(_) => panic!("{why}: expected Busy, but the lock was granted"),
    }
}

async fn a_held_thread_is_busy_for_the_other_instance((first, second): Locks) {
    let (thread, ctx) = fresh();
    let guard = first
        .acquire(&thread, &ctx, Duration::ZERO)
        .await
        .expect("a free thread is granted at once");
    assert_eq!(guard.thread_id(), thread);
    assert_busy(
        second.acquire(&thread, &ctx, Duration::ZERO).await,
        "the other instance tried a held thread",
    );
    assert_busy(
        first.acquire(&thread, &ctx, Duration::ZERO).await,
        "the holder's own instance tried it again (the lock is not re-entrant)",
    );
    guard.release().await;
}

async fn a_waiter_gets_the_thread_after_release((first, second): Locks) {
    let (thread, ctx) = fresh();
    let guard = first.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    let waiter = {
        let (thread, ctx) = (thread.clone(), ctx.clone());
        tokio::spawn(async move { second.acquire(&thread, &ctx, PATIENCE).await })
    };
    // While the holder holds, the waiter cannot have finished: an immediate try still fails.
    assert_busy(
        first.acquire(&thread, &ctx, Duration::ZERO).await,
        "probe while held",
    );
    assert!(!waiter.is_finished(), "the waiter got a held thread");
    guard.release().await;
    let handed_over = waiter
        .await
        .expect("waiter task")
        .expect("the waiter gets the thread once it is released");
    assert_busy(
        first.acquire(&thread, &ctx, Duration::ZERO).await,
        "the thread now belongs to the waiter",
    );
    handed_over.release().await;
}

async fn a_waiter_gets_the_thread_when_the_guard_is_dropped((first, second): Locks) {
    let (thread, ctx) = fresh();
    let guard = first.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    drop(guard);
    let taken = second
        .acquire(&thread, &ctx, PATIENCE)
        .await
        .expect("a dropped guard releases the thread");
    taken.release().await;
}

async fn waiting_past_the_timeout_gives_busy((first, second): Locks) {
    let (thread, ctx) = fresh();
    let guard = first.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    let wait = Duration::from_millis(200);
    let started = Instant::now();
    assert_busy(
        second.acquire(&thread, &ctx, wait).await,
        "waiting for a thread that stays held",
    );
    assert!(
        started.elapsed() >= wait,
        "Busy came after {:?}, before the {wait:?} wait was over",
        started.elapsed()
    );
    // The failed waiter left nothing behind: after release the thread is free at once.
    guard.release().await;
    let again = second
        .acquire(&thread, &ctx, Duration::ZERO)
        .await
        .expect("a timed-out waiter leaves the thread free");
    again.release().await;
}

async fn different_threads_do_not_wait_for_each_other((first, second): Locks) {
    let (thread, ctx) = fresh();
    let (other_thread, _) = fresh();
    let guard = first.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    let other = second
        .acquire(&other_thread, &ctx, Duration::ZERO)
        .await
        .expect("another thread of the same owner is independent");
    let stranger = StoreContext::new(format!("owner_{}", generate_id(ItemIdKind::Message)));
    let strangers = second
        .acquire(&other_thread, &stranger, Duration::ZERO)
        .await
        .expect("another owner's thread is independent");
    other.release().await;
    strangers.release().await;
    guard.release().await;
}

async fn a_released_thread_can_be_taken_again_by_its_holder((first, _second): Locks) {
    let (thread, ctx) = fresh();
    for round in 0..3 {
        let guard = first
            .acquire(&thread, &ctx, Duration::ZERO)
            .await
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
        guard.release().await;
    }
}

async fn an_abandoned_wait_never_takes_the_thread((first, second): Locks) {
    let (thread, ctx) = fresh();
    let guard = first.acquire(&thread, &ctx, PATIENCE).await.expect("free");
    let waiter = {
        let (thread, ctx) = (thread.clone(), ctx.clone());
        tokio::spawn(async move { second.acquire(&thread, &ctx, PATIENCE).await })
    };
    // Let the waiter reach its wait, then abandon it (a client that went away while queued).
    tokio::task::yield_now().await;
    waiter.abort();
    let _ = waiter.await;
    guard.release().await;
    let again = first
        .acquire(&thread, &ctx, PATIENCE)
        .await
        .expect("an abandoned waiter must not keep the thread");
    again.release().await;
}
