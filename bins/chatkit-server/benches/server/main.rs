//! Server benchmarks: SSE frame latency, memory per open stream, turn throughput.
//!
//! `cargo bench -p chatkit-server --bench server [-- latency|memory|turns]` (all three when no
//! name is given). Every server listens on 127.0.0.1 port 0 with SQLite in a temporary directory;
//! the memory and throughput servers run in a child process (this executable, started with
//! `CHATKIT_BENCH_SERVER_ROLE`) so that their RSS and CPU time are theirs alone. Results are
//! printed; `docs/BENCHMARKS.md` records them with the machine and the date.

mod app;
mod client;
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

/// 2. Resident memory per open idle stream, with a hand-written responder that waits after its
///    first delta, and with the agent runtime waiting on a model that stopped sending.
async fn memory() -> anyhow::Result<()> {
    const WARM: usize = 50;
    const STREAMS: usize = 1000;
    // What one buffered event costs: the engine's channel allocates its slots in blocks of 32.
    println!(
        "memory: size_of::<ThreadStreamEvent>() = {} bytes",
        std::mem::size_of::<chatkit_protocol::ThreadStreamEvent>()
    );
    for variant in ["idle", "agent"] {
        let model = if variant == "agent" {
            let model = FakeOpenAi::start().await;
            for _ in 0..WARM + STREAMS {
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
        let streams = open_streams(server.address, STREAMS).await?;
        let opened_in = opening.elapsed();
        let after = server.rss_kib()?;
        println!(
            "memory ({variant}): RSS {started} KiB at start, {before} KiB with {WARM} streams, \
             {after} KiB with {} streams (opened in {}); {:.1} KiB per stream",
            WARM + STREAMS,
            show(opened_in),
            after.saturating_sub(before) as f64 / STREAMS as f64
        );
        drop(streams);
        drop(warm);
        server.stop().await?;
    }
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

/// 3. Turns per second and time to first delta at 1 and 64 clients, with the hand-written
///    responder (model out of the picture) and with the agent runtime against the fake OpenAI
///    server (zero latency). The server runs in a child process; its CPU time is read from /proc.
async fn turns() -> anyhow::Result<()> {
    const WARM_UP: Duration = Duration::from_secs(1);
    const MEASURE: Duration = Duration::from_secs(5);
    for variant in [
        "immediate",
        "immediate-memory",
        "agent-quick-model",
        "agent-fake-openai",
    ] {
        for clients in [1usize, 64] {
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
                "agent-quick-model" => Some(quick_model::start(answer_words()).await?),
                _ => None,
            };
            let role = if model_url.is_some() {
                "agent"
            } else {
                variant
            };
            let server = ChildApp::spawn(role, model_url.as_deref()).await?;
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
            let server_cores = server_cpu.as_secs_f64() / MEASURE.as_secs_f64();
            println!(
                "turns ({variant}, {clients} clients): {per_second:.0} turns/s; server CPU {server_cores:.2} cores \
                 ({:.0} turns per server CPU-second); bench process (clients{}) CPU {:.2} cores",
                window.len() as f64 / server_cpu.as_secs_f64().max(1e-9),
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
            server.stop().await?;
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
