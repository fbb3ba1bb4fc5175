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
//!
//! The cases live in one file per contract area (identity, threads, items, pagination,
//! attachments, feedback, isolation, concurrency); this file lists them and runs them.

mod attachments;
mod concurrency;
mod feedback;
mod identity;
mod isolation;
mod items;
mod pagination;
mod support;
mod threads;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use self::attachments::*;
pub use self::concurrency::*;
pub use self::feedback::*;
pub use self::identity::*;
pub use self::isolation::*;
pub use self::items::*;
pub use self::pagination::*;
pub use self::threads::*;
use crate::Store;

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
    add_item_and_save_thread_writes_both_or_neither,
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
