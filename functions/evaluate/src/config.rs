//! The function's configuration, read once from the environment at start-up.

use shared::adapters::aws::{ConfigError, ResourceNames, lookback_days};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_ALERTS_TOPIC_ARN`: where guardrail holds are announced.
    pub alerts_topic_arn: String,
    /// `RULEKIT_LOOKBACK_DAYS`: how many missed local dates a run catches up at most.
    pub lookback_days: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let alerts_topic_arn = get("RULEKIT_ALERTS_TOPIC_ARN")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError {
                variable: "RULEKIT_ALERTS_TOPIC_ARN",
                reason: "is required: the ARN of the alerts topic".to_owned(),
            })?;
        Ok(Self {
            names: ResourceNames::from_lookup(&get)?,
            alerts_topic_arn,
            lookback_days: lookback_days(&get)?,
        })
    }
}
