//! Ids the store generates, and its health check.

use std::sync::Arc;

use chatkit_protocol::ThreadMetadata;

use crate::{ItemIdKind, Store};

use super::support::*;

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
