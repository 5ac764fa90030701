//! The `execute` function's handler and configuration, as a library so tests call the very
//! handler the binary runs.

pub mod config;
pub mod handler;
