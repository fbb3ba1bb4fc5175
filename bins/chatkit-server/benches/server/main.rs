//! Server benchmarks: SSE frame latency, memory per open stream, turn throughput.
//!
//! `cargo bench -p chatkit-server --bench server [-- latency|memory|turns|slow|fake-model]` (all
//! when no name is given). Every server listens on 127.0.0.1 port 0 with SQLite in a temporary directory;
//! the memory and throughput servers run in a child process (this executable, started with
//! `CHATKIT_BENCH_SERVER_ROLE`) so that their RSS and CPU time are theirs alone. Results are
//! printed; `docs/BENCHMARKS.md` records them with the machine and the date.

mod app;
mod client;
#[path = "../common/postgres.rs"]
mod postgres;
mod quick_model;
mod responders;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use test_support::fake_openai::{FakeOpenAi, FakeOpenAiOptions, Fallback, ScriptedTurn};
use tokio::sync::{Mutex, Semaphore, mpsc};

use crate::app::{ChildApp, Responder};
use crate::client::Connection;
use crate::responders::{PingPong, clock_base};

/// The answer of the hand-written responder: 40 words, as in the reference's measurement.
const ANSWER: &str = "The quick brown fox jumps over the lazy dog while the patient farmer \
    watches from the porch and counts the clouds drifting slowly across a wide blue summer sky \
    above green hills and quiet rivers that wind toward the sea";

/// The user's message: 38 words, so that the fake model's echo (`You said: ` and the message)
/// is a 40-word answer too.
const QUESTION: &str = "Please tell me something about foxes dogs farmers porches clouds \
    skies hills rivers and seas in one long answer that uses plain words and simple sentences \
    so that a child could read it aloud to friends at school";

/// The answer split as a model streams it: one delta per word, each with its trailing space.
pub fn answer_words() -> Vec<String> {
    ANSWER.split_inclusive(' ').map(str::to_owned).collect()
}

fn main() -> anyhow::Result<()> {
    if let Ok(role) = std::env::var(app::ROLE_VAR) {
        return app::child_main(&role);
    }
    // Cargo passes `--bench`; anything else not starting with `-` names benchmarks to run.
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted =
        |name: &str| names.is_empty() || names.iter().any(|arg| name.contains(arg.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!(
            "cores: {}",
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        if wanted("latency") {
            latency().await?;
        }
        if wanted("memory") {
            memory().await?;
        }
        if wanted("turns") {
            turns().await?;
        }
        if wanted("slow") {
            slow_streams().await?;
        }
        if wanted("fake-model") {
            fake_model().await?;
        }
        Ok(())
    })
}

fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

fn create_body(text: &str) -> String {
    json!({"type": "threads.create", "params": {"input": input(text)}}).to_string()
}

fn add_message_body(thread_id: &str, text: &str) -> String {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": input(text)}})
        .to_string()
}

fn is_text_delta(data: &str) -> bool {
    data.contains("\"assistant_message.content_part.text_delta\"")
}

fn thread_id_of_created(data: &str) -> anyhow::Result<Option<String>> {
    if !data.contains("\"thread.created\"") {
        return Ok(None);
    }
    let event: Value = serde_json::from_str(data)?;
    Ok(event["thread"]["id"].as_str().map(str::to_owned))
}

/// Percentiles of durations, by nearest rank.
struct Summary {
    sorted: Vec<Duration>,
}

impl Summary {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    fn at(&self, quantile: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((quantile * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1]
    }

    fn line(&self) -> String {
        format!(
            "n={} median={} p90={} p99={} max={}",
            self.sorted.len(),
            show(self.at(0.5)),
            show(self.at(0.9)),
            show(self.at(0.99)),
            show(self.at(1.0))
        )
    }
}

fn show(duration: Duration) -> String {
    if duration < Duration::from_millis(1) {
        format!("{:.0} µs", duration.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", duration.as_secs_f64() * 1e3)
    }
}

/// 1. Time from a text delta leaving the responder to its frame arriving at a client on a
///    kept-alive connection. One event in flight at a time (the client asks for the next one when
///    it has read the last), so this is the path's own latency without queueing.
async fn latency() -> anyhow::Result<()> {
    const TURNS: usize = 11;
    const DELTAS_PER_TURN: usize = 500;
    let (go, go_receiver) = mpsc::unbounded_channel();
    let app = app::start(Responder::Custom(Arc::new(PingPong {
        count: DELTAS_PER_TURN,
        go: Arc::new(Mutex::new(go_receiver)),
    })))
    .await?;
    let base = clock_base();
    let mut connection = Connection::open(app.address).await?;
    let mut samples = Vec::with_capacity(TURNS * DELTAS_PER_TURN);
    let mut thread_id: Option<String> = None;
    for turn in 0..TURNS {
        let body = match &thread_id {
            None => create_body("Hello"),
            Some(id) => add_message_body(id, "Hello again"),
        };
        connection.start(&body).await?;
        go.send(())?;
        let mut received = 0;
        while let Some(frame) = connection.next_frame().await? {
            if let Some(id) = thread_id_of_created(&frame.data)? {
                thread_id = Some(id);
            }
            if !is_text_delta(&frame.data) {
                continue;
            }
            let arrived = frame.arrived.duration_since(base);
            let event: Value = serde_json::from_str(&frame.data)?;
            let stamp: u64 = event["update"]["delta"]
                .as_str()
                .and_then(|delta| delta.strip_prefix("t="))
                .context("a delta without a stamp")?
                .parse()?;
            // The first turn warms the connection, the pools and the caches up.
            if turn > 0 {
                samples.push(arrived.saturating_sub(Duration::from_nanos(stamp)));
            }
            received += 1;
            if received < DELTAS_PER_TURN {
                go.send(())?;
            }
        }
        ensure!(
            received == DELTAS_PER_TURN,
            "turn {turn}: {received} deltas arrived, expected {DELTAS_PER_TURN}"
        );
    }
    drop(connection);
    app.stop().await?;
    println!(
        "latency: responder -> frame read by the client, one kept-alive connection, {} turns of {} deltas: {}",
        TURNS - 1,
        DELTAS_PER_TURN,
        Summary::new(samples).line()
    );
    Ok(())
}

/// Opens a stream and reads until its first text delta; the stream stays open.
async fn open_stream(address: SocketAddr) -> anyhow::Result<Connection> {
    let mut connection = Connection::open(address).await?;
    connection.start(&create_body(QUESTION)).await?;
    loop {
        let frame = connection
            .next_frame()
            .await?
            .context("the stream ended before its first text delta")?;
        if is_text_delta(&frame.data) {
            return Ok(connection);
        }
        if frame.data.contains("\"type\":\"error\"") {
            bail!("the stream failed: {}", frame.data);
        }
    }
}

/// Opens `count` streams, at most 64 being set up at once, each waiting after its first delta.
async fn open_streams(address: SocketAddr, count: usize) -> anyhow::Result<Vec<Connection>> {
    let permits = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let permits = Arc::clone(&permits);
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await?;
            tokio::time::timeout(Duration::from_secs(30), open_stream(address))
                .await
                .context("a stream took more than 30 s to open")?
        }));
    }
    let mut connections = Vec::with_capacity(count);
    for task in tasks {
        connections.push(task.await??);
    }
    Ok(connections)
}

/// How many files this process may open (`RLIMIT_NOFILE`'s soft limit).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|value| value.parse().ok())
        })
        .unwrap_or(1024)
}

/// 2. Resident memory per open idle stream, with a hand-written responder that waits after its
///    first delta, and with the agent runtime waiting on a model that stopped sending. 10,000
///    streams each; an agent stream holds two sockets in each process (the client's and the
///    model's), so with fewer than about 20,300 files allowed the agent row holds fewer.
async fn memory() -> anyhow::Result<()> {
    const WARM: usize = 50;
    const STREAMS: usize = 10_000;
    // What one buffered event costs: the engine's channel allocates its slots in blocks of 32.
    println!(
        "memory: size_of::<ThreadStreamEvent>() = {} bytes; open files allowed: {}",
        std::mem::size_of::<chatkit_protocol::ThreadStreamEvent>(),
        open_files_limit()
    );
    for variant in ["idle", "agent"] {
        let sockets_per_stream = if variant == "agent" { 2 } else { 1 };
        let streams = STREAMS.min(
            (open_files_limit().saturating_sub(300) / sockets_per_stream).saturating_sub(WARM),
        );
        let model = if variant == "agent" {
            let model = FakeOpenAi::start().await;
            for _ in 0..WARM + streams {
                // Role chunk and three words, then silence with the connection open.
                model.push_turn(ScriptedTurn::text(ANSWER).hang_after(4));
            }
            Some(model)
        } else {
            None
        };
        let server =
            ChildApp::spawn(variant, model.as_ref().map(|m| m.base_url()).as_deref()).await?;
        let started = server.rss_kib()?;
        let warm = open_streams(server.address, WARM).await?;
        let before = server.rss_kib()?;
        let opening = Instant::now();
        let mut held = Vec::with_capacity(streams);
        let mut at_1000 = None;
        // The first thousand, measured apart: memory per stream should not grow with the count.
        for batch in [1000.min(streams), streams.saturating_sub(1000)] {
            held.extend(open_streams(server.address, batch).await?);
            at_1000.get_or_insert(server.rss_kib()?);
        }
        let opened_in = opening.elapsed();
        let after = server.rss_kib()?;
        let at_1000 = at_1000.unwrap_or(after);
        println!(
            "memory ({variant}): RSS {started} KiB at start, {before} KiB with {WARM} streams, \
             {at_1000} KiB with {} ({:.1} KiB per stream), {after} KiB with {} streams \
             (opened in {}); {:.1} KiB per stream",
            WARM + 1000.min(streams),
            at_1000.saturating_sub(before) as f64 / 1000.min(streams).max(1) as f64,
            WARM + streams,
            show(opened_in),
            after.saturating_sub(before) as f64 / streams.max(1) as f64
        );
        drop(held);
        drop(warm);
        server.stop().await?;
    }
    Ok(())
}

/// 5. Many slow streams at once: 5,000 turns of the agent runtime against a model that pauses
///    50 ms before each chunk (about 2 s for the 40-word echo), all started together (at most 256
///    connections being set up at a time). Reports how many completed, how long the whole took,
///    the most open at once, and the server's peak RSS per open stream.
async fn slow_streams() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    const STREAMS: usize = 5_000;
    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
        port: 0,
        fallback: Fallback::Echo,
    })
    .await?;
    model.set_echo_chunk_latency(Duration::from_millis(50));
    let server = ChildApp::spawn("agent", Some(&model.base_url())).await?;
    let question = QUESTION;
    // One turn first, so that the pools and caches are warm and the base RSS includes them; it
    // also counts the deltas of the answer every stream must get.
    let mut warm = Connection::open(server.address).await?;
    warm.start(&create_body(question)).await?;
    let mut expected_deltas = 0;
    while let Some(frame) = warm.next_frame().await? {
        if is_text_delta(&frame.data) {
            expected_deltas += 1;
        }
    }
    ensure!(
        expected_deltas > 40,
        "the warm-up answer had {expected_deltas} deltas"
    );
    let base = server.rss_kib()?;
    let open_now = Arc::new(AtomicUsize::new(0));
    let most_open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicU64::new(base));
    let permits = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let sampler = {
        let peak = Arc::clone(&peak);
        let pid = server.pid;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Ok(rss) = app::rss_kib_of(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        })
    };
    let tasks: Vec<_> = (0..STREAMS)
        .map(|_| {
            let permits = Arc::clone(&permits);
            let open_now = Arc::clone(&open_now);
            let most_open = Arc::clone(&most_open);
            let address = server.address;
            let body = create_body(question);
            tokio::spawn(async move {
                let mut permit = Some(permits.acquire_owned().await?);
                let mut connection = Connection::open(address).await?;
                connection.start(&body).await?;
                let mut deltas = 0;
                while let Some(frame) = connection.next_frame().await? {
                    // Set up: the next connection may start.
                    if permit.take().is_some() {
                        let now = open_now.fetch_add(1, Ordering::Relaxed) + 1;
                        most_open.fetch_max(now, Ordering::Relaxed);
                    }
                    if is_text_delta(&frame.data) {
                        deltas += 1;
                    }
                    if frame.data.contains("\"type\":\"error\"") {
                        bail!("a slow stream failed: {}", frame.data);
                    }
                }
                open_now.fetch_sub(1, Ordering::Relaxed);
                ensure!(
                    deltas == expected_deltas,
                    "a slow stream ended with {deltas} deltas, not {expected_deltas}"
                );
                anyhow::Ok(())
            })
        })
        .collect();
    let mut completed = 0;
    let mut failures = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(()) => completed += 1,
            Err(err) => failures.push(err.to_string()),
        }
    }
    let took = started.elapsed();
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed);
    let most_open = most_open.load(Ordering::Relaxed);
    println!(
        "slow streams: {completed} of {STREAMS} completed in {} ({} failed); at most {most_open} \
         open at once; server RSS {base} KiB before, {peak} KiB at the peak: {:.1} KiB per open stream",
        show(took),
        failures.len(),
        peak.saturating_sub(base) as f64 / most_open.max(1) as f64
    );
    if let Some(first) = failures.first() {
        println!("  first failure: {first}");
    }
    drop(warm);
    server.stop().await?;
    Ok(())
}

/// One turn as a client saw it.
struct TurnSample {
    first_delta: Duration,
    whole: Duration,
    ended: Instant,
}

/// Runs turns back to back on one kept-alive connection until `stop_at`: a new thread every
/// 20 turns, `threads.add_user_message` on it otherwise.
async fn client_loop(address: SocketAddr, stop_at: Instant) -> anyhow::Result<Vec<TurnSample>> {
    const TURNS_PER_THREAD: usize = 20;
    let mut connection = Connection::open(address).await?;
    let mut samples = Vec::new();
    let mut thread: Option<(String, usize)> = None;
    while Instant::now() < stop_at {
        let body = match &thread {
            Some((id, turns)) if *turns < TURNS_PER_THREAD => add_message_body(id, QUESTION),
            _ => {
                thread = None;
                create_body(QUESTION)
            }
        };
        let sent = connection.start(&body).await?;
        let mut first_delta = None;
        let mut deltas = 0;
        let mut answered = false;
        while let Some(frame) = connection.next_frame().await? {
            if is_text_delta(&frame.data) {
                deltas += 1;
                first_delta.get_or_insert(frame.arrived);
            } else if frame.data.contains("\"thread.item.done\"")
                && frame.data.contains("\"assistant_message\"")
            {
                answered = true;
            } else if frame.data.contains("\"type\":\"error\"") {
                bail!("a turn failed: {}", frame.data);
            } else if let Some(id) = thread_id_of_created(&frame.data)? {
                thread = Some((id, 0));
            }
        }
        let ended = Instant::now();
        ensure!(
            answered && deltas == 40,
            "a turn ended with {deltas} deltas (answered: {answered})"
        );
        if let Some((_, turns)) = &mut thread {
            *turns += 1;
        }
        samples.push(TurnSample {
            first_delta: first_delta.context("no delta")?.duration_since(sent),
            whole: ended.duration_since(sent),
            ended,
        });
    }
    Ok(samples)
}

/// 3. Turns per second and time to first delta at 1, 8 and 64 clients: the bare relay first (the
///    bench's model through a hand-written responder on the in-memory store), then the
///    hand-written responder with no model on SQLite and in memory, the agent runtime on SQLite and
///    on PostgreSQL against the bench's model, and against `test-support`'s fake OpenAI server.
///    Each row is also given as a share of the relay's turns/s at the same client count, measured
///    in the same run. The server runs in a child process; its CPU time is read from /proc.
///    `CHATKIT_BENCH_TURNS` (comma-separated variant names) runs some rows only.
async fn turns() -> anyhow::Result<()> {
    const WARM_UP: Duration = Duration::from_secs(1);
    const MEASURE: Duration = Duration::from_secs(5);
    let only: Option<Vec<String>> = std::env::var("CHATKIT_BENCH_TURNS")
        .ok()
        .map(|names| names.split(',').map(str::to_owned).collect());
    let mut relay_rate: Vec<(usize, f64)> = Vec::new();
    for variant in [
        "relay",
        "immediate",
        "immediate-memory",
        "agent-quick-model",
        "agent-postgres",
        "agent-fake-openai",
    ] {
        if only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|name| name == variant))
        {
            continue;
        }
        let client_counts: Vec<usize> = std::env::var("CHATKIT_BENCH_CLIENTS")
            .ok()
            .map(|counts| {
                counts
                    .split(',')
                    .filter_map(|count| count.parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| vec![1, 8, 64]);
        for &clients in &client_counts {
            // The fake lives as long as the measurement.
            let mut fake = None;
            let model_url = match variant {
                "agent-fake-openai" => {
                    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
                        port: 0,
                        fallback: Fallback::Echo,
                    })
                    .await?;
                    let url = model.base_url();
                    fake = Some(model);
                    Some(url)
                }
                "agent-quick-model" | "agent-postgres" | "relay" => {
                    Some(quick_model::start(answer_words()).await?)
                }
                _ => None,
            };
            let (role, schema) = match variant {
                "agent-postgres" => (
                    "agent-postgres",
                    Some(app::fresh_schema("server_turns").await?),
                ),
                "relay" => ("relay", None),
                _ if model_url.is_some() => ("agent", None),
                _ => (variant, None),
            };
            // The schema is dropped whether or not the measurement succeeded.
            let result = async {
                let server =
                    ChildApp::spawn_with(role, model_url.as_deref(), schema.as_deref()).await?;
                let measured = async {
                    let start = Instant::now();
                    let measure_from = start + WARM_UP;
                    let stop_at = measure_from + MEASURE;
                    let tasks: Vec<_> = (0..clients)
                        .map(|_| tokio::spawn(client_loop(server.address, stop_at)))
                        .collect();
                    tokio::time::sleep_until(measure_from.into()).await;
                    let server_cpu_from = server.cpu_time()?;
                    let own_cpu_from = app::cpu_time_of("/proc/self/stat")?;
                    tokio::time::sleep_until(stop_at.into()).await;
                    let server_cpu = server.cpu_time()? - server_cpu_from;
                    let own_cpu = app::cpu_time_of("/proc/self/stat")? - own_cpu_from;
                    let mut samples = Vec::new();
                    for task in tasks {
                        samples.extend(task.await??);
                    }
                    let window: Vec<&TurnSample> = samples
                        .iter()
                        .filter(|sample| sample.ended >= measure_from && sample.ended <= stop_at)
                        .collect();
                    let per_second = window.len() as f64 / MEASURE.as_secs_f64();
                    if variant == "relay" {
                        relay_rate.push((clients, per_second));
                    }
                    let of_relay = relay_rate
                        .iter()
                        .find(|(at, _)| *at == clients)
                        .map_or_else(String::new, |(_, relay)| {
                            format!(
                                " = {:.0} % of the relay",
                                100.0 * per_second / relay.max(1e-9)
                            )
                        });
                    let server_cores = server_cpu.as_secs_f64() / MEASURE.as_secs_f64();
                    println!(
                        "turns ({variant}, {clients} clients): {per_second:.0} turns/s{of_relay}; server CPU \
                         {server_cores:.2} cores, {:.3} ms per turn; bench process (clients{}) CPU {:.2} cores",
                        server_cpu.as_secs_f64() * 1e3 / (window.len() as f64).max(1.0),
                        if model_url.is_some() {
                            " and model"
                        } else {
                            ""
                        },
                        own_cpu.as_secs_f64() / MEASURE.as_secs_f64(),
                    );
                    println!(
                        "  first delta: {}",
                        Summary::new(window.iter().map(|sample| sample.first_delta).collect()).line()
                    );
                    println!(
                        "  whole turn:  {}",
                        Summary::new(window.iter().map(|sample| sample.whole).collect()).line()
                    );
                    anyhow::Ok(())
                }
                .await;
                server.stop().await?;
                measured
            }
            .await;
            if let Some(schema) = schema {
                app::drop_schema(&schema).await?;
            }
            result?;
            drop(fake);
        }
    }
    Ok(())
}

/// Context for the agent numbers: the fake model server alone, one client on a kept-alive
/// connection, 40-word answers. Its time to first chunk is a floor under the agent's time to
/// first delta.
async fn fake_model() -> anyhow::Result<()> {
    const REQUESTS: usize = 50;
    let model = FakeOpenAi::start_with(FakeOpenAiOptions {
        port: 0,
        fallback: Fallback::Echo,
    })
    .await?;
    let mut connection = Connection::open(model.address()).await?;
    let body = json!({
        "model": "fake-model",
        "stream": true,
        "messages": [{"role": "user", "content": QUESTION}],
    })
    .to_string();
    let mut first_chunk = Vec::with_capacity(REQUESTS);
    let mut whole = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let sent = connection.start_at("/v1/chat/completions", &body).await?;
        let mut first = None;
        while let Some(frame) = connection.next_frame().await? {
            first.get_or_insert(frame.arrived);
        }
        first_chunk.push(first.context("no chunk")?.duration_since(sent));
        whole.push(sent.elapsed());
    }
    println!(
        "fake model alone (one kept-alive connection): first chunk {}",
        Summary::new(first_chunk).line()
    );
    println!("  whole answer: {}", Summary::new(whole).line());
    Ok(())
}
