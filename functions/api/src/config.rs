//! The function's configuration, read once from the environment at start-up.

use crate::identity::{ClaimNames, ConsoleSignIn, HostedSignIn};
use shared::adapters::aws::{ConfigError, ResourceNames};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub names: ResourceNames,
    /// `RULEKIT_TENANT_CLAIM` (default `tenant_id`), `RULEKIT_ROLE_CLAIM` (default `role`),
    /// `RULEKIT_ACTOR_CLAIM` (default `sub`): the JWT claims that carry the caller.
    pub claims: ClaimNames,
    /// `RULEKIT_CONSOLE_SIGN_IN_URL` and `RULEKIT_CONSOLE_CLIENT_ID`, both or neither: the
    /// hosted sign-in the console uses. Empty is unset (the template's value without a pool).
    pub console: ConsoleSignIn,
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
        let claims = ClaimNames {
            tenant: claim("RULEKIT_TENANT_CLAIM", defaults.tenant)?,
            role: claim("RULEKIT_ROLE_CLAIM", defaults.role)?,
            actor: claim("RULEKIT_ACTOR_CLAIM", defaults.actor)?,
        };
        let set = |variable: &str| get(variable).filter(|v| !v.trim().is_empty());
        let console = match (
            set("RULEKIT_CONSOLE_SIGN_IN_URL"),
            set("RULEKIT_CONSOLE_CLIENT_ID"),
        ) {
            (None, None) => ConsoleSignIn::Unavailable,
            (Some(url), Some(client_id)) => {
                let url = url.trim().trim_end_matches('/').to_owned();
                let host = url.strip_prefix("https://").unwrap_or("");
                if host.is_empty() || host.contains(['/', '?', '#', '\'', '"', ' ', ';']) {
                    return Err(ConfigError {
                        variable: "RULEKIT_CONSOLE_SIGN_IN_URL",
                        reason: "must be an https origin, e.g. \
                                 https://<prefix>.auth.<region>.amazoncognito.com"
                            .to_owned(),
                    });
                }
                let client_id = client_id.trim().to_owned();
                if client_id.len() > 128 || !client_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ConfigError {
                        variable: "RULEKIT_CONSOLE_CLIENT_ID",
                        reason: "must be an app client id (letters and digits)".to_owned(),
                    });
                }
                ConsoleSignIn::HostedUi(HostedSignIn {
                    url,
                    client_id,
                    tenant_claim: claims.tenant.clone(),
                    role_claim: claims.role.clone(),
                })
            }
            (url, _) => {
                return Err(ConfigError {
                    variable: if url.is_some() {
                        "RULEKIT_CONSOLE_CLIENT_ID"
                    } else {
                        "RULEKIT_CONSOLE_SIGN_IN_URL"
                    },
                    reason: "the console's sign-in needs both the URL and the client id".to_owned(),
                });
            }
        };
        Ok(Self {
            console,
            names: ResourceNames::from_lookup(&get)?,
            claims,
        })
    }
}
