//! `/v1/settings`: the tenant's time zone, evaluation hour, guardrail and metadata
//! normalization rules; the defaults until set. A replace names the version it read in `If-Match` (428 without, 412 when stale).

use super::{audit_entry, json, tenant_object, with_etag};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{JsonBody, NoQuery, required_if_match, take_read_only_version};
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
    _: NoQuery,
) -> Result<Response, Problem> {
    Ok(representation(&state.store.settings(&caller.tenant).await?))
}

/// Replaces the settings whole. `If-Match` is required: a body is the whole document, so a
/// client that did not read the current version would reset what it left out (the time zone
/// to UTC, moving every customer's day count), and a stale one would undo another change.
pub async fn replace<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let precondition = required_if_match(&headers, "the settings")?;
    let current = state.store.settings(&caller.tenant).await?;
    let stale = || {
        Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "the settings changed since that version: read them again",
        )
    };
    if !precondition.matches(current.version) {
        return Err(stale());
    }
    let mut obj = tenant_object(&caller, body, "the tenant's settings")?;
    take_read_only_version(&mut obj, Some(current.version))?;
    let mut settings =
        TenantSettings::from_json(&Value::Object(obj)).map_err(|e| Problem::invalid(&e))?;
    // The rules' version is the settings version they changed at: the same rules keep
    // theirs, so a change of time zone starts no re-normalization (SPEC §8.7).
    settings.normalization.version =
        if settings.normalization.rules == current.value.normalization.rules {
            current.value.normalization.version
        } else {
            current.version + 1
        };
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
