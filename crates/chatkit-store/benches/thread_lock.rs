#![allow(missing_docs)]
//! What the per-thread lock costs a stream: one uncontended acquire plus release, and the
//! hand-over from a holder to a waiter, for the in-process lock and the PostgreSQL lock.
//!
//! ```text
//! cargo bench -p chatkit-store --bench thread_lock -- [--rounds N]
//! ```
//!
//! PostgreSQL is the server at `CHATKIT_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the locks live in a random namespace, so nothing
//! needs cleaning up. Plain `std::time` measurement: a warm-up, then the median and 95th
//! percentile of `--rounds` rounds (default 500).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatkit_store::{
    InProcessThreadLock, ItemIdKind, PgThreadLock, PgThreadLockConfig, StoreContext, ThreadLock,
    generate_id,
};

const WARM_UP: usize = 30;

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples[index]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    let median = percentile(&mut samples, 0.5);
    let p95 = percentile(&mut samples, 0.95);
    println!(
        "{label:<58} median {:>9.1} us   p95 {:>9.1} us",
        median.as_secs_f64() * 1e6,
        p95.as_secs_f64() * 1e6
    );
}

/// Acquire then release a free thread (a fresh thread each round, as each stream's thread is).
async fn uncontended(lock: &dyn ThreadLock, rounds: usize) -> Vec<Duration> {
    let ctx = StoreContext::new("bench");
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..WARM_UP + rounds {
        let thread = generate_id(ItemIdKind::Thread);
        let started = Instant::now();
        let guard = lock
            .acquire(&thread, &ctx, Duration::from_secs(5))
            .await
            .expect("free thread");
        guard.release().await;
        if round >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    samples
}

/// A waiter on instance B queued behind a holder on instance A: the time from A's release
/// returning to B holding the thread.
async fn hand_over(
    first: Arc<dyn ThreadLock>,
    second: Arc<dyn ThreadLock>,
    rounds: usize,
) -> Vec<Duration> {
    let ctx = StoreContext::new("bench");
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..WARM_UP + rounds {
        let thread = generate_id(ItemIdKind::Thread);
        let guard = first
            .acquire(&thread, &ctx, Duration::from_secs(5))
            .await
            .expect("free thread");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter = {
            let (second, thread, ctx) = (second.clone(), thread.clone(), ctx.clone());
            tokio::spawn(async move {
                let guard = second
                    .acquire(&thread, &ctx, Duration::from_secs(30))
                    .await
                    .expect("handed over");
                let _ = tx.send(Instant::now());
                guard.release().await;
            })
        };
        // Let the waiter reach PostgreSQL's queue (or the mutex's) before the release: a
        // waiter that arrives after the release measures an uncontended acquire instead.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let released = Instant::now();
        guard.release().await;
        let acquired = rx.await.expect("waiter reports");
        waiter.await.expect("waiter task");
        if round >= WARM_UP {
            samples.push(acquired.saturating_duration_since(released));
        }
    }
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rounds = 500;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        if argument == "--rounds" {
            rounds = arguments
                .next()
                .and_then(|value| value.parse().ok())
                .expect("--rounds N");
        }
    }
    let url = std::env::var("CHATKIT_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());

    let in_process = InProcessThreadLock::new();
    report(
        "in-process: acquire + release, free thread",
        uncontended(&in_process, rounds).await,
    );
    report(
        "in-process: hand-over to a queued waiter",
        hand_over(Arc::new(in_process.clone()), Arc::new(in_process), rounds).await,
    );

    let namespace = generate_id(ItemIdKind::Thread);
    let instance = |name: &str| {
        PgThreadLock::connect(PgThreadLockConfig {
            url: url.clone(),
            namespace: namespace.clone(),
            max_connections: 8,
            application_name: name.to_owned(),
            ..PgThreadLockConfig::default()
        })
    };
    let first = instance("chatkit-bench-lock-a").await.expect("PostgreSQL");
    let second = instance("chatkit-bench-lock-b").await.expect("PostgreSQL");
    report(
        "PostgreSQL: acquire + release, free thread",
        uncontended(&first, rounds).await,
    );
    report(
        "PostgreSQL: hand-over to a waiter on another instance",
        hand_over(Arc::new(first), Arc::new(second), rounds).await,
    );
}
