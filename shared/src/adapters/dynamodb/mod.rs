//! DynamoDB adapter: one table holds customers, their event logs, firings, tenant settings and
//! automations. `docs/data-model.md` describes every item and index.

mod admin;
mod aging;
pub mod items;
pub mod keys;
mod normalization;
mod outcomes;
pub mod setup;
mod store;

pub use store::DynamoStore;
