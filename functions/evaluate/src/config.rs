//! The function's configuration, read once from the environment at start-up.

use shared::adapters::aws::{ConfigError, ResourceNames, lookback_days};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_ALERTS_TOPIC_ARN`: where guardrail holds are announced.
    pub alerts_topic_arn: String,
    /// `RULEKIT_FINANCE_TOPIC_ARN`: where the weekly reviews go.
    pub finance_topic_arn: String,
    /// `RULEKIT_LOOKBACK_DAYS`: how many missed local dates a run catches up at most.
    pub lookback_days: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |variable: &'static str, what: &str| {
            get(variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError {
                    variable,
                    reason: format!("is required: the ARN of the {what} topic"),
                })
        };
        let alerts_topic_arn = required("RULEKIT_ALERTS_TOPIC_ARN", "alerts")?;
        let finance_topic_arn = required("RULEKIT_FINANCE_TOPIC_ARN", "finance")?;
        Ok(Self {
            names: ResourceNames::from_lookup(&get)?,
            alerts_topic_arn,
            finance_topic_arn,
            lookback_days: lookback_days(&get)?,
        })
    }
}
