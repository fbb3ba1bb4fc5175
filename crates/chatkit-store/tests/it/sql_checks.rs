//! What only SQL shows: gap-free positions under concurrent writers, and the columns legacy
//! readers use.

use std::sync::Arc;

use chatkit_protocol::{ThreadMetadata, time};
use chatkit_store::{SeaOrmStore, Store, StoreContext};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::postgres::PostgresSchemas;
use crate::sqlite::sqlite_store;

async fn positions(db: &DatabaseConnection, table_prefix: &str, thread_id: &str) -> Vec<i64> {
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT position FROM {table_prefix}messages WHERE conversation_id = $1 ORDER BY position"
        ),
        [thread_id.into()],
    ))
    .await
    .expect("select positions")
    .iter()
    .map(|row| row.try_get::<i64>("", "position").expect("position"))
    .collect()
}

/// 8 writers x 50 adds: positions are exactly 1..=400.
async fn check_gap_free_positions(store: SeaOrmStore, db: &DatabaseConnection, prefix: &str) {
    let store = Arc::new(store);
    let ctx = StoreContext::new("writer");
    let thread = ThreadMetadata::new(store.generate_thread_id(&ctx), time::now());
    store.save_thread(&thread, &ctx).await.expect("save_thread");
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = store.clone();
        let ctx = ctx.clone();
        let thread_id = thread.id.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..50 {
                let item =
                    chatkit_protocol::ThreadItem::UserMessage(chatkit_protocol::UserMessageItem {
                        id: chatkit_store::generate_id(chatkit_store::ItemIdKind::Message),
                        thread_id: thread_id.clone(),
                        created_at: time::now(),
                        content: vec![chatkit_protocol::UserMessageContent::text(format!(
                            "w{writer} {n}"
                        ))],
                        attachments: Vec::new(),
                        quoted_text: None,
                        inference_options: Default::default(),
                    });
                store
                    .add_thread_item(&thread_id, &item, &ctx)
                    .await
                    .expect("add");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    assert_eq!(
        positions(db, prefix, &thread.id).await,
        (1..=400).collect::<Vec<i64>>(),
        "positions are gap-free and unique"
    );
}

/// A user message is readable from plain columns, without parsing the JSON.
async fn check_legacy_columns(store: SeaOrmStore, db: &DatabaseConnection, prefix: &str) {
    let ctx = StoreContext::new("legacy-reader");
    let thread = ThreadMetadata::new(store.generate_thread_id(&ctx), time::now());
    store.save_thread(&thread, &ctx).await.expect("save_thread");
    let item: chatkit_protocol::ThreadItem = serde_json::from_value(serde_json::json!({
        "type": "user_message", "id": "msg_legacy", "thread_id": thread.id,
        "created_at": "2026-01-02T03:04:05Z",
        "content": [{"type": "input_text", "text": "How "}, {"type": "input_text", "text": "are you?"}],
        "attachments": [], "inference_options": {}
    }))
    .expect("item");
    store
        .add_thread_item(&thread.id, &item, &ctx)
        .await
        .expect("add");
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "SELECT m.owner_id, m.kind, m.role, m.content, c.id AS conversation
                 FROM {prefix}messages m JOIN {prefix}conversations c
                   ON c.owner_id = m.owner_id AND c.id = m.conversation_id
                 WHERE m.id = $1"
            ),
            ["msg_legacy".into()],
        ))
        .await
        .expect("select")
        .expect("row");
    let text = |column: &str| row.try_get::<String>("", column).expect(column);
    assert_eq!(text("owner_id"), "legacy-reader");
    assert_eq!(text("kind"), "user_message");
    assert_eq!(text("role"), "user");
    assert_eq!(text("content"), "How are you?");
    assert_eq!(text("conversation"), thread.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_positions_and_legacy_columns() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (store, url) = sqlite_store(directory.path(), "checks.db").await;
    let db = Database::connect(url.as_str())
        .await
        .expect("second connection");
    let journal = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .expect("pragma")
        .expect("row")
        .try_get_by_index::<String>(0)
        .expect("journal mode");
    assert_eq!(journal, "wal", "the store puts SQLite in WAL mode");
    check_gap_free_positions(store, &db, "").await;
    let (store, _) = sqlite_store(directory.path(), "checks.db").await;
    check_legacy_columns(store, &db, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_positions_and_legacy_columns() {
    let Some(mut schemas) = PostgresSchemas::connect().await else {
        return;
    };
    let (store, schema) = schemas.store().await;
    let prefix = format!("{schema}.");
    check_gap_free_positions(store, &schemas.admin, &prefix).await;
    let (store, schema) = schemas.store().await;
    check_legacy_columns(store, &schemas.admin, &format!("{schema}.")).await;
    schemas.drop_all().await;
}
