//! The PostgreSQL the server benchmarks measure on, and a fresh schema per measurement. Shared
//! by the `server` and `scale_out` benches (each includes this file with `#[path]`).

use sea_orm::ConnectionTrait;

/// `CHATKIT_BENCH_DATABASE_URL`, by default the local server's `test` database.
pub fn database_url() -> String {
    std::env::var("CHATKIT_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty schema `bench_<label>_<pid>`; [`drop_schema`] removes it.
pub async fn fresh_schema(label: &str) -> anyhow::Result<String> {
    let db = sea_orm::Database::connect(database_url()).await?;
    let schema = format!("bench_{label}_{}", std::process::id());
    db.execute_unprepared(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .await?;
    Ok(schema)
}

/// Removes a schema made by [`fresh_schema`].
pub async fn drop_schema(schema: &str) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(database_url()).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    Ok(())
}
