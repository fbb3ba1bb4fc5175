//! The PostgreSQL half of the suite, against the server named by `CHATKIT_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`). Each store gets a schema of its own,
//! dropped at the end. An unreachable server FAILS these tests; the only way to skip them is an
//! explicit `CHATKIT_TEST_SKIP_POSTGRES=1`, which CI never sets.

use std::sync::Arc;

use chatkit_store::{ItemIdKind, SeaOrmStore, SqlBackend, Store, StoreConfig, conformance};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Schemas created by one test, dropped by [`PostgresSchemas::drop_all`].
pub struct PostgresSchemas {
    pub url: String,
    pub admin: DatabaseConnection,
    created: Vec<String>,
}

impl PostgresSchemas {
    /// Connects to the test server, or returns `None` when the run explicitly skips PostgreSQL.
    pub async fn connect() -> Option<Self> {
        if std::env::var("CHATKIT_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!(
                "\n!!!!!!!! CHATKIT_TEST_SKIP_POSTGRES=1: the PostgreSQL store tests are SKIPPED. \
                 This run proves nothing about PostgreSQL. !!!!!!!!\n"
            );
            return None;
        }
        let url = std::env::var("CHATKIT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
        let mut options = ConnectOptions::new(url.clone());
        options
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_timeout(std::time::Duration::from_secs(5))
            .sqlx_logging(false);
        let admin = match Database::connect(options).await {
            Ok(admin) => admin,
            Err(error) => panic!(
                "PostgreSQL at {url} is unreachable: {error}. The store suite must run against \
                 PostgreSQL: start it, point CHATKIT_TEST_DATABASE_URL at one, or skip explicitly \
                 with CHATKIT_TEST_SKIP_POSTGRES=1."
            ),
        };
        Some(Self {
            url,
            admin,
            created: Vec::new(),
        })
    }

    /// A fresh, empty schema, dropped by [`PostgresSchemas::drop_all`].
    pub async fn fresh_schema(&mut self) -> String {
        let schema = format!(
            "chatkit_test_{}",
            chatkit_store::generate_id(ItemIdKind::Thread)
        );
        self.admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        self.created.push(schema.clone());
        schema
    }

    /// A fresh schema and a migrated store whose connections use it.
    pub async fn store(&mut self) -> (SeaOrmStore, String) {
        let schema = self.fresh_schema().await;
        let store = SeaOrmStore::connect(StoreConfig {
            max_connections: 4,
            min_connections: 0,
            postgres_schema: Some(schema.clone()),
            ..StoreConfig::with_url(self.url.clone())
        })
        .await
        .expect("connect to PostgreSQL");
        assert_eq!(store.backend(), SqlBackend::Postgres);
        (store, schema)
    }

    pub async fn drop_all(self) {
        for schema in &self.created {
            self.admin
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .expect("drop test schema");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let schemas = Arc::new(tokio::sync::Mutex::new(schemas));
    let report = conformance::run_all(|| {
        let schemas = schemas.clone();
        async move { Arc::new(schemas.lock().await.store().await.0) as Arc<dyn Store> }
    })
    .await;
    let schemas = Arc::try_unwrap(schemas)
        .ok()
        .expect("factory closures are done")
        .into_inner();
    schemas.drop_all().await;
    report.assert_passed();
    assert_eq!(report.passed.len(), conformance::cases().len());
}

#[tokio::test]
async fn postgres_unreachable_is_unavailable_not_a_hang() {
    // Port 1 on loopback refuses connections at once.
    let error = SeaOrmStore::connect(StoreConfig {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..StoreConfig::with_url("postgres://postgres@127.0.0.1:1/none")
    })
    .await
    .expect_err("nothing listens on port 1");
    assert!(
        matches!(error, chatkit_store::StoreError::Unavailable(_)),
        "{error:?}"
    );
}
