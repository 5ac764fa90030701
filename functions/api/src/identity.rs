//! Who is calling: the tenant, the actor and the role, from the verified identity only.
//!
//! In Lambda they come from the claims API Gateway's JWT authorizer verified (in the request
//! context); the claim names are settings. `rulekit serve --dev-auth` takes them from the
//! `X-Dev-Tenant` and `X-Dev-Role` headers instead, for local use; without that flag no header
//! grants anything. Nothing in the path, the query or the body ever names the tenant.

use crate::problem::Problem;
use axum::http::StatusCode;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use shared::domain::TenantId;
use shared::domain::ids::is_valid_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and previews.
    Viewer,
    /// Also changes automations, settings, events and held firings.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    /// Who, for the audit log (the token's subject).
    pub actor: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller may change things.
    pub fn require_admin(&self) -> Result<(), Problem> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this change needs the admin role",
            )),
        }
    }
}

/// The names of the JWT claims that carry the tenant, the role and the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub tenant: String,
    pub role: String,
    pub actor: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant_id".to_owned(),
            role: "role".to_owned(),
            actor: "sub".to_owned(),
        }
    }
}

/// Where the identity is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// The API Gateway JWT authorizer's verified claims (Lambda).
    Jwt(ClaimNames),
    /// `X-Dev-Tenant` / `X-Dev-Role` headers (`rulekit serve --dev-auth`).
    DevHeaders,
    /// Nobody is identified: every protected route answers 401.
    Nobody,
}

/// How the console signs an operator in: what `GET /console/config.json` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleSignIn {
    /// It names a tenant and a role, sent as the dev headers (`rulekit serve --dev-auth`).
    DevHeaders,
    /// The user pool's hosted sign-in (the authorization-code flow with PKCE); the ID token it
    /// returns is the bearer the API's JWT authorizer verifies.
    HostedUi(HostedSignIn),
    /// No sign-in is configured: the console says so.
    Unavailable,
}

/// A Cognito user pool's hosted sign-in, for the console's public client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedSignIn {
    /// The hosted UI's origin, e.g. `https://<prefix>.auth.<region>.amazoncognito.com`.
    pub url: String,
    /// The console's app client (public: no secret).
    pub client_id: String,
    /// The claims the ID token names the tenant and the role in (the API's [`ClaimNames`]),
    /// for the console to show who is signed in.
    pub tenant_claim: String,
    pub role_claim: String,
}

impl ConsoleSignIn {
    /// The sign-in that goes with `identity` when none is configured: the dev headers'
    /// own, or none.
    pub fn default_for(identity: &IdentitySource) -> Self {
        match identity {
            IdentitySource::DevHeaders => Self::DevHeaders,
            _ => Self::Unavailable,
        }
    }

    /// The origin the console must reach besides its own (the token endpoint).
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::HostedUi(hosted) => Some(&hosted.url),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::DevHeaders => serde_json::json!({"sign_in": "dev"}),
            Self::HostedUi(h) => serde_json::json!({
                "sign_in": "hosted_ui", "url": h.url, "client_id": h.client_id,
                "tenant_claim": h.tenant_claim, "role_claim": h.role_claim,
            }),
            Self::Unavailable => serde_json::json!({"sign_in": "none"}),
        }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, detail)
}

/// The role named in a claim: exactly `admin` or `viewer`, or a list with one of them as a
/// member. API Gateway hands a list claim over as text: Cognito's `cognito:groups` arrives as
/// `[admin viewer]`, others as `admin,viewer` or a JSON array. Members are compared whole, so
/// `not.admin`, `readonly:admin` or `administrator` grant nothing.
fn parse_role(value: &str) -> Option<Role> {
    let value = value.trim();
    let list = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let members: Vec<&str> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|m| m.trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    if members.contains(&"admin") {
        Some(Role::Admin)
    } else if members.contains(&"viewer") {
        Some(Role::Viewer)
    } else {
        None
    }
}

fn caller(tenant: Option<&str>, role: Option<&str>, actor: &str) -> Result<Caller, Problem> {
    let tenant = tenant
        .filter(|t| is_valid_id(t))
        .ok_or_else(|| unauthorized("the identity names no tenant"))?;
    let role = role.and_then(parse_role).ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "the identity has neither the viewer nor the admin role",
        )
    })?;
    Ok(Caller {
        tenant: TenantId::new(tenant),
        actor: actor.to_owned(),
        role,
    })
}

impl IdentitySource {
    pub fn identify(&self, parts: &Parts) -> Result<Caller, Problem> {
        match self {
            Self::Nobody => Err(unauthorized("no identity: sign in")),
            Self::DevHeaders => {
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let tenant = header("x-dev-tenant");
                let role = header("x-dev-role").unwrap_or_else(|| "viewer".to_owned());
                caller(tenant.as_deref(), Some(&role), "dev")
            }
            Self::Jwt(names) => {
                let claims = match parts.extensions.get::<RequestContext>() {
                    Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                        .authorizer
                        .as_ref()
                        .and_then(|a| a.jwt.as_ref())
                        .map(|jwt| &jwt.claims),
                    _ => None,
                }
                .ok_or_else(|| unauthorized("no verified identity in the request"))?;
                let actor = claims.get(&names.actor).map_or("unknown", String::as_str);
                caller(
                    claims.get(&names.tenant).map(String::as_str),
                    claims.get(&names.role).map(String::as_str),
                    actor,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_found_in_a_single_value_or_a_list() {
        assert_eq!(parse_role("admin"), Some(Role::Admin));
        assert_eq!(parse_role("[viewer admin]"), Some(Role::Admin));
        assert_eq!(parse_role("viewer,admin"), Some(Role::Admin));
        assert_eq!(parse_role(r#"["viewer","admin"]"#), Some(Role::Admin));
        assert_eq!(parse_role("viewer"), Some(Role::Viewer));
        assert_eq!(parse_role("administrator"), None);
        assert_eq!(parse_role(""), None);
    }

    #[test]
    fn when_a_role_only_contains_the_word_admin_should_not_grant_admin() {
        for value in [
            "not.admin",
            "readonly:admin",
            "[not.admin]",
            "admin-readonly",
            "x/admin",
        ] {
            assert_eq!(parse_role(value), None, "{value}");
        }
        assert_eq!(parse_role("[viewer not.admin]"), Some(Role::Viewer));
    }
}
