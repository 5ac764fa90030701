//! Synthetic data that RuleKit's tests and benches share, so that each is written once:
//! a seeded generator for reproducible random data, and the standard past-due tenant that
//! the evaluate and execute tests set up on the in-memory store and on DynamoDB alike.
//!
//! Not a dependency of any Lambda.

mod rng;
mod tenant;

pub use rng::SplitMix64;
pub use tenant::PastDueTenant;
