//! `/v1/automations`: create, list, get, replace (`If-Match`), archive, preview.

use super::{audit_entry, id_may_exist, json, random_hex, tenant_object, with_etag};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{DATE_RULE, JsonBody, QueryParams, if_match, parse_date};
use crate::{ApiStore, State};
use axum::extract::{Path, RawQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shared::app::evaluate::decide_tenant_day;
use shared::domain::{Automation, AutomationId};
use shared::ports::{StoredAutomation, WriteOutcome};

const MAX_PAGE: usize = 200;

/// The resource as the API shows it: the automation and its version.
pub fn representation(stored: &StoredAutomation) -> Value {
    let mut body = stored.automation.to_json();
    body["version"] = json!(stored.version);
    body
}

/// Reads an automation from a request body for `caller`'s tenant. The tenant comes from the
/// identity: a body may leave `tenant_id` out, and may not name another tenant. `id` and
/// `active_from` default to `id` and `active_from` when given.
async fn parse_body<S: ApiStore>(
    store: &S,
    caller: &Caller,
    body: Value,
    id: Option<&AutomationId>,
    active_from: Option<chrono::NaiveDate>,
) -> Result<Automation, Problem> {
    let mut obj = tenant_object(caller, body, "an automation")?;
    match (obj.get("id"), id) {
        (None, Some(id)) => {
            obj.insert("id".into(), json!(id));
        }
        (None, None) => {
            obj.insert("id".into(), json!(format!("a_{}", random_hex())));
        }
        (Some(given), Some(id)) if *given != json!(id) => {
            return Err(Problem::invalid_field(
                "id",
                "must match the id in the path, or be left out",
            ));
        }
        (Some(_), _) => {}
    }
    if !obj.contains_key("active_from") {
        let from = match active_from {
            Some(d) => d,
            // An automation acts from the day it is created (tenant-local): never
            // retroactively.
            None => {
                let settings = store.tenant_settings(&caller.tenant).await?;
                settings.calendar.local_date(chrono::Utc::now())
            }
        };
        obj.insert("active_from".into(), json!(from.to_string()));
    }
    Automation::from_json(&Value::Object(obj)).map_err(|e| Problem::invalid(&e))
}

/// The automation `id` of the caller's tenant, unless it does not exist or was archived.
async fn live<S: ApiStore>(
    store: &S,
    caller: &Caller,
    id: &str,
) -> Result<StoredAutomation, Problem> {
    if !id_may_exist(id) {
        return Err(Problem::not_found("automation"));
    }
    store
        .automation(&caller.tenant, &AutomationId::new(id))
        .await?
        .filter(|a| !a.archived)
        .ok_or_else(|| Problem::not_found("automation"))
}

pub async fn create<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let automation = parse_body(&state.store, &caller, body, None, None).await?;
    let stored = StoredAutomation {
        automation,
        version: 1,
        archived: false,
    };
    let id = stored.automation.id.clone();
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        "automation.created",
        format!("automations/{id}"),
        None,
        Some(stored.automation.to_json()),
    );
    match state.store.write_automation(&stored, None, &audit).await? {
        WriteOutcome::Written => {}
        WriteOutcome::Conflict => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("an automation with id {id} exists (or existed: ids are not reused)"),
            ));
        }
    }
    let mut response = json(StatusCode::CREATED, representation(&stored));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/automations/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(with_etag(response, stored.version))
}

pub async fn list<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["cursor", "limit"])?;
    let limit = query.limit(50, MAX_PAGE)?;
    let after = query
        .get("cursor")
        .map(|c| {
            id_may_exist(c)
                .then(|| AutomationId::new(c))
                .ok_or_else(|| Problem::bad_field("cursor", "is not a cursor this API gave"))
        })
        .transpose()?;
    let page = state
        .store
        .list_automations(&caller.tenant, after.as_ref(), limit)
        .await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|a| a.automation.id.to_string()))
        .flatten();
    Ok(json(
        StatusCode::OK,
        json!({
            "items": page.iter().map(representation).collect::<Vec<_>>(),
            "next_cursor": next,
        }),
    ))
}

pub async fn get_one<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let stored = live(&state.store, &caller, &id).await?;
    Ok(with_etag(
        json(StatusCode::OK, representation(&stored)),
        stored.version,
    ))
}

pub async fn replace<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let current = live(&state.store, &caller, &id).await?;
    let Some(expected) = if_match(&headers)? else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "replacing an automation needs If-Match with its ETag",
        ));
    };
    if expected != current.version {
        return Err(stale());
    }
    let automation = parse_body(
        &state.store,
        &caller,
        body,
        Some(&current.automation.id),
        current.automation.active_from,
    )
    .await?;
    let next = StoredAutomation {
        automation,
        version: current.version + 1,
        archived: false,
    };
    write_next_version(&state, &caller, &current, &next, "automation.replaced").await?;
    Ok(with_etag(
        json(StatusCode::OK, representation(&next)),
        next.version,
    ))
}

/// Writes `next`, the version after `current`, in one transaction with its audit entry (the
/// document before and after; none after an archive). A change since `current` was read
/// answers 412.
async fn write_next_version<S: ApiStore>(
    state: &State<S>,
    caller: &Caller,
    current: &StoredAutomation,
    next: &StoredAutomation,
    action: &str,
) -> Result<(), Problem> {
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        action,
        format!("automations/{}", current.automation.id),
        Some(current.automation.to_json()),
        (!next.archived).then(|| next.automation.to_json()),
    );
    match state
        .store
        .write_automation(next, Some(current.version), &audit)
        .await?
    {
        WriteOutcome::Written => Ok(()),
        WriteOutcome::Conflict => Err(stale()),
    }
}

fn stale() -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        "the automation changed since that version: read it again",
    )
}

pub async fn archive<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let current = live(&state.store, &caller, &id).await?;
    if if_match(&headers)?.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    let next = StoredAutomation {
        automation: current.automation.clone(),
        version: current.version + 1,
        archived: true,
    };
    write_next_version(&state, &caller, &current, &next, "automation.archived").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn preview<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let date = preview_date(&body)?;
    let stored = live(&state.store, &caller, &id).await?;
    let mut automation = stored.automation;
    // A preview shows what a run would decide even for a disabled automation.
    automation.enabled = true;
    let report = decide_tenant_day(
        &state.store,
        &caller.tenant,
        date,
        std::slice::from_ref(&automation),
        false,
    )
    .await?;
    let rows: Vec<Value> = report
        .decisions
        .iter()
        .map(|d| serde_json::to_value(d.row()).unwrap_or_default())
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({
            "automation_id": automation.id,
            "date": date.to_string(),
            "guardrail_held": !report.holds.is_empty(),
            "decisions": rows,
        }),
    ))
}

/// `{"date": "YYYY-MM-DD"}`, nothing else.
fn preview_date(body: &Value) -> Result<chrono::NaiveDate, Problem> {
    let Value::Object(obj) = body else {
        return Err(Problem::invalid_field(
            "",
            "must be a JSON object: {\"date\": \"YYYY-MM-DD\"}",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| *k != "date") {
        return Err(Problem::invalid_field(
            unknown,
            "unknown field (known: date)",
        ));
    }
    obj.get("date")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .ok_or_else(|| Problem::invalid_field("date", DATE_RULE))
}
