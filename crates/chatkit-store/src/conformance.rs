//! The conformance suite of the [`Store`] contract, for every implementation.
//!
//! Each case is a named async function taking a fresh store, so a failure says which part of the
//! contract broke. [`run_all`] runs every case, each against a store from the caller's factory,
//! and reports failures by name instead of stopping at the first:
//!
//! ```
//! # async fn example() {
//! use std::sync::Arc;
//! use chatkit_store::{MemoryStore, Store, conformance};
//!
//! let report = conformance::run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> })
//!     .await;
//! report.assert_passed();
//! # }
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(example());
//! ```
//!
//! Cases use fresh random owners, so they also pass on a store that already holds data.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use chatkit_protocol::attachments::UploadMethod;
use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, Attachment, AttachmentBase,
    AttachmentUploadDescriptor, ClientToolCallItem, ClientToolCallStatus, EndOfTurnItem,
    FeedbackKind, FileAttachment, HiddenContextItem, ImageAttachment, InferenceOptions, Order,
    Page, SdkHiddenContextItem, ThreadItem, ThreadMetadata, ThreadStatus, UserMessageContent,
    UserMessageItem,
};
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use serde_json::json;

use crate::{ItemIdKind, RecordKind, Store, StoreContext, StoreError, generate_id};

/// One case of the suite.
pub struct Case {
    /// The contract point it checks, as a function name (`pagination_of_items_in_both_orders`).
    pub name: &'static str,
    /// Runs the case against a store; panics (with an explanation) when the contract is broken.
    pub run: fn(Arc<dyn Store>) -> BoxFuture<'static, ()>,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case of the suite, in a stable order.
        pub fn cases() -> Vec<Case> {
            vec![$(Case {
                name: stringify!($name),
                run: |store| Box::pin($name(store)),
            }),*]
        }
    };
}

cases!(
    generated_ids_carry_the_reference_prefixes,
    ping_answers,
    thread_round_trip_and_upsert,
    missing_thread_is_not_found,
    every_item_kind_round_trips,
    items_keep_insertion_order_when_timestamps_tie_or_go_backwards,
    pagination_of_items_in_both_orders,
    pagination_of_threads_in_both_orders,
    cursor_errors_are_errors_not_empty_pages,
    items_of_a_missing_thread_are_not_found,
    add_item_rejects_duplicates_and_foreign_thread_ids,
    save_item_upserts_in_place_or_appends,
    delete_item_removes_only_that_item,
    delete_thread_cascades_to_items_and_feedback,
    attachments_upsert_and_keep_metadata,
    feedback_is_all_or_nothing,
    isolation_between_owners_for_every_method,
    concurrent_writers_keep_a_gap_free_duplicate_free_order,
);

/// The outcome of [`run_all`].
#[derive(Debug, Default)]
pub struct Report {
    /// Names of the cases that passed.
    pub passed: Vec<&'static str>,
    /// Names of the cases that failed, with their panic messages.
    pub failed: Vec<(&'static str, String)>,
}

impl Report {
    /// Panics with every failed case and its message, so one run shows all broken points.
    pub fn assert_passed(&self) {
        if !self.failed.is_empty() {
            let details: Vec<String> = self
                .failed
                .iter()
                .map(|(name, message)| format!("  {name}: {message}"))
                .collect();
            panic!(
                "{} of {} store conformance cases failed:\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                details.join("\n")
            );
        }
    }
}

/// Runs every case of [`cases`], each on a store from `factory`, in a task of its own so that a
/// panicking case is reported by name and the others still run. Needs a Tokio runtime; use the
/// multi-thread flavour so that the concurrent-writer case really runs writers in parallel.
pub async fn run_all<F, Fut>(mut factory: F) -> Report
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let mut report = Report::default();
    for case in cases() {
        let store = factory().await;
        match tokio::spawn((case.run)(store)).await {
            Ok(()) => report.passed.push(case.name),
            Err(error) => {
                let message = match error.try_into_panic() {
                    Ok(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(error) => error.to_string(),
                };
                report.failed.push((case.name, message));
            }
        }
    }
    report
}

// ---------------------------------------------------------------------------------------------
// Builders.

fn owner() -> StoreContext {
    StoreContext::new(format!("user-{}", generate_id(ItemIdKind::Message)))
}

fn base_time() -> DateTime<Utc> {
    chatkit_protocol::time::now()
}

async fn new_thread(store: &dyn Store, ctx: &StoreContext, created_at: DateTime<Utc>) -> String {
    let thread = ThreadMetadata::new(store.generate_thread_id(ctx), created_at);
    store
        .save_thread(&thread, ctx)
        .await
        .expect("save_thread of a new thread");
    thread.id
}

fn user_message(thread_id: &str, text: &str, created_at: DateTime<Utc>) -> ThreadItem {
    ThreadItem::UserMessage(UserMessageItem {
        id: generate_id(ItemIdKind::Message),
        thread_id: thread_id.to_owned(),
        created_at,
        content: vec![UserMessageContent::text(text)],
        attachments: Vec::new(),
        quoted_text: None,
        inference_options: InferenceOptions::default(),
    })
}

fn assistant_message(thread_id: &str, text: &str, created_at: DateTime<Utc>) -> ThreadItem {
    ThreadItem::AssistantMessage(AssistantMessageItem {
        id: generate_id(ItemIdKind::Message),
        thread_id: thread_id.to_owned(),
        created_at,
        content: vec![AssistantMessageContent::text(text)],
    })
}

/// One item of each of the eleven kinds. Kinds whose inner types are large are built from their
/// wire JSON, which is also what the stores persist.
fn one_of_each_kind(thread_id: &str, at: DateTime<Utc>) -> Vec<ThreadItem> {
    let from_json = |value: serde_json::Value| -> ThreadItem {
        serde_json::from_value(value).expect("conformance fixture is a valid item")
    };
    let common = |kind: &str, prefix: ItemIdKind| {
        json!({
            "type": kind,
            "id": generate_id(prefix),
            "thread_id": thread_id,
            "created_at": chatkit_protocol::time::format(&at),
        })
    };
    let with = |mut value: serde_json::Value, extra: serde_json::Value| {
        if let (Some(target), Some(source)) = (value.as_object_mut(), extra.as_object()) {
            target.extend(source.clone());
        }
        from_json(value)
    };
    vec![
        ThreadItem::UserMessage(UserMessageItem {
            id: generate_id(ItemIdKind::Message),
            thread_id: thread_id.to_owned(),
            created_at: at,
            content: vec![
                UserMessageContent::text("Hello "),
                UserMessageContent::text("there"),
            ],
            attachments: vec![file_attachment(&generate_id(ItemIdKind::Attachment), None)],
            quoted_text: Some("quoted".to_owned()),
            inference_options: InferenceOptions {
                tool_choice: None,
                model: Some("gpt-test".to_owned()),
            },
        }),
        assistant_message(thread_id, "Hi! How can I help?", at),
        ThreadItem::ClientToolCall(ClientToolCallItem {
            id: generate_id(ItemIdKind::ToolCall),
            thread_id: thread_id.to_owned(),
            created_at: at,
            status: ClientToolCallStatus::Completed,
            call_id: "call_1".to_owned(),
            name: "get_weather".to_owned(),
            arguments: json!({"city": "Oslo", "units": ["c"]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            output: Some(json!({"temperature": 3})),
        }),
        with(
            common("widget", ItemIdKind::Message),
            json!({"widget": {"type": "Card", "children": [{"type": "Text", "value": "hi"}]},
                   "copy_text": "hi"}),
        ),
        with(
            common("generated_image", ItemIdKind::Message),
            json!({"image": {"id": "img_1", "url": "https://example.invalid/img.png"}}),
        ),
        with(
            common("structured_input", ItemIdKind::Message),
            json!({"status": "pending", "inputs": [
                {"type": "freeform", "id": "q1", "question": "Why?"},
                {"type": "multiple_choice", "id": "q2", "question": "Which?",
                 "options": [{"value": "a"}, {"value": "b"}], "multiple": true}
            ]}),
        ),
        with(
            common("workflow", ItemIdKind::Workflow),
            json!({"workflow": {"type": "reasoning", "expanded": false,
                   "summary": {"duration": 12},
                   "tasks": [{"type": "thought", "content": "thinking", "status_indicator": "complete"}]}}),
        ),
        with(
            common("task", ItemIdKind::Task),
            json!({"task": {"type": "custom", "title": "Step", "content": "done"}}),
        ),
        ThreadItem::HiddenContext(HiddenContextItem {
            id: generate_id(ItemIdKind::Message),
            thread_id: thread_id.to_owned(),
            created_at: at,
            content: json!({"note": "for the model only"}),
        }),
        ThreadItem::SdkHiddenContext(SdkHiddenContextItem {
            id: generate_id(ItemIdKind::SdkHiddenContext),
            thread_id: thread_id.to_owned(),
            created_at: at,
            content: "The user cancelled the stream.".to_owned(),
        }),
        ThreadItem::EndOfTurn(EndOfTurnItem {
            id: generate_id(ItemIdKind::Message),
            thread_id: thread_id.to_owned(),
            created_at: at,
        }),
    ]
}

fn file_attachment(id: &str, metadata: Option<serde_json::Value>) -> Attachment {
    Attachment::File(FileAttachment {
        base: AttachmentBase {
            id: id.to_owned(),
            name: "report.pdf".to_owned(),
            mime_type: "application/pdf".to_owned(),
            upload_descriptor: None,
            thread_id: None,
            metadata: metadata.and_then(|value| value.as_object().cloned()),
        },
    })
}

async fn add_all(store: &dyn Store, ctx: &StoreContext, thread_id: &str, items: &[ThreadItem]) {
    for item in items {
        store
            .add_thread_item(thread_id, item, ctx)
            .await
            .expect("add_thread_item");
    }
}

async fn all_items(
    store: &dyn Store,
    ctx: &StoreContext,
    thread_id: &str,
    order: Order,
) -> Vec<ThreadItem> {
    store
        .load_thread_items(thread_id, None, 10_000, order, ctx)
        .await
        .expect("load_thread_items")
        .data
}

fn ids(items: &[ThreadItem]) -> Vec<String> {
    items.iter().map(|item| item.id().to_owned()).collect()
}

/// Walks every page of the items listing and checks each page's shape.
async fn walk_item_pages(
    store: &dyn Store,
    ctx: &StoreContext,
    thread_id: &str,
    limit: usize,
    order: Order,
) -> Vec<Page<ThreadItem>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .load_thread_items(thread_id, after.as_deref(), limit, order, ctx)
            .await
            .expect("load_thread_items page");
        assert!(
            page.data.len() <= limit,
            "a page holds at most `limit` items"
        );
        assert_eq!(
            page.after.as_deref(),
            page.data.last().map(|item| item.id()),
            "`after` of a page is the id of its last item"
        );
        let has_more = page.has_more;
        after = page.after.clone();
        pages.push(page);
        assert!(pages.len() < 1000, "pagination does not terminate");
        if !has_more {
            return pages;
        }
    }
}

fn expect_not_found<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    what: RecordKind,
    call: &str,
) {
    match result {
        Err(StoreError::NotFound { what: got, .. }) if got == what => {}
        other => panic!("{call}: expected NotFound {{ what: {what} }}, got {other:?}"),
    }
}

fn expect_any_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, call: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{call}: expected NotFound, got {other:?}"),
    }
}

fn expect_invalid_cursor<T: std::fmt::Debug>(result: Result<T, StoreError>, call: &str) {
    match result {
        Err(StoreError::InvalidCursor { .. }) => {}
        other => panic!("{call}: expected InvalidCursor, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// Ids use the reference's prefixes and differ from call to call.
pub async fn generated_ids_carry_the_reference_prefixes(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = store.generate_thread_id(&ctx);
    assert!(thread_id.starts_with("thr_"), "thread id {thread_id}");
    let thread = ThreadMetadata::new(thread_id.clone(), base_time());
    for (kind, prefix) in [
        (ItemIdKind::Message, "msg_"),
        (ItemIdKind::ToolCall, "tc_"),
        (ItemIdKind::Task, "tsk_"),
        (ItemIdKind::Workflow, "wf_"),
        (ItemIdKind::Attachment, "atc_"),
        (ItemIdKind::SdkHiddenContext, "shcx_"),
    ] {
        let id = store.generate_item_id(kind, &thread, &ctx);
        assert!(id.starts_with(prefix), "{kind:?} id {id}");
        assert!(
            id.len() >= prefix.len() + 16,
            "{id} has too little randomness"
        );
    }
    assert_ne!(store.generate_thread_id(&ctx), thread_id);
}

/// The health check succeeds on a working store.
pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

/// A saved thread loads back equal; saving again replaces it rather than adding a second one.
pub async fn thread_round_trip_and_upsert(store: Arc<dyn Store>) {
    let ctx = owner();
    let mut thread = ThreadMetadata::new(store.generate_thread_id(&ctx), base_time());
    thread.title = Some("Weather in Oslo".to_owned());
    thread.status = ThreadStatus::Locked {
        reason: Some("quota".to_owned()),
    };
    thread.allowed_image_domains = Some(vec!["images.example.invalid".to_owned()]);
    thread.metadata = json!({"crm": {"ticket": 42, "tags": ["a", "b"]}, "flag": true})
        .as_object()
        .cloned()
        .unwrap_or_default();
    store.save_thread(&thread, &ctx).await.expect("save_thread");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );

    thread.title = Some("Renamed".to_owned());
    thread.status = ThreadStatus::Closed { reason: None };
    thread.allowed_image_domains = None;
    store
        .save_thread(&thread, &ctx)
        .await
        .expect("save_thread (update)");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );
    thread.status = ThreadStatus::Active;
    store
        .save_thread(&thread, &ctx)
        .await
        .expect("save_thread (reactivate)");
    assert_eq!(
        store
            .load_thread(&thread.id, &ctx)
            .await
            .expect("load_thread"),
        thread
    );

    let page = store
        .load_threads(10, None, Order::Asc, &ctx)
        .await
        .expect("load_threads");
    assert_eq!(
        page.data,
        vec![thread],
        "an upsert must not duplicate the thread"
    );
    assert!(!page.has_more);
}

/// Unknown threads are `NotFound` for load and delete.
pub async fn missing_thread_is_not_found(store: Arc<dyn Store>) {
    let ctx = owner();
    let id = store.generate_thread_id(&ctx);
    expect_not_found(
        store.load_thread(&id, &ctx).await,
        RecordKind::Thread,
        "load_thread",
    );
    expect_not_found(
        store.delete_thread(&id, &ctx).await,
        RecordKind::Thread,
        "delete_thread",
    );
    let page = store
        .load_threads(5, None, Order::Desc, &ctx)
        .await
        .expect("load_threads");
    assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
}

/// Each of the eleven kinds loads back equal, through a page and through `load_item`.
pub async fn every_item_kind_round_trips(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items = one_of_each_kind(&thread_id, base_time());
    assert_eq!(items.len(), 11);
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    assert_eq!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await,
        items
    );
    for item in &items {
        let loaded = store
            .load_item(&thread_id, item.id(), &ctx)
            .await
            .expect("load_item");
        assert_eq!(&loaded, item, "{} round trip", item.kind());
    }
}

/// Order is the order of addition, whatever `created_at` says.
pub async fn items_keep_insertion_order_when_timestamps_tie_or_go_backwards(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let tied = base_time();
    let mut items = Vec::new();
    for n in 0..6 {
        items.push(user_message(&thread_id, &format!("tied {n}"), tied));
    }
    for n in 0..6 {
        items.push(assistant_message(
            &thread_id,
            &format!("older {n}"),
            tied - Duration::seconds(n + 1),
        ));
    }
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        ids(&items)
    );
    let mut reversed = ids(&items);
    reversed.reverse();
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Desc).await),
        reversed
    );
}

/// Pages of items, in both orders, across page boundaries, including the exact-fit case.
pub async fn pagination_of_items_in_both_orders(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..23)
        .map(|n| user_message(&thread_id, &format!("message {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let ascending = ids(&items);
    let mut descending = ascending.clone();
    descending.reverse();

    for (order, expected) in [(Order::Asc, &ascending), (Order::Desc, &descending)] {
        for limit in [1, 5, 10, 22, 23, 24, 100] {
            let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, limit, order).await;
            let sizes: Vec<usize> = pages.iter().map(|page| page.data.len()).collect();
            let walked: Vec<String> = pages.iter().flat_map(|page| ids(&page.data)).collect();
            assert_eq!(&walked, expected, "{order:?} pages of {limit}: {sizes:?}");
            let expected_pages = expected.len().div_ceil(limit);
            assert_eq!(
                pages.len(),
                expected_pages,
                "{order:?} pages of {limit}: `has_more` must be false exactly on the last page"
            );
        }
        // A page in the middle, from an explicit cursor.
        let page = store
            .load_thread_items(&thread_id, Some(&expected[4]), 3, order, &ctx)
            .await
            .expect("page after the fifth item");
        assert_eq!(
            ids(&page.data),
            expected[5..8].to_vec(),
            "{order:?} page after a cursor"
        );
        assert!(page.has_more);
        // The last item as cursor gives an empty final page, not an error.
        let last = expected.last().expect("items exist");
        let page = store
            .load_thread_items(&thread_id, Some(last), 3, order, &ctx)
            .await
            .expect("page after the last item");
        assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
    }
}

/// Pages of threads by `created_at` (ties broken by id), both orders.
pub async fn pagination_of_threads_in_both_orders(store: Arc<dyn Store>) {
    let ctx = owner();
    let start = base_time();
    let mut threads = Vec::new();
    for n in 0..9i64 {
        // Three pairs share a timestamp, and creation order differs from time order.
        let created_at = start - Duration::seconds((n * 7) % 5);
        let thread = ThreadMetadata::new(store.generate_thread_id(&ctx), created_at);
        store.save_thread(&thread, &ctx).await.expect("save_thread");
        threads.push(thread);
    }
    threads.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let ascending: Vec<String> = threads.iter().map(|t| t.id.clone()).collect();
    let mut descending = ascending.clone();
    descending.reverse();
    for (order, expected) in [(Order::Asc, &ascending), (Order::Desc, &descending)] {
        for limit in [1, 2, 4, 9, 10] {
            let mut walked = Vec::new();
            let mut after: Option<String> = None;
            let mut pages = 0;
            loop {
                let page = store
                    .load_threads(limit, after.as_deref(), order, &ctx)
                    .await
                    .expect("load_threads");
                pages += 1;
                assert!(page.data.len() <= limit);
                assert_eq!(
                    page.after.as_deref(),
                    page.data.last().map(|t| t.id.as_str())
                );
                walked.extend(page.data.iter().map(|t| t.id.clone()));
                if !page.has_more {
                    break;
                }
                after = page.after;
                assert!(pages < 100, "pagination does not terminate");
            }
            assert_eq!(&walked, expected, "{order:?} thread pages of {limit}");
            assert_eq!(
                pages,
                expected.len().div_ceil(limit),
                "{order:?} limit {limit}"
            );
        }
    }
}

/// A cursor that names nothing in the listing is an error; so is a zero limit.
pub async fn cursor_errors_are_errors_not_empty_pages(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let other_thread = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let elsewhere = user_message(&other_thread, "elsewhere", base_time());
    add_all(
        store.as_ref(),
        &ctx,
        &other_thread,
        std::slice::from_ref(&elsewhere),
    )
    .await;

    for order in [Order::Asc, Order::Desc] {
        expect_invalid_cursor(
            store
                .load_thread_items(&thread_id, Some("msg_unknown"), 10, order, &ctx)
                .await,
            "items after an unknown id",
        );
        expect_invalid_cursor(
            store
                .load_thread_items(&thread_id, Some(elsewhere.id()), 10, order, &ctx)
                .await,
            "items after an item of another thread",
        );
        expect_invalid_cursor(
            store
                .load_threads(10, Some("thr_unknown"), order, &ctx)
                .await,
            "threads after an unknown id",
        );
    }
    store
        .delete_thread_item(&thread_id, items[1].id(), &ctx)
        .await
        .expect("delete_thread_item");
    expect_invalid_cursor(
        store
            .load_thread_items(&thread_id, Some(items[1].id()), 10, Order::Asc, &ctx)
            .await,
        "items after a deleted item",
    );
    for result in [
        store
            .load_thread_items(&thread_id, None, 0, Order::Asc, &ctx)
            .await
            .map(|_| ()),
        store
            .load_threads(0, None, Order::Asc, &ctx)
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(StoreError::InvalidInput(_))),
            "limit 0 must be InvalidInput, got {result:?}"
        );
    }
}

/// Every item operation on a thread that does not exist is `NotFound`.
pub async fn items_of_a_missing_thread_are_not_found(store: Arc<dyn Store>) {
    let ctx = owner();
    let missing = store.generate_thread_id(&ctx);
    let item = user_message(&missing, "hello", base_time());
    expect_not_found(
        store
            .load_thread_items(&missing, None, 10, Order::Asc, &ctx)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    expect_not_found(
        store.add_thread_item(&missing, &item, &ctx).await,
        RecordKind::Thread,
        "add_thread_item",
    );
    expect_not_found(
        store.save_item(&missing, &item, &ctx).await,
        RecordKind::Thread,
        "save_item",
    );
    expect_not_found(
        store.load_item(&missing, item.id(), &ctx).await,
        RecordKind::Item,
        "load_item",
    );
    expect_any_not_found(
        store.delete_thread_item(&missing, item.id(), &ctx).await,
        "delete_thread_item",
    );
    // An empty thread that exists is an empty page, not an error.
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let page = store
        .load_thread_items(&thread_id, None, 10, Order::Desc, &ctx)
        .await
        .expect("items of an empty thread");
    assert!(page.data.is_empty() && !page.has_more && page.after.is_none());
}

/// Adding an id twice is a `Conflict`; an item naming another thread is `InvalidInput`.
pub async fn add_item_rejects_duplicates_and_foreign_thread_ids(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let other = new_thread(store.as_ref(), &ctx, base_time()).await;
    let item = user_message(&thread_id, "once", base_time());
    store
        .add_thread_item(&thread_id, &item, &ctx)
        .await
        .expect("first add");
    let result = store.add_thread_item(&thread_id, &item, &ctx).await;
    assert!(
        matches!(
            result,
            Err(StoreError::Conflict {
                what: RecordKind::Item,
                ..
            })
        ),
        "second add of the same id: {result:?}"
    );
    let foreign = user_message(&other, "wrong thread", base_time());
    let result = store.add_thread_item(&thread_id, &foreign, &ctx).await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    let result = store.save_item(&thread_id, &foreign, &ctx).await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        vec![item.id().to_owned()]
    );
    assert!(
        all_items(store.as_ref(), &ctx, &other, Order::Asc)
            .await
            .is_empty()
    );
    // The same item id may exist in another thread: ids are unique per thread.
    let mut twin = item.clone();
    twin.set_thread_id(other.clone());
    store
        .add_thread_item(&other, &twin, &ctx)
        .await
        .expect("same id in another thread");
}

/// `save_item` replaces an existing item where it stands and appends a new one.
pub async fn save_item_upserts_in_place_or_appends(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut items: Vec<ThreadItem> = (0..4)
        .map(|n| assistant_message(&thread_id, &format!("draft {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;

    let ThreadItem::AssistantMessage(mut second) = items[1].clone() else {
        panic!("fixture is an assistant message");
    };
    second.content = vec![AssistantMessageContent::text("final text")];
    items[1] = ThreadItem::AssistantMessage(second);
    store
        .save_item(&thread_id, &items[1], &ctx)
        .await
        .expect("save_item (update)");

    let appended = user_message(&thread_id, "new via save_item", base_time());
    store
        .save_item(&thread_id, &appended, &ctx)
        .await
        .expect("save_item (insert)");
    items.push(appended);

    assert_eq!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await,
        items
    );
    assert_eq!(
        store
            .load_item(&thread_id, items[1].id(), &ctx)
            .await
            .expect("load_item"),
        items[1]
    );
}

/// Deleting an item removes it from every read; the others keep their order.
pub async fn delete_item_removes_only_that_item(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut items: Vec<ThreadItem> = (0..5)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let removed = items.remove(2);
    store
        .delete_thread_item(&thread_id, removed.id(), &ctx)
        .await
        .expect("delete_thread_item");
    expect_not_found(
        store.load_item(&thread_id, removed.id(), &ctx).await,
        RecordKind::Item,
        "load_item after delete",
    );
    expect_not_found(
        store
            .delete_thread_item(&thread_id, removed.id(), &ctx)
            .await,
        RecordKind::Item,
        "second delete_thread_item",
    );
    let later = user_message(&thread_id, "after the delete", base_time());
    store
        .add_thread_item(&thread_id, &later, &ctx)
        .await
        .expect("add after delete");
    items.push(later);
    assert_eq!(
        ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await),
        ids(&items)
    );
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 2, Order::Desc).await;
    let mut expected = ids(&items);
    expected.reverse();
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        expected
    );
}

/// Deleting a thread removes its items and feedback; nothing survives into a new thread that
/// reuses the id.
pub async fn delete_thread_cascades_to_items_and_feedback(store: Arc<dyn Store>) {
    let ctx = owner();
    let created_at = base_time();
    let thread_id = new_thread(store.as_ref(), &ctx, created_at).await;
    let keep = new_thread(store.as_ref(), &ctx, created_at).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread_id, &format!("m{n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let kept_item = user_message(&keep, "stays", base_time());
    add_all(
        store.as_ref(),
        &ctx,
        &keep,
        std::slice::from_ref(&kept_item),
    )
    .await;
    store
        .save_feedback(
            &thread_id,
            &[items[0].id().to_owned()],
            FeedbackKind::Positive,
            &ctx,
        )
        .await
        .expect("save_feedback");

    store
        .delete_thread(&thread_id, &ctx)
        .await
        .expect("delete_thread");
    expect_not_found(
        store.load_thread(&thread_id, &ctx).await,
        RecordKind::Thread,
        "load_thread",
    );
    expect_not_found(
        store
            .load_thread_items(&thread_id, None, 10, Order::Asc, &ctx)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    for item in &items {
        expect_not_found(
            store.load_item(&thread_id, item.id(), &ctx).await,
            RecordKind::Item,
            "load_item",
        );
    }
    expect_any_not_found(
        store.load_feedback(&thread_id, items[0].id(), &ctx).await,
        "load_feedback",
    );
    let listed = store
        .load_threads(10, None, Order::Asc, &ctx)
        .await
        .expect("load_threads");
    assert_eq!(
        listed
            .data
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        vec![keep.as_str()]
    );
    assert_eq!(
        all_items(store.as_ref(), &ctx, &keep, Order::Asc).await,
        vec![kept_item]
    );

    // Re-creating the id starts empty: no orphaned items, positions or feedback.
    store
        .save_thread(&ThreadMetadata::new(thread_id.clone(), created_at), &ctx)
        .await
        .expect("save_thread again");
    assert!(
        all_items(store.as_ref(), &ctx, &thread_id, Order::Asc)
            .await
            .is_empty()
    );
    store
        .add_thread_item(&thread_id, &items[0], &ctx)
        .await
        .expect("re-add the old id");
    assert_eq!(
        store
            .load_feedback(&thread_id, items[0].id(), &ctx)
            .await
            .expect("feedback"),
        None
    );
}

/// Attachment metadata is upserted by id, keeps its integration `metadata` (which the wire form
/// drops), and is deleted once.
pub async fn attachments_upsert_and_keep_metadata(store: Arc<dyn Store>) {
    let ctx = owner();
    let id = generate_id(ItemIdKind::Attachment);
    let mut attachment = file_attachment(&id, Some(json!({"bucket": "b1", "size": 1234})));
    attachment.base_mut().upload_descriptor = Some(AttachmentUploadDescriptor {
        url: "https://upload.example.invalid/x".to_owned(),
        method: UploadMethod::Put,
        headers: [("x-token".to_owned(), "abc".to_owned())]
            .into_iter()
            .collect(),
    });
    store
        .save_attachment(&attachment, &ctx)
        .await
        .expect("save_attachment");
    assert_eq!(
        store
            .load_attachment(&id, &ctx)
            .await
            .expect("load_attachment"),
        attachment
    );

    attachment.base_mut().upload_descriptor = None;
    attachment.base_mut().thread_id = Some(store.generate_thread_id(&ctx));
    attachment.base_mut().name = "renamed.pdf".to_owned();
    attachment.base_mut().metadata = None;
    store
        .save_attachment(&attachment, &ctx)
        .await
        .expect("save_attachment (update)");
    assert_eq!(
        store
            .load_attachment(&id, &ctx)
            .await
            .expect("load_attachment"),
        attachment
    );

    let image = Attachment::Image(ImageAttachment {
        base: AttachmentBase {
            id: generate_id(ItemIdKind::Attachment),
            name: "cat.png".to_owned(),
            mime_type: "image/png".to_owned(),
            upload_descriptor: None,
            thread_id: None,
            metadata: json!({"w": 10}).as_object().cloned(),
        },
        preview_url: "https://cdn.example.invalid/cat.png".to_owned(),
    });
    store
        .save_attachment(&image, &ctx)
        .await
        .expect("save image");
    assert_eq!(
        store
            .load_attachment(image.id(), &ctx)
            .await
            .expect("load image"),
        image
    );

    store
        .delete_attachment(&id, &ctx)
        .await
        .expect("delete_attachment");
    expect_not_found(
        store.load_attachment(&id, &ctx).await,
        RecordKind::Attachment,
        "load after delete",
    );
    expect_not_found(
        store.delete_attachment(&id, &ctx).await,
        RecordKind::Attachment,
        "second delete",
    );
    assert_eq!(
        store
            .load_attachment(image.id(), &ctx)
            .await
            .expect("image stays"),
        image
    );
}

/// Feedback is recorded for every listed item or for none.
pub async fn feedback_is_all_or_nothing(store: Arc<dyn Store>) {
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| assistant_message(&thread_id, &format!("answer {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &ctx, &thread_id, &items).await;
    let item_ids = ids(&items);
    let feedback = |id: String| {
        let store = store.clone();
        let ctx = ctx.clone();
        let thread_id = thread_id.clone();
        async move {
            store
                .load_feedback(&thread_id, &id, &ctx)
                .await
                .expect("load_feedback")
        }
    };

    store
        .save_feedback(&thread_id, &item_ids[..2], FeedbackKind::Positive, &ctx)
        .await
        .expect("save_feedback");
    assert_eq!(
        feedback(item_ids[0].clone()).await,
        Some(FeedbackKind::Positive)
    );
    assert_eq!(
        feedback(item_ids[1].clone()).await,
        Some(FeedbackKind::Positive)
    );
    assert_eq!(feedback(item_ids[2].clone()).await, None);

    store
        .save_feedback(&thread_id, &item_ids[1..2], FeedbackKind::Negative, &ctx)
        .await
        .expect("save_feedback (change)");
    assert_eq!(
        feedback(item_ids[1].clone()).await,
        Some(FeedbackKind::Negative)
    );

    let with_unknown = vec![
        item_ids[0].clone(),
        item_ids[2].clone(),
        "msg_unknown".to_owned(),
    ];
    expect_not_found(
        store
            .save_feedback(&thread_id, &with_unknown, FeedbackKind::Negative, &ctx)
            .await,
        RecordKind::Item,
        "save_feedback with an unknown item",
    );
    assert_eq!(
        feedback(item_ids[0].clone()).await,
        Some(FeedbackKind::Positive),
        "unchanged"
    );
    assert_eq!(
        feedback(item_ids[2].clone()).await,
        None,
        "nothing recorded"
    );

    let result = store
        .save_feedback(&thread_id, &[], FeedbackKind::Positive, &ctx)
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidInput(_))),
        "{result:?}"
    );
    expect_not_found(
        store
            .save_feedback("thr_missing", &item_ids[..1], FeedbackKind::Positive, &ctx)
            .await,
        RecordKind::Thread,
        "save_feedback on a missing thread",
    );
    // Deleting an item takes its feedback with it.
    store
        .delete_thread_item(&thread_id, &item_ids[0], &ctx)
        .await
        .expect("delete item");
    store
        .add_thread_item(&thread_id, &items[0], &ctx)
        .await
        .expect("re-add");
    assert_eq!(feedback(item_ids[0].clone()).await, None);
}

/// Another owner's records behave exactly like missing ones, through every method, and nothing
/// that owner does changes them.
pub async fn isolation_between_owners_for_every_method(store: Arc<dyn Store>) {
    let alice = owner();
    let bob = owner();
    let mut thread = ThreadMetadata::new(store.generate_thread_id(&alice), base_time());
    thread.title = Some("Alice's".to_owned());
    store
        .save_thread(&thread, &alice)
        .await
        .expect("alice save_thread");
    let items: Vec<ThreadItem> = (0..3)
        .map(|n| user_message(&thread.id, &format!("secret {n}"), base_time()))
        .collect();
    add_all(store.as_ref(), &alice, &thread.id, &items).await;
    store
        .save_feedback(
            &thread.id,
            &ids(&items[..1]),
            FeedbackKind::Positive,
            &alice,
        )
        .await
        .expect("alice feedback");
    let attachment_id = generate_id(ItemIdKind::Attachment);
    let attachment = file_attachment(&attachment_id, Some(json!({"owner": "alice"})));
    store
        .save_attachment(&attachment, &alice)
        .await
        .expect("alice attachment");

    let first = items[0].id();
    let intruder = user_message(&thread.id, "bob was here", base_time());
    let mut rewrite = items[1].clone();
    if let ThreadItem::UserMessage(message) = &mut rewrite {
        message.content = vec![UserMessageContent::text("rewritten by bob")];
    }

    // Reads.
    expect_not_found(
        store.load_thread(&thread.id, &bob).await,
        RecordKind::Thread,
        "load_thread",
    );
    let bobs = store
        .load_threads(10, None, Order::Desc, &bob)
        .await
        .expect("bob load_threads");
    assert!(bobs.data.is_empty(), "bob lists alice's thread");
    expect_invalid_cursor(
        store
            .load_threads(10, Some(&thread.id), Order::Desc, &bob)
            .await,
        "load_threads after alice's thread",
    );
    expect_not_found(
        store
            .load_thread_items(&thread.id, None, 10, Order::Asc, &bob)
            .await,
        RecordKind::Thread,
        "load_thread_items",
    );
    expect_any_not_found(
        store
            .load_thread_items(&thread.id, Some(first), 10, Order::Asc, &bob)
            .await,
        "load_thread_items with alice's cursor",
    );
    expect_not_found(
        store.load_item(&thread.id, first, &bob).await,
        RecordKind::Item,
        "load_item",
    );
    expect_not_found(
        store.load_attachment(&attachment_id, &bob).await,
        RecordKind::Attachment,
        "load_attachment",
    );
    expect_any_not_found(
        store.load_feedback(&thread.id, first, &bob).await,
        "load_feedback",
    );

    // Writes.
    expect_not_found(
        store.add_thread_item(&thread.id, &intruder, &bob).await,
        RecordKind::Thread,
        "add_thread_item",
    );
    expect_not_found(
        store.save_item(&thread.id, &rewrite, &bob).await,
        RecordKind::Thread,
        "save_item",
    );
    expect_any_not_found(
        store
            .save_feedback(&thread.id, &ids(&items), FeedbackKind::Negative, &bob)
            .await,
        "save_feedback",
    );
    expect_any_not_found(
        store.delete_thread_item(&thread.id, first, &bob).await,
        "delete_thread_item",
    );
    expect_not_found(
        store.delete_thread(&thread.id, &bob).await,
        RecordKind::Thread,
        "delete_thread",
    );
    expect_not_found(
        store.delete_attachment(&attachment_id, &bob).await,
        RecordKind::Attachment,
        "delete_attachment",
    );

    // Bob may use the same ids: he gets records of his own, and alice's stay untouched.
    let mut bobs_thread = ThreadMetadata::new(thread.id.clone(), base_time());
    bobs_thread.title = Some("Bob's".to_owned());
    store
        .save_thread(&bobs_thread, &bob)
        .await
        .expect("bob save_thread with the same id");
    store
        .add_thread_item(&thread.id, &items[0], &bob)
        .await
        .expect("bob adds the same item id");
    let bobs_attachment = file_attachment(&attachment_id, Some(json!({"owner": "bob"})));
    store
        .save_attachment(&bobs_attachment, &bob)
        .await
        .expect("bob save_attachment");
    assert_eq!(
        store
            .load_thread(&thread.id, &bob)
            .await
            .expect("bob's thread"),
        bobs_thread
    );
    assert_eq!(
        all_items(store.as_ref(), &bob, &thread.id, Order::Asc).await,
        vec![items[0].clone()]
    );
    store
        .delete_thread(&thread.id, &bob)
        .await
        .expect("bob deletes his thread");
    store
        .delete_attachment(&attachment_id, &bob)
        .await
        .expect("bob deletes his attachment");

    // Alice sees exactly what she wrote.
    assert_eq!(
        store
            .load_thread(&thread.id, &alice)
            .await
            .expect("alice's thread"),
        thread
    );
    assert_eq!(
        all_items(store.as_ref(), &alice, &thread.id, Order::Asc).await,
        items
    );
    assert_eq!(
        store
            .load_feedback(&thread.id, first, &alice)
            .await
            .expect("alice feedback"),
        Some(FeedbackKind::Positive)
    );
    assert_eq!(
        store
            .load_feedback(&thread.id, items[1].id(), &alice)
            .await
            .expect("alice feedback"),
        None
    );
    assert_eq!(
        store
            .load_attachment(&attachment_id, &alice)
            .await
            .expect("alice attachment"),
        attachment
    );
    let listed = store
        .load_threads(10, None, Order::Asc, &alice)
        .await
        .expect("alice threads");
    assert_eq!(listed.data, vec![thread]);
}

/// Eight writers appending to one thread at once: every item lands exactly once, each writer's
/// items keep their relative order, and pages agree with the full listing.
pub async fn concurrent_writers_keep_a_gap_free_duplicate_free_order(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let ctx = owner();
    let thread_id = new_thread(store.as_ref(), &ctx, base_time()).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let ctx = ctx.clone();
        let thread_id = thread_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for n in 0..PER_WRITER {
                let item = user_message(&thread_id, &format!("w{writer} n{n}"), base_time());
                // Half the writers use the upsert path, which must append the same way.
                if writer % 2 == 0 {
                    store.add_thread_item(&thread_id, &item, &ctx).await
                } else {
                    store.save_item(&thread_id, &item, &ctx).await
                }
                .expect("concurrent write");
                written.push(item.id().to_owned());
            }
            written
        }));
    }
    let mut per_writer = Vec::new();
    for task in tasks {
        per_writer.push(task.await.expect("writer task"));
    }
    let listed = ids(&all_items(store.as_ref(), &ctx, &thread_id, Order::Asc).await);
    assert_eq!(
        listed.len(),
        WRITERS * PER_WRITER,
        "every write is listed once"
    );
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no duplicates");
    for written in &per_writer {
        let positions: Vec<usize> = written
            .iter()
            .map(|id| {
                listed
                    .iter()
                    .position(|listed| listed == id)
                    .expect("listed")
            })
            .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "a writer's items keep the order in which it added them"
        );
    }
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 7, Order::Asc).await;
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        listed
    );
    let pages = walk_item_pages(store.as_ref(), &ctx, &thread_id, 9, Order::Desc).await;
    let mut reversed = listed.clone();
    reversed.reverse();
    assert_eq!(
        pages.iter().flat_map(|p| ids(&p.data)).collect::<Vec<_>>(),
        reversed
    );
}
