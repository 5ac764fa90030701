//! The function's configuration, read once from the environment at start-up.

use shared::adapters::aws::{ConfigError, ResourceNames};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_INGEST_DLQ_URL`: where events that can never be applied go, with the reason.
    pub dead_letter_queue_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let dead_letter_queue_url = get("RULEKIT_INGEST_DLQ_URL")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError {
                variable: "RULEKIT_INGEST_DLQ_URL",
                reason: "is required: the URL of the ingest queue's dead-letter queue".to_owned(),
            })?;
        Ok(Self {
            names: ResourceNames::from_lookup(&get)?,
            dead_letter_queue_url,
        })
    }
}
