#![doc = include_str!("../README.md")]

use sea_orm_migration::prelude::*;

mod locked;
mod m20250101_000001_create_conversations;
mod m20261130_000001_create_rate_limits;

pub use locked::apply_pending_migrations;
pub use sea_orm_migration::MigratorTrait;

/// Every migration of the chatkit-store schema, oldest first.
///
/// The store runs it at start-up (`StoreConfig::run_migrations`) and the `chatkit-migration`
/// binary runs it on its own, so operators can migrate before rolling out a new server.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_conversations::Migration),
            Box::new(m20261130_000001_create_rate_limits::Migration),
        ]
    }
}
