//! The function's configuration, read once from the environment at start-up.

use shared::adapters::aws::{ConfigError, ResourceNames};
use shared::adapters::sns::Topics;

pub const DEFAULT_BATCH: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_FINANCE_TOPIC_ARN`, `RULEKIT_CUSTOMER_MESSAGES_TOPIC_ARN`,
    /// `RULEKIT_COMMANDS_TOPIC_ARN`, `RULEKIT_ALERTS_TOPIC_ARN`.
    pub topics: Topics,
    /// `RULEKIT_EXECUTE_BATCH`: firings carried out per invocation at most.
    pub batch: usize,
    /// `RULEKIT_FAILED_FIRINGS_QUEUE_URL`: where firings that kept failing go.
    pub failed_firings_queue_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |variable: &'static str, what: &str| {
            get(variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError {
                    variable,
                    reason: format!("is required: {what}"),
                })
        };
        let arn = |variable| required(variable, "a topic ARN");
        let batch = match get("RULEKIT_EXECUTE_BATCH") {
            None => DEFAULT_BATCH,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "RULEKIT_EXECUTE_BATCH",
                        reason: format!("must be a whole number from 1 to 10000, got {v:?}"),
                    });
                }
            },
        };
        Ok(Self {
            names: ResourceNames::from_lookup(&get)?,
            topics: Topics {
                finance: arn("RULEKIT_FINANCE_TOPIC_ARN")?,
                customer_messages: arn("RULEKIT_CUSTOMER_MESSAGES_TOPIC_ARN")?,
                commands: arn("RULEKIT_COMMANDS_TOPIC_ARN")?,
                alerts: arn("RULEKIT_ALERTS_TOPIC_ARN")?,
            },
            batch,
            failed_firings_queue_url: required("RULEKIT_FAILED_FIRINGS_QUEUE_URL", "a queue URL")?,
        })
    }
}
