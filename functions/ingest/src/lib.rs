//! The `ingest` function's handler and configuration, as a library so tests (here and in the
//! workspace's end-to-end tests) call the very handler the binary runs.

pub mod config;
pub mod handler;
