#![allow(missing_docs)]
//! Turns per second with one and with three instances on one PostgreSQL schema, and what the
//! cross-instance thread lock (ADR 0007) costs a turn.
//!
//! ```text
//! cargo bench -p chatkit-server --bench scale_out -- [--clients N] [--seconds S]
//! ```
//!
//! Each instance is the real `Application` (its own HTTP server, database pool and thread-lock
//! pool, one actix worker) in this process, on a fresh schema of the PostgreSQL at
//! `CHATKIT_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`), answering
//! with the agent runtime against `test-support`'s fake OpenAI server (echo, no latency). Each
//! client owns a thread and sends turns back to back; request `n` of the whole run goes to
//! instance `n % instances`, as behind a round-robin balancer with no affinity, so with three
//! instances every turn of a thread lands on another instance than the one before. Then the
//! lock alone: acquire + release of a free thread on the same database, timed like a turn's.
//!
//! All in one run, so the ratios are comparable even on a noisy host; the absolute numbers are
//! the host's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chatkit_protocol::sse::SseDecoder;
use chatkit_server::{Application, Settings};
use chatkit_store::{ItemIdKind, PgThreadLock, PgThreadLockConfig, StoreContext, ThreadLock};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, FakeOpenAiOptions, Fallback};
use tokio::sync::oneshot;

#[path = "common/postgres.rs"]
mod postgres;

use postgres::{database_url, drop_schema, fresh_schema};

fn argument(name: &str, default: u64) -> u64 {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Instance {
    base: String,
    stop: oneshot::Sender<()>,
    finished: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_instance(schema: &str, model: &FakeOpenAi) -> anyhow::Result<Instance> {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.server.workers = 1;
    settings.server.shutdown_grace_secs = 1;
    settings.database.url = database_url();
    settings.database.schema = Some(schema.to_owned());
    settings.model.base_url = Some(model.base_url());
    settings.model.model = "fake-model".to_owned();
    settings.agent.generate_titles = Some(false);
    // One user sends thousands of turns: no per-user limit.
    settings.rate_limit.requests_per_minute = 0;
    settings.validate()?;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel();
    let finished = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Ok(Instance {
        base,
        stop,
        finished,
    })
}

/// One turn; returns the thread id it ran in. Fails unless the answer arrived whole.
async fn turn(client: &reqwest::Client, base: &str, body: Value) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/chatkit"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    if response.status() != 200 {
        bail!("status {}", response.status());
    }
    let raw = response.bytes().await?;
    let events: Vec<Value> = SseDecoder::new()
        .push(&raw)
        .iter()
        .map(|message| serde_json::from_str(&message.data))
        .collect::<Result<_, _>>()?;
    let last = events.last().context("no events")?;
    if last["type"] != "thread.item.done" || last["item"]["type"] != "assistant_message" {
        bail!("the turn did not end with the answer: {last}");
    }
    let thread = events
        .iter()
        .find_map(|event| {
            event["thread"]["id"]
                .as_str()
                .or(event["item"]["thread_id"].as_str())
        })
        .context("no thread id")?;
    Ok(thread.to_owned())
}

fn message(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

struct Measured {
    turns_per_second: f64,
    median_turn: Duration,
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// `clients` clients, each on its own thread, round-robin over the instances.
async fn measure(
    instances: usize,
    clients: usize,
    seconds: u64,
    model: &FakeOpenAi,
) -> anyhow::Result<Measured> {
    let schema = fresh_schema(&format!("scale_{instances}x{clients}")).await?;
    let mut running = Vec::new();
    for _ in 0..instances {
        running.push(start_instance(&schema, model).await?);
    }
    let bases: Arc<Vec<String>> = Arc::new(running.iter().map(|i| i.base.clone()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client_index in 0..clients {
        let (bases, next, measuring, stop) = (
            Arc::clone(&bases),
            Arc::clone(&next),
            Arc::clone(&measuring),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            // Kept-alive connections, one pool per instance.
            let client = reqwest::Client::new();
            let pick = || bases[next.fetch_add(1, Ordering::Relaxed) % bases.len()].clone();
            let mut samples = Vec::new();
            let mut sent = 0_u64;
            let mut thread = String::new();
            while !stop.load(Ordering::Relaxed) {
                // A fresh thread every 20 turns keeps the history (and the model request) short.
                let body = if sent.is_multiple_of(20) {
                    json!({"type": "threads.create", "params": {"input": message("hello")}})
                } else {
                    json!({"type": "threads.add_user_message", "params": {
                        "thread_id": thread,
                        "input": message(&format!("client {client_index} turn {sent}"))}})
                };
                sent += 1;
                let started = Instant::now();
                thread = turn(&client, &pick(), body).await?;
                if measuring.load(Ordering::Relaxed) {
                    samples.push(started.elapsed());
                }
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let window = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    for instance in running {
        let _ = instance.stop.send(());
        instance.finished.await??;
    }
    drop_schema(&schema).await?;
    Ok(Measured {
        turns_per_second: samples.len() as f64 / window.as_secs_f64(),
        median_turn: median(&mut samples),
    })
}

/// Acquire + release of a free thread's lock, as each turn does once, on a pool like an
/// instance's.
async fn lock_round_trip(rounds: usize) -> anyhow::Result<Duration> {
    let lock = PgThreadLock::connect(PgThreadLockConfig {
        url: database_url(),
        namespace: format!("bench_scale_{}", std::process::id()),
        ..PgThreadLockConfig::default()
    })
    .await?;
    let ctx = StoreContext::new("bench");
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 30 {
        let thread = chatkit_store::generate_id(ItemIdKind::Thread);
        let started = Instant::now();
        let guard = lock.acquire(&thread, &ctx, Duration::from_secs(5)).await?;
        guard.release().await;
        if round >= 30 {
            samples.push(started.elapsed());
        }
    }
    lock.close().await;
    Ok(median(&mut samples))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|line| line.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let clients = argument("--clients", 16) as usize;
    let seconds = argument("--seconds", 5);
    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
        fallback: Fallback::Echo,
        ..FakeOpenAiOptions::default()
    })
    .await?;
    println!("load average before: {}", load_average());
    let mut rows = Vec::new();
    for (instances, clients) in [(1, 1), (1, clients), (3, clients)] {
        let measured = measure(instances, clients, seconds, &model).await?;
        println!(
            "{instances} instance(s), {clients:>3} clients: {:>7.1} turns/s, median turn {:>6.2} ms",
            measured.turns_per_second,
            measured.median_turn.as_secs_f64() * 1e3
        );
        rows.push(measured);
    }
    let lock = lock_round_trip(300).await?;
    println!(
        "cross-instance lock, acquire + release: median {:.2} ms = {:.0}% of a one-client turn ({:.2} ms)",
        lock.as_secs_f64() * 1e3,
        100.0 * lock.as_secs_f64() / rows[0].median_turn.as_secs_f64(),
        rows[0].median_turn.as_secs_f64() * 1e3
    );
    println!(
        "3 instances / 1 instance at {clients} clients: {:.2}x",
        rows[2].turns_per_second / rows[1].turns_per_second
    );
    println!("load average after: {}", load_average());
    Ok(())
}
