#![allow(missing_docs)]
//! Store benchmarks: page reads at small and large sizes, and add-item throughput.
//!
//! ```text
//! cargo bench -p chatkit-store --bench store -- [--backend sqlite|postgres|memory|all]
//!     [--case pages|threads|writes|all] [--large-items N] [--large-threads N]
//!     [--writes N] [--writers N] [--postgres-async-commit]
//! ```
//!
//! PostgreSQL is the server at `CHATKIT_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each run works in a fresh schema that it drops.
//! SQLite is a file in a temporary directory. Plain `std::time` measurement: each read is
//! repeated after a warm-up and the median and 95th percentile are printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, Order, ThreadItem, ThreadMetadata, time,
};
use chatkit_store::{
    ItemIdKind, MemoryStore, SeaOrmStore, Store, StoreConfig, StoreContext, generate_id,
};
use sea_orm::{ConnectionTrait, Database};

struct Options {
    backends: Vec<String>,
    cases: Vec<String>,
    large_items: usize,
    large_threads: usize,
    writes: usize,
    writers: usize,
    postgres_async_commit: bool,
}

fn parse_options() -> Options {
    let mut options = Options {
        backends: vec!["sqlite".into(), "postgres".into()],
        cases: vec!["pages".into(), "threads".into(), "writes".into()],
        large_items: 1_000_000,
        large_threads: 100_000,
        writes: 8_000,
        writers: 8,
        postgres_async_commit: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().unwrap_or_default();
        match argument.as_str() {
            "--backend" => {
                let backend = value();
                options.backends = if backend == "all" {
                    vec!["memory".into(), "sqlite".into(), "postgres".into()]
                } else {
                    vec![backend]
                };
            }
            "--case" => {
                let case = value();
                if case != "all" {
                    options.cases = vec![case];
                }
            }
            "--large-items" => options.large_items = value().parse().unwrap_or(1_000_000),
            "--large-threads" => options.large_threads = value().parse().unwrap_or(100_000),
            "--writes" => options.writes = value().parse().unwrap_or(8_000),
            "--writers" => options.writers = value().parse().unwrap_or(8),
            "--postgres-async-commit" => options.postgres_async_commit = true,
            // `cargo bench` passes `--bench`; ignore it and anything else.
            _ => {}
        }
    }
    options
}

fn message(thread_id: &str, n: usize) -> ThreadItem {
    ThreadItem::AssistantMessage(AssistantMessageItem {
        id: generate_id(ItemIdKind::Message),
        thread_id: thread_id.to_owned(),
        created_at: time::now(),
        content: vec![AssistantMessageContent::text(format!(
            "Message {n}: a typical assistant answer of a couple of sentences, long enough to \
             resemble real traffic without dominating the measurement with bytes."
        ))],
    })
}

struct Bench {
    store: Arc<dyn Store>,
    sea: Option<Arc<SeaOrmStore>>,
    cleanup: Option<(sea_orm::DatabaseConnection, String)>,
    _directory: Option<tempfile::TempDir>,
}

async fn open(backend: &str, options: &Options) -> Bench {
    match backend {
        "memory" => Bench {
            store: Arc::new(MemoryStore::new()),
            sea: None,
            cleanup: None,
            _directory: None,
        },
        "sqlite" => {
            let directory = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                directory.path().join("bench.db").display()
            );
            let store = Arc::new(
                SeaOrmStore::connect(StoreConfig::with_url(url))
                    .await
                    .expect("connect SQLite"),
            );
            Bench {
                store: store.clone(),
                sea: Some(store),
                cleanup: None,
                _directory: Some(directory),
            }
        }
        "postgres" => {
            let url = std::env::var("CHATKIT_BENCH_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let admin = Database::connect(url.as_str())
                .await
                .expect("connect PostgreSQL");
            let schema = format!("chatkit_bench_{}", generate_id(ItemIdKind::Thread));
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create schema");
            let store = Arc::new(
                SeaOrmStore::connect(StoreConfig {
                    max_connections: 16,
                    postgres_schema: Some(schema.clone()),
                    postgres_synchronous_commit: !options.postgres_async_commit,
                    ..StoreConfig::with_url(url)
                })
                .await
                .expect("connect PostgreSQL store"),
            );
            Bench {
                store: store.clone(),
                sea: Some(store),
                cleanup: Some((admin, schema)),
                _directory: None,
            }
        }
        other => panic!("unknown backend `{other}`"),
    }
}

impl Bench {
    async fn close(self) {
        if let Some((admin, schema)) = self.cleanup {
            drop(self.store);
            drop(self.sea);
            admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .expect("drop schema");
        }
    }

    /// Fills a thread with `count` items: bulk import on SQL stores, one by one in memory.
    async fn fill_thread(&self, thread_id: &str, count: usize, ctx: &StoreContext) {
        const CHUNK: usize = 50_000;
        let mut done = 0;
        while done < count {
            let items: Vec<ThreadItem> = (done..count.min(done + CHUNK))
                .map(|n| message(thread_id, n))
                .collect();
            match &self.sea {
                Some(sea) => sea
                    .import_thread_items(thread_id, &items, ctx)
                    .await
                    .expect("import items"),
                None => {
                    for item in &items {
                        self.store
                            .add_thread_item(thread_id, item, ctx)
                            .await
                            .expect("add");
                    }
                }
            }
            done += items.len();
        }
    }

    async fn fill_threads(&self, count: usize, ctx: &StoreContext) -> Vec<String> {
        let start = time::now() - chrono::Duration::days(1);
        let threads: Vec<ThreadMetadata> = (0..count)
            .map(|n| {
                let mut thread = ThreadMetadata::new(
                    generate_id(ItemIdKind::Thread),
                    start + chrono::Duration::milliseconds(n as i64),
                );
                thread.title = Some(format!("Conversation {n}"));
                thread
            })
            .collect();
        match &self.sea {
            Some(sea) => {
                for chunk in threads.chunks(50_000) {
                    sea.import_threads(chunk, ctx)
                        .await
                        .expect("import threads");
                }
            }
            None => {
                for thread in &threads {
                    self.store.save_thread(thread, ctx).await.expect("save");
                }
            }
        }
        threads.into_iter().map(|thread| thread.id).collect()
    }
}

struct Timing {
    median: Duration,
    p95: Duration,
}

async fn time_it<F, Fut>(mut operation: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..30 {
        operation().await;
    }
    let mut samples = Vec::with_capacity(300);
    for _ in 0..300 {
        let started = Instant::now();
        operation().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    Timing {
        median: samples[samples.len() / 2],
        p95: samples[samples.len() * 95 / 100],
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

async fn bench_item_pages(backend: &str, options: &Options) {
    let bench = open(backend, options).await;
    let ctx = StoreContext::new("bench-user");
    let mut results = Vec::new();
    for size in [1_000, options.large_items] {
        let thread = ThreadMetadata::new(generate_id(ItemIdKind::Thread), time::now());
        bench.store.save_thread(&thread, &ctx).await.expect("save");
        let started = Instant::now();
        bench.fill_thread(&thread.id, size, &ctx).await;
        eprintln!(
            "[{backend}] filled a thread with {size} items in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        // A cursor in the middle of the thread, as a client scrolling back would send.
        let middle = bench
            .store
            .load_thread_items(&thread.id, None, size / 2, Order::Asc, &ctx)
            .await
            .expect("middle")
            .after
            .expect("cursor");
        let store = bench.store.clone();
        let newest = time_it(|| {
            let store = store.clone();
            let (thread_id, ctx) = (thread.id.clone(), ctx.clone());
            async move {
                let page = store
                    .load_thread_items(&thread_id, None, 20, Order::Desc, &ctx)
                    .await
                    .expect("page");
                assert_eq!(page.data.len(), 20);
            }
        })
        .await;
        let after_cursor = time_it(|| {
            let store = store.clone();
            let (thread_id, ctx, middle) = (thread.id.clone(), ctx.clone(), middle.clone());
            async move {
                let page = store
                    .load_thread_items(&thread_id, Some(&middle), 20, Order::Desc, &ctx)
                    .await
                    .expect("page");
                assert_eq!(page.data.len(), 20);
            }
        })
        .await;
        println!(
            "[{backend}] items page of 20, thread of {size:>9}: newest median {:>7.0} us (p95 {:>7.0}), after a mid cursor median {:>7.0} us (p95 {:>7.0})",
            micros(newest.median),
            micros(newest.p95),
            micros(after_cursor.median),
            micros(after_cursor.p95)
        );
        results.push((newest.median, after_cursor.median));
    }
    if let [small, large] = results.as_slice() {
        println!(
            "[{backend}] items page ratio large/small: newest {:.2}x, after cursor {:.2}x (target <= 1.5x)",
            large.0.as_secs_f64() / small.0.as_secs_f64(),
            large.1.as_secs_f64() / small.1.as_secs_f64()
        );
    }
    bench.close().await;
}

async fn bench_thread_pages(backend: &str, options: &Options) {
    let bench = open(backend, options).await;
    let mut results = Vec::new();
    for (owner, size) in [("small-owner", 100), ("large-owner", options.large_threads)] {
        let ctx = StoreContext::new(owner);
        let started = Instant::now();
        let ids = bench.fill_threads(size, &ctx).await;
        eprintln!(
            "[{backend}] created {size} threads in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let middle = ids[size / 2].clone();
        let store = bench.store.clone();
        let newest = time_it(|| {
            let (store, ctx) = (store.clone(), ctx.clone());
            async move {
                let page = store
                    .load_threads(20, None, Order::Desc, &ctx)
                    .await
                    .expect("threads");
                assert_eq!(page.data.len(), 20);
            }
        })
        .await;
        let after_cursor = time_it(|| {
            let (store, ctx, middle) = (store.clone(), ctx.clone(), middle.clone());
            async move {
                let page = store
                    .load_threads(20, Some(&middle), Order::Desc, &ctx)
                    .await
                    .expect("threads");
                assert_eq!(page.data.len(), 20);
            }
        })
        .await;
        println!(
            "[{backend}] threads page of 20, owner with {size:>7} threads: newest median {:>7.0} us (p95 {:>7.0}), after a mid cursor median {:>7.0} us (p95 {:>7.0})",
            micros(newest.median),
            micros(newest.p95),
            micros(after_cursor.median),
            micros(after_cursor.p95)
        );
        results.push((newest.median, after_cursor.median));
    }
    if let [small, large] = results.as_slice() {
        println!(
            "[{backend}] threads page ratio large/small: newest {:.2}x, after cursor {:.2}x (target <= 1.5x)",
            large.0.as_secs_f64() / small.0.as_secs_f64(),
            large.1.as_secs_f64() / small.1.as_secs_f64()
        );
    }
    bench.close().await;
}

async fn bench_writes(backend: &str, options: &Options) {
    let bench = open(backend, options).await;
    let ctx = StoreContext::new("writer");
    for shared in [true, false] {
        let shared_thread = generate_id(ItemIdKind::Thread);
        let mut thread_ids = Vec::new();
        for _ in 0..options.writers {
            let id = if shared {
                shared_thread.clone()
            } else {
                generate_id(ItemIdKind::Thread)
            };
            if !thread_ids.contains(&id) {
                bench
                    .store
                    .save_thread(&ThreadMetadata::new(id.clone(), time::now()), &ctx)
                    .await
                    .expect("save");
            }
            thread_ids.push(id);
        }
        let per_writer = options.writes / options.writers;
        // Items are built before the clock starts: we measure the store, not serde.
        let batches: Vec<Vec<ThreadItem>> = thread_ids
            .iter()
            .map(|thread_id| (0..per_writer).map(|n| message(thread_id, n)).collect())
            .collect();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (thread_id, items) in thread_ids.iter().cloned().zip(batches) {
            let (store, ctx) = (bench.store.clone(), ctx.clone());
            tasks.push(tokio::spawn(async move {
                for item in &items {
                    store
                        .add_thread_item(&thread_id, item, &ctx)
                        .await
                        .expect("add");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
        let elapsed = started.elapsed();
        let total = per_writer * options.writers;
        println!(
            "[{backend}] add_thread_item, {} writers into {}: {total} items in {:.2}s = {:.0} items/s",
            options.writers,
            if shared {
                "one shared thread"
            } else {
                "a thread each"
            },
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
    }
    bench.close().await;
}

fn main() {
    let options = parse_options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for backend in &options.backends {
            for case in &options.cases {
                match case.as_str() {
                    "pages" => bench_item_pages(backend, &options).await,
                    "threads" => bench_thread_pages(backend, &options).await,
                    "writes" => bench_writes(backend, &options).await,
                    other => panic!("unknown case `{other}`"),
                }
            }
        }
    });
}
