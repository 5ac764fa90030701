//! DynamoDB adapter: one table holds customers, their event logs, firings, tenant settings and
//! automations. `docs/data-model.md` describes every item and index.

pub(crate) mod admin;
pub(crate) mod aging;
pub mod items;
pub mod keys;
pub(crate) mod normalization;
pub(crate) mod outcomes;
pub mod setup;
pub(crate) mod store;

pub use store::DynamoStore;
