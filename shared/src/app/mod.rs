//! The use cases, generic over the ports: the Lambdas, the API and the CLI call these, so every
//! entry point runs the same code.

pub mod evaluate;
pub mod execute;
pub mod explain;
pub mod ingest;
pub mod normalize;
pub mod recheck;
pub mod report;
pub mod schedule;
pub mod simulate;
