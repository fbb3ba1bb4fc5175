//! Migrating under the database's lock: instances that start together on one PostgreSQL schema
//! apply each migration exactly once and all come up.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::postgres::PostgresSchemas;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_instances_migrating_one_fresh_schema_at_once_all_come_up() {
    let Some(mut schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let schema = schemas.fresh_schema().await;
    let migrators = (0..10).map(|_| {
        let config = chatkit_store::StoreConfig {
            max_connections: 2,
            min_connections: 0,
            postgres_schema: Some(schema.clone()),
            ..chatkit_store::StoreConfig::with_url(schemas.url.clone())
        };
        tokio::spawn(chatkit_store::SeaOrmStore::connect(config))
    });
    let outcomes = futures::future::join_all(migrators).await;
    let mut stores = Vec::new();
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let store = outcome
            .expect("migrator task")
            .unwrap_or_else(|error| panic!("instance {index} failed to come up: {error}"));
        stores.push(store);
    }
    let applied = schemas
        .admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT version FROM {schema}.seaql_migrations ORDER BY version"),
        ))
        .await
        .expect("migration records");
    let versions: Vec<String> = applied
        .iter()
        .map(|row| row.try_get("", "version").expect("version"))
        .collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration is recorded once");
    assert_eq!(
        versions.len(),
        <chatkit_migration::Migrator as chatkit_migration::MigratorTrait>::migrations().len(),
        "every migration is applied"
    );
    for store in stores {
        store.close().await.expect("close");
    }
    schemas.drop_all().await;
}
