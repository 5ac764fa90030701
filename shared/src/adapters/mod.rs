//! Implementations of the ports, one module per technology.

pub mod aws;
pub mod dynamodb;
pub mod emf;
#[cfg(feature = "file-store")]
pub mod file;
pub mod memory;
pub mod sns;
pub mod sqs;

pub use dynamodb::DynamoStore;
#[cfg(feature = "file-store")]
pub use file::FileStore;
pub use memory::{MemoryDeadLetters, MemoryPublisher, MemoryStore};
pub use sns::SnsPublisher;
pub use sqs::SqsDeadLetters;
