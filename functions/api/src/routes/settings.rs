//! `/v1/settings`: the tenant's time zone, evaluation hour and guardrail; the defaults until
//! set. A replace may name the version it read in `If-Match` (412 when stale).

use super::{audit_entry, json, tenant_object, with_etag};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{JsonBody, if_match};
use crate::{ApiStore, State};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use shared::domain::TenantSettings;
use shared::ports::{Versioned, WriteOutcome};

fn representation(settings: &Versioned<TenantSettings>) -> Response {
    let mut body = settings.value.to_json();
    body["version"] = json!(settings.version);
    with_etag(json(StatusCode::OK, body), settings.version)
}

pub async fn get_one<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
) -> Result<Response, Problem> {
    Ok(representation(&state.store.settings(&caller.tenant).await?))
}

pub async fn replace<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let obj = tenant_object(&caller, body, "the tenant's settings")?;
    let settings =
        TenantSettings::from_json(&Value::Object(obj)).map_err(|e| Problem::invalid(&e))?;
    let current = state.store.settings(&caller.tenant).await?;
    let stale = || {
        Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "the settings changed since that version: read them again",
        )
    };
    if if_match(&headers)?.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    let next = Versioned {
        value: settings,
        version: current.version + 1,
    };
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        "settings.replaced",
        "settings".to_owned(),
        Some(current.value.to_json()),
        Some(next.value.to_json()),
    );
    match state.store.write_settings(&next, &audit).await? {
        WriteOutcome::Written => Ok(representation(&next)),
        WriteOutcome::Conflict => Err(stale()),
    }
}
