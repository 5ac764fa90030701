//! Implementations of the ports, one module per technology.

pub mod memory;

pub use memory::{MemoryPublisher, MemoryStore};
