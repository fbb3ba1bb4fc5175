//! The `RateLimiter` contract against memory, a SQLite file and PostgreSQL, and the property the
//! SQL implementation exists for: two stores on one database share one bucket.

use std::sync::Arc;
use std::time::Duration;

use chatkit_store::{MemoryRateLimiter, RateLimiter, SeaOrmStore, StoreConfig};

use crate::postgres::PostgresSchemas;
use crate::sqlite::sqlite_store;

/// A burst, then a refusal whose wait is the time to the next token; other keys untouched.
async fn burst_then_refusal(limiter: &dyn RateLimiter) {
    for n in 0..3 {
        assert_eq!(
            limiter.acquire("alice", 1, 3).await.expect("acquire"),
            None,
            "request {n} of the burst"
        );
    }
    let wait = limiter
        .acquire("alice", 1, 3)
        .await
        .expect("acquire")
        .expect("refused over the burst");
    // One token a minute, and the burst was just spent: a minute, less the time the calls took.
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    // A refusal takes nothing: still refused, with no longer a wait.
    let again = limiter
        .acquire("alice", 1, 3)
        .await
        .expect("acquire")
        .expect("still refused");
    assert!(again <= wait, "{again:?} after {wait:?}");
    // Keys are independent.
    assert_eq!(limiter.acquire("bob", 1, 3).await.expect("acquire"), None);
    // A rate of zero is no limit.
    for _ in 0..10 {
        assert_eq!(limiter.acquire("carol", 0, 1).await.expect("acquire"), None);
    }
}

/// Tokens come back at the rate: ten a second here, so the wait is at most 100 ms.
async fn refills_over_time(limiter: &dyn RateLimiter) {
    for _ in 0..2 {
        assert_eq!(
            limiter.acquire("dave", 600, 2).await.expect("acquire"),
            None
        );
    }
    // At ten tokens a second a slow round trip (a loaded host, a PostgreSQL commit) can refill a
    // token before the next call; keep spending until the bucket refuses, which it must do long
    // before it has handed out a few dozen tokens.
    let mut wait = None;
    for _ in 0..50 {
        wait = limiter.acquire("dave", 600, 2).await.expect("acquire");
        if wait.is_some() {
            break;
        }
    }
    let wait = wait.expect("refused over the burst");
    assert!(wait <= Duration::from_millis(100), "{wait:?}");
    // Waiting what the limiter said is enough (plus a margin for clock granularity).
    tokio::time::sleep(wait + Duration::from_millis(5)).await;
    assert_eq!(
        limiter.acquire("dave", 600, 2).await.expect("acquire"),
        None,
        "a token refilled after {wait:?}"
    );
}

/// 20 concurrent requests spread over two limiters sharing one bucket of 5: exactly 5 pass.
async fn concurrent_acquires_share_one_bucket(
    first: Arc<dyn RateLimiter>,
    second: Arc<dyn RateLimiter>,
) {
    let mut tasks = Vec::new();
    for n in 0..20 {
        let limiter = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            limiter.acquire("shared", 1, 5).await.expect("acquire")
        }));
    }
    let mut granted = 0;
    for task in tasks {
        if task.await.expect("task").is_none() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
}

#[tokio::test]
async fn memory_limiter_follows_the_contract() {
    let limiter = MemoryRateLimiter::new();
    burst_then_refusal(&limiter).await;
    refills_over_time(&limiter).await;
    let shared: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new());
    concurrent_acquires_share_one_bucket(shared.clone(), shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_limiter_follows_the_contract_and_is_shared_through_the_file() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (store, url) = sqlite_store(directory.path(), "limits.db").await;
    burst_then_refusal(&store).await;
    refills_over_time(&store).await;
    // A second store on the same file sees the first one's buckets.
    let other = SeaOrmStore::connect(StoreConfig {
        max_connections: 4,
        ..StoreConfig::with_url(url)
    })
    .await
    .expect("second store on the file");
    assert!(
        other
            .acquire("alice", 1, 3)
            .await
            .expect("acquire")
            .is_some(),
        "alice spent her burst through the first store"
    );
    concurrent_acquires_share_one_bucket(Arc::new(store), Arc::new(other)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_limiter_follows_the_contract_and_instances_share_buckets() {
    let Some(mut schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let (store, schema) = schemas.store().await;
    burst_then_refusal(&store).await;
    refills_over_time(&store).await;
    // A second instance: its own pool on the same schema.
    let other = SeaOrmStore::connect(StoreConfig {
        max_connections: 4,
        min_connections: 0,
        postgres_schema: Some(schema),
        ..StoreConfig::with_url(schemas.url.clone())
    })
    .await
    .expect("second store on the schema");
    assert!(
        other
            .acquire("alice", 1, 3)
            .await
            .expect("acquire")
            .is_some(),
        "alice spent her burst through the first instance"
    );
    let (first, second): (Arc<dyn RateLimiter>, Arc<dyn RateLimiter>) =
        (Arc::new(store), Arc::new(other));
    concurrent_acquires_share_one_bucket(first.clone(), second.clone()).await;
    drop((first, second));
    schemas.drop_all().await;
}
