//! The function's configuration, read once from the environment at start-up.

use crate::identity::ClaimNames;
use shared::adapters::aws::{ConfigError, ResourceNames};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_TENANT_CLAIM` (default `tenant_id`), `RULEKIT_ROLE_CLAIM` (default `role`),
    /// `RULEKIT_ACTOR_CLAIM` (default `sub`): the JWT claims that carry the caller.
    pub claims: ClaimNames,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = ClaimNames::default();
        let claim = |variable: &'static str, default: String| match get(variable) {
            None => Ok(default),
            Some(v) if !v.trim().is_empty() && v.len() <= 256 => Ok(v.trim().to_owned()),
            Some(_) => Err(ConfigError {
                variable,
                reason: "must name a claim (1 to 256 characters)".to_owned(),
            }),
        };
        Ok(Self {
            names: ResourceNames::from_lookup(&get)?,
            claims: ClaimNames {
                tenant: claim("RULEKIT_TENANT_CLAIM", defaults.tenant)?,
                role: claim("RULEKIT_ROLE_CLAIM", defaults.role)?,
                actor: claim("RULEKIT_ACTOR_CLAIM", defaults.actor)?,
            },
        })
    }
}
