//! `GET /metrics`: counters, a gauge and histograms in the Prometheus text exposition format.
//!
//! Written by hand rather than with a metrics crate: the format is a few lines of text, the set of
//! metrics is fixed, and every series sits behind one short-held lock. What is measured:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `chatkit_http_requests_total` | counter | `route` (the route pattern, `unmatched` otherwise), `method`, `status` |
//! | `chatkit_streams_open` | gauge | |
//! | `chatkit_turn_duration_seconds` | histogram | `endpoint` (`chatkit`, `api_chat`): from the start of a streamed response to its end |
//! | `chatkit_model_first_output_seconds` | histogram | `model`: from a model call to its first output (time to first token) |
//! | `chatkit_agent_runs_total` | counter | `outcome` (`completed`, `failed`, `cancelled`, `guardrail_tripped`) |
//! | `chatkit_model_tokens_total` | counter | `model`, `kind` (`input`, `output`): tokens the provider reported |
//! | `chatkit_agent_run_duration_seconds` | histogram | `model` |
//! | `chatkit_tool_calls_total` | counter | `tool`, `outcome` (`ok`, `error`) |
//! | `chatkit_tool_call_duration_seconds` | histogram | `tool` |
//! | `chatkit_rate_limited_total` | counter | |
//!
//! Errors show as statuses of `chatkit_http_requests_total` (before a stream starts) and as
//! `failed` runs (inside one). Tool names come from the model, so after
//! [`MAX_SERIES`] distinct label sets a family folds new ones into `other`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use chatkit_engine::{AgentObserver, RunOutcome};
use futures::{Stream, StreamExt};
use parking_lot::Mutex;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::settings::MetricsAccess;

/// Most label sets one metric family keeps before folding new ones into `other`.
pub const MAX_SERIES: usize = 500;

/// Bucket bounds of latency histograms, in seconds: from a fast first token to a long agent run.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Renders label pairs as `name="value",...` (without braces).
fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The rendered label set under which a family stores a series, folded into `other` once the
/// family is full.
fn series_key<V>(series: &BTreeMap<String, V>, pairs: &[(&str, &str)]) -> String {
    let key = labels(pairs);
    if series.len() >= MAX_SERIES && !series.contains_key(&key) {
        let other: Vec<(&str, &str)> = pairs.iter().map(|(name, _)| (*name, "other")).collect();
        labels(&other)
    } else {
        key
    }
}

/// A counter with labels.
struct CounterFamily {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<String, u64>>,
}

impl CounterFamily {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn inc(&self, pairs: &[(&str, &str)]) {
        self.add(pairs, 1);
    }

    fn add(&self, pairs: &[(&str, &str)], amount: u64) {
        let mut series = self.series.lock();
        let key = series_key(&series, pairs);
        let value = series.entry(key).or_default();
        *value = value.saturating_add(amount);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        for (key, value) in self.series.lock().iter() {
            if key.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{key}}} {value}", self.name);
            }
        }
    }
}

#[derive(Clone)]
struct HistogramData {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A histogram with labels, over [`LATENCY_BUCKETS`].
struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<String, HistogramData>>,
}

impl HistogramFamily {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn observe(&self, pairs: &[(&str, &str)], value: Duration) {
        let seconds = value.as_secs_f64();
        let mut series = self.series.lock();
        let key = series_key(&series, pairs);
        let data = series.entry(key).or_insert_with(|| HistogramData {
            buckets: vec![0; LATENCY_BUCKETS.len()],
            sum: 0.0,
            count: 0,
        });
        for (bound, count) in LATENCY_BUCKETS.iter().zip(data.buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        data.sum += seconds;
        data.count += 1;
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let name = self.name;
        for (key, data) in self.series.lock().iter() {
            let prefix = if key.is_empty() {
                String::new()
            } else {
                format!("{key},")
            };
            for (bound, count) in LATENCY_BUCKETS.iter().zip(&data.buckets) {
                let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"+Inf\"}} {}", data.count);
            let braces = if key.is_empty() {
                String::new()
            } else {
                format!("{{{key}}}")
            };
            let _ = writeln!(out, "{name}_sum{braces} {}", data.sum);
            let _ = writeln!(out, "{name}_count{braces} {}", data.count);
        }
    }
}

/// Every metric of the server. Shared (`Arc`) between the HTTP layer and the agent server, which
/// reports to it as its [`AgentObserver`].
pub struct Metrics {
    requests: CounterFamily,
    streams_open: AtomicI64,
    turn_duration: HistogramFamily,
    first_output: HistogramFamily,
    runs: CounterFamily,
    run_duration: HistogramFamily,
    tokens: CounterFamily,
    tool_calls: CounterFamily,
    tool_duration: HistogramFamily,
    rate_limited: CounterFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: CounterFamily::new(
                "chatkit_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
            ),
            streams_open: AtomicI64::new(0),
            turn_duration: HistogramFamily::new(
                "chatkit_turn_duration_seconds",
                "Time from the start of a streamed response to its end.",
            ),
            first_output: HistogramFamily::new(
                "chatkit_model_first_output_seconds",
                "Time from a model call to its first output (time to first token).",
            ),
            runs: CounterFamily::new("chatkit_agent_runs_total", "Agent runs, by how they ended."),
            run_duration: HistogramFamily::new(
                "chatkit_agent_run_duration_seconds",
                "Duration of agent runs, tools included.",
            ),
            tokens: CounterFamily::new(
                "chatkit_model_tokens_total",
                "Tokens the model provider reported, by model and kind (input, output).",
            ),
            tool_calls: CounterFamily::new(
                "chatkit_tool_calls_total",
                "Server-side tool calls, by tool and outcome.",
            ),
            tool_duration: HistogramFamily::new(
                "chatkit_tool_call_duration_seconds",
                "Duration of server-side tool calls.",
            ),
            rate_limited: CounterFamily::new(
                "chatkit_rate_limited_total",
                "Requests refused by the per-user rate limit.",
            ),
        }
    }
}

impl Metrics {
    /// Counts one answered request. `route` is the matched route pattern (`None`: no route).
    pub fn request_handled(&self, route: Option<&str>, method: &str, status: u16) {
        let status = status.to_string();
        self.requests.inc(&[
            ("route", route.unwrap_or("unmatched")),
            ("method", method),
            ("status", &status),
        ]);
    }

    /// Counts a request refused by the rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.inc(&[]);
    }

    /// A streamed response on `endpoint` started; it is counted open until the guard is dropped,
    /// which also records its duration.
    pub fn stream_started(self: &Arc<Self>, endpoint: &'static str) -> StreamGuard {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            metrics: Arc::clone(self),
            endpoint,
            started: Instant::now(),
        }
    }

    /// The number of streamed responses in flight.
    pub fn streams_open(&self) -> i64 {
        self.streams_open.load(Ordering::Relaxed)
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.requests.render(&mut out);
        let _ = writeln!(
            out,
            "# HELP chatkit_streams_open Streamed responses in flight."
        );
        let _ = writeln!(out, "# TYPE chatkit_streams_open gauge");
        let _ = writeln!(out, "chatkit_streams_open {}", self.streams_open());
        self.turn_duration.render(&mut out);
        self.first_output.render(&mut out);
        self.runs.render(&mut out);
        self.run_duration.render(&mut out);
        self.tokens.render(&mut out);
        self.tool_calls.render(&mut out);
        self.tool_duration.render(&mut out);
        self.rate_limited.render(&mut out);
        out
    }
}

impl AgentObserver for Metrics {
    fn model_first_output(&self, model: &str, elapsed: Duration) {
        self.first_output.observe(&[("model", model)], elapsed);
    }

    fn tool_call_finished(&self, tool: &str, is_error: bool, elapsed: Duration) {
        let outcome = if is_error { "error" } else { "ok" };
        self.tool_calls.inc(&[("tool", tool), ("outcome", outcome)]);
        self.tool_duration.observe(&[("tool", tool)], elapsed);
    }

    fn tokens_used(&self, model: &str, usage: &agent_runtime::Usage) {
        self.tokens
            .add(&[("model", model), ("kind", "input")], usage.input_tokens);
        self.tokens
            .add(&[("model", model), ("kind", "output")], usage.output_tokens);
    }

    fn run_finished(&self, model: &str, outcome: RunOutcome, elapsed: Duration) {
        self.runs.inc(&[("outcome", outcome.as_str())]);
        self.run_duration.observe(&[("model", model)], elapsed);
    }
}

/// A streamed response in flight (see [`Metrics::stream_started`]).
pub struct StreamGuard {
    metrics: Arc<Metrics>,
    endpoint: &'static str,
    started: Instant,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.streams_open.fetch_sub(1, Ordering::Relaxed);
        self.metrics
            .turn_duration
            .observe(&[("endpoint", self.endpoint)], self.started.elapsed());
    }
}

/// A response body that holds a [`StreamGuard`] until its last frame, so the turn's duration is
/// measured to the end of the stream (or to the moment the client left).
pub struct TimedStream<S> {
    inner: S,
    guard: Option<StreamGuard>,
}

impl<S> TimedStream<S> {
    /// Wraps `inner`, ending `guard` when it ends or is dropped.
    pub fn new(inner: S, guard: StreamGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<S: Stream + Unpin> Stream for TimedStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            self.guard.take();
        }
        next
    }
}

/// `GET /metrics`.
pub async fn metrics(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    match &state.metrics_access {
        MetricsAccess::Off => return Err(ApiError::no_route()),
        MetricsAccess::Open => {}
        MetricsAccess::Token(expected) => {
            let presented = request
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(auth::bearer_token);
            // Compared in constant time: the scrape token is a secret like any other.
            if !presented
                .is_some_and(|token| constant_time_eq(token.as_bytes(), expected.as_bytes()))
            {
                return Err(ApiError::unauthorized());
            }
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_help_type_escaped_labels_and_cumulative_buckets() {
        let metrics = Arc::new(Metrics::default());
        metrics.request_handled(Some("/chatkit"), "POST", 200);
        metrics.request_handled(Some("/chatkit"), "POST", 200);
        metrics.request_handled(None, "GET", 404);
        metrics.tool_call_finished("say \"hi\"\\", false, Duration::from_millis(20));
        {
            let _guard = metrics.stream_started("chatkit");
            assert_eq!(metrics.streams_open(), 1);
        }
        assert_eq!(metrics.streams_open(), 0);
        let text = metrics.render();
        assert!(text.contains("# TYPE chatkit_http_requests_total counter\n"));
        assert!(text.contains(
            "chatkit_http_requests_total{route=\"/chatkit\",method=\"POST\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "chatkit_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"
        ));
        assert!(
            text.contains(
                "chatkit_tool_calls_total{tool=\"say \\\"hi\\\"\\\\\",outcome=\"ok\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "chatkit_tool_call_duration_seconds_bucket{tool=\"say \\\"hi\\\"\\\\\",le=\"0.01\"} 0\n"
        ));
        assert!(text.contains(
            "chatkit_tool_call_duration_seconds_bucket{tool=\"say \\\"hi\\\"\\\\\",le=\"0.025\"} 1\n"
        ));
        assert!(text.contains("chatkit_turn_duration_seconds_count{endpoint=\"chatkit\"} 1\n"));
        assert!(text.contains("chatkit_streams_open 0\n"));
    }

    #[test]
    fn label_sets_beyond_the_limit_fold_into_other() {
        let metrics = Metrics::default();
        for index in 0..MAX_SERIES + 10 {
            metrics.tool_call_finished(&format!("tool_{index}"), false, Duration::ZERO);
        }
        let text = metrics.render();
        let series = text
            .lines()
            .filter(|line| line.starts_with("chatkit_tool_calls_total{"))
            .count();
        assert_eq!(series, MAX_SERIES + 1);
        assert!(text.contains("chatkit_tool_calls_total{tool=\"other\",outcome=\"other\"} 10\n"));
    }
}
