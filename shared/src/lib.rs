//! RuleKit's common crate.
//!
//! - [`domain`]: the past-due rules, pure (no AWS, no I/O, no clock).
//! - [`ports`]: what the application needs from storage and messaging.
//! - [`adapters`]: implementations of the ports (in memory here; DynamoDB and SNS alongside).
//! - [`app`]: the use cases every entry point runs: ingest, evaluate, execute, simulate.
//!
//! Layers point one way: `app` → `ports` → `domain`; adapters implement `ports`.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod ports;
