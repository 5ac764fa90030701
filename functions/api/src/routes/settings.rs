//! `/v1/settings`: the tenant's time zone, evaluation hour and guardrail; the defaults until
//! set. A replace may name the version it read in `If-Match` (412 when stale).

use super::{audit_entry, json};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{JsonBody, etag, if_match};
use crate::{ApiStore, State};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use shared::domain::{FieldError, FieldErrors, TenantSettings};
use shared::ports::{Versioned, WriteOutcome};

fn representation(settings: &Versioned<TenantSettings>) -> Response {
    let mut body = settings.value.to_json();
    body["version"] = json!(settings.version);
    let mut response = json(StatusCode::OK, body);
    if let Ok(value) = HeaderValue::from_str(&etag(settings.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
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
    let Value::Object(mut obj) = body else {
        return Err(Problem::invalid(&FieldErrors(vec![FieldError::new(
            "",
            "must be a JSON object (the tenant's settings)",
        )])));
    };
    match obj.get("tenant_id") {
        None => {
            obj.insert("tenant_id".into(), json!(caller.tenant));
        }
        Some(t) if *t == json!(caller.tenant) => {}
        Some(_) => {
            return Err(Problem::invalid(&FieldErrors(vec![FieldError::new(
                "tenant_id",
                "must be your own tenant, or left out",
            )])));
        }
    }
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
