//! Builders and checks the cases share.

use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, Attachment, AttachmentBase, ClientToolCallItem,
    ClientToolCallStatus, EndOfTurnItem, FileAttachment, HiddenContextItem, InferenceOptions,
    Order, Page, SdkHiddenContextItem, ThreadItem, ThreadMetadata, UserMessageContent,
    UserMessageItem,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{ItemIdKind, RecordKind, Store, StoreContext, StoreError, generate_id};

pub(super) fn owner() -> StoreContext {
    StoreContext::new(format!("user-{}", generate_id(ItemIdKind::Message)))
}

pub(super) fn base_time() -> DateTime<Utc> {
    chatkit_protocol::time::now()
}

pub(super) async fn new_thread(
    store: &dyn Store,
    ctx: &StoreContext,
    created_at: DateTime<Utc>,
) -> String {
    let thread = ThreadMetadata::new(store.generate_thread_id(ctx), created_at);
    store
        .save_thread(&thread, ctx)
        .await
        .expect("save_thread of a new thread");
    thread.id
}

pub(super) fn user_message(thread_id: &str, text: &str, created_at: DateTime<Utc>) -> ThreadItem {
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

pub(super) fn assistant_message(
    thread_id: &str,
    text: &str,
    created_at: DateTime<Utc>,
) -> ThreadItem {
    ThreadItem::AssistantMessage(AssistantMessageItem {
        id: generate_id(ItemIdKind::Message),
        thread_id: thread_id.to_owned(),
        created_at,
        content: vec![AssistantMessageContent::text(text)],
    })
}

/// One item of each of the eleven kinds. Kinds whose inner types are large are built from their
/// wire JSON, which is also what the stores persist.
pub(super) fn one_of_each_kind(thread_id: &str, at: DateTime<Utc>) -> Vec<ThreadItem> {
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

pub(super) fn file_attachment(id: &str, metadata: Option<serde_json::Value>) -> Attachment {
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

pub(super) async fn add_all(
    store: &dyn Store,
    ctx: &StoreContext,
    thread_id: &str,
    items: &[ThreadItem],
) {
    for item in items {
        store
            .add_thread_item(thread_id, item, ctx)
            .await
            .expect("add_thread_item");
    }
}

pub(super) async fn all_items(
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

pub(super) fn ids(items: &[ThreadItem]) -> Vec<String> {
    items.iter().map(|item| item.id().to_owned()).collect()
}

/// Walks every page of the items listing and checks each page's shape.
pub(super) async fn walk_item_pages(
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

pub(super) fn expect_not_found<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    what: RecordKind,
    call: &str,
) {
    match result {
        Err(StoreError::NotFound { what: got, .. }) if got == what => {}
        other => panic!("{call}: expected NotFound {{ what: {what} }}, got {other:?}"),
    }
}

pub(super) fn expect_any_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, call: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{call}: expected NotFound, got {other:?}"),
    }
}

pub(super) fn expect_invalid_cursor<T: std::fmt::Debug>(result: Result<T, StoreError>, call: &str) {
    match result {
        Err(StoreError::InvalidCursor { .. }) => {}
        other => panic!("{call}: expected InvalidCursor, got {other:?}"),
    }
}
