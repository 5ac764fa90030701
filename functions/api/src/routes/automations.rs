//! `/v1/automations`: create, list, get, replace (`If-Match`), archive, preview, promote.

use super::{audit_entry, is_valid_id, json, random_hex, tenant_object, with_etag, with_location};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{
    DATE_RULE, JsonBody, NoQuery, PathId, QueryParams, if_match, parse_date, required_if_match,
    take_read_only_version,
};
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shared::app::evaluate::{Purpose, decide_tenant_day};
use shared::domain::fields::Reader;
use shared::domain::rollout::parse_rollout;
use shared::domain::{Automation, AutomationId, FieldError, FieldErrors, Mode};
use shared::ports::{StoredAutomation, WriteOutcome};

const MAX_PAGE: usize = 200;

/// The resource as the API shows it: the automation and its version.
pub fn representation(stored: &StoredAutomation) -> Value {
    let mut body = stored.automation.to_json();
    body["version"] = json!(stored.version);
    body
}

/// What a request body says besides the automation: a change that makes an automation act on
/// dates already past (`active_from` before today) must say so with `"backfill": true`, and
/// the audit entry records it.
struct Submitted {
    automation: Automation,
    backfill: bool,
}

/// Reads an automation from a request body for `caller`'s tenant. The tenant comes from the
/// identity: a body may leave `tenant_id` out, and may not name another tenant. `current` is
/// the stored automation a replace starts from: its `id` and `active_from` are the defaults,
/// and the body may repeat its read-only `version` (a GET's body can be sent back as it is).
async fn parse_body<S: ApiStore>(
    store: &S,
    caller: &Caller,
    body: Value,
    current: Option<&StoredAutomation>,
) -> Result<Submitted, Problem> {
    let mut obj = tenant_object(caller, body, "an automation")?;
    take_read_only_version(&mut obj, current.map(|c| c.version))?;
    let backfill = match obj.remove("backfill") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(Problem::invalid_field("backfill", "must be true or false")),
    };
    let id = current.map(|c| &c.automation.id);
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
    let today = store
        .tenant_settings(&caller.tenant)
        .await?
        .calendar
        .local_date(chrono::Utc::now());
    let stored_from = current.and_then(|c| c.automation.active_from);
    if !obj.contains_key("active_from") {
        // An automation acts from the day it is created (tenant-local); a replace keeps the
        // stored start.
        let from = stored_from.unwrap_or(today);
        obj.insert("active_from".into(), json!(from.to_string()));
    }
    let automation =
        Automation::from_json(&Value::Object(obj)).map_err(|e| Problem::invalid(&e))?;
    // A start in the past makes the next run fire, late, for every threshold crossed since
    // (within catch_up_days): a backfill, which nobody should do by accident.
    let moved_back = automation
        .active_from
        .is_some_and(|from| from < today && stored_from.is_none_or(|stored| from < stored));
    if moved_back && !backfill {
        return Err(Problem::invalid_field(
            "active_from",
            format!(
                "is before today ({today}): the automation would fire late for thresholds \
                 crossed since then; to do that on purpose, add \"backfill\": true"
            ),
        ));
    }
    Ok(Submitted {
        automation,
        backfill: moved_back,
    })
}

/// The automation `id` of the caller's tenant, unless it does not exist or was archived.
async fn live<S: ApiStore>(
    store: &S,
    caller: &Caller,
    id: Option<&str>,
) -> Result<StoredAutomation, Problem> {
    let Some(id) = id else {
        return Err(Problem::not_found("automation"));
    };
    store
        .automation(&caller.tenant, &AutomationId::new(id))
        .await?
        .filter(|a| !a.archived)
        .ok_or_else(|| Problem::not_found("automation"))
}

/// The document an audit entry keeps for a change: the automation, and `backfill: true` when
/// the change made it act on past dates.
fn audited(automation: &Automation, backfill: bool) -> Value {
    let mut doc = automation.to_json();
    if backfill {
        doc["backfill"] = json!(true);
    }
    doc
}

pub async fn create<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let submitted = parse_body(&state.store, &caller, body, None).await?;
    let stored = StoredAutomation {
        automation: submitted.automation,
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
        Some(audited(&stored.automation, submitted.backfill)),
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
    let response = json(StatusCode::CREATED, representation(&stored));
    let response = with_location(response, "/v1/automations", id.as_str());
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
            is_valid_id(c)
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
    PathId(id): PathId,
    _: NoQuery,
) -> Result<Response, Problem> {
    let stored = live(&state.store, &caller, id.as_deref()).await?;
    Ok(with_etag(
        json(StatusCode::OK, representation(&stored)),
        stored.version,
    ))
}

pub async fn replace<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    _: NoQuery,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let current = live(&state.store, &caller, id.as_deref()).await?;
    let precondition = required_if_match(&headers, "an automation")?;
    if !precondition.matches(current.version) {
        return Err(stale());
    }
    let submitted = parse_body(&state.store, &caller, body, Some(&current)).await?;
    check_rollout_change(&current.automation, &submitted.automation)?;
    let next = StoredAutomation {
        automation: submitted.automation,
        version: current.version + 1,
        archived: false,
    };
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        "automation.replaced",
        format!("automations/{}", current.automation.id),
        Some(current.automation.to_json()),
        Some(audited(&next.automation, submitted.backfill)),
    );
    match state
        .store
        .write_automation(&next, Some(current.version), &audit)
        .await?
    {
        WriteOutcome::Written => Ok(with_etag(
            json(StatusCode::OK, representation(&next)),
            next.version,
        )),
        WriteOutcome::Conflict => Err(stale()),
    }
}

/// Refuses a change of rollout that would take a customer out of treatment or into the
/// holdout (SPEC §8.8): comparisons stay valid while an automation is promoted.
fn check_rollout_change(current: &Automation, next: &Automation) -> Result<(), Problem> {
    let (before, after) = (
        current.rollout.unwrap_or_default(),
        next.rollout.unwrap_or_default(),
    );
    let problems = before.change_problems(after);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Problem::invalid(&FieldErrors(
        problems
            .into_iter()
            .map(|(field, why)| FieldError::new(field, why))
            .collect(),
    )))
}

/// The audited step from a dry run on a cohort to a broader live rollout (SPEC §8.8): a
/// new mode, a larger cohort, or both, with `If-Match`. Fields left out keep their value;
/// `rationale` is kept in the audit entry.
pub async fn promote<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    _: NoQuery,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let current = live(&state.store, &caller, id.as_deref()).await?;
    let precondition = required_if_match(&headers, "an automation")?;
    if !precondition.matches(current.version) {
        return Err(stale());
    }
    let mut r = Reader::new();
    let read = (|| {
        let obj = r.object("", &body, &["mode", "rollout", "rationale"])?;
        let mode = match r.optional(obj, "mode") {
            None => Some(current.automation.mode),
            Some(m) => r.choice("mode", m, &Mode::ALL),
        };
        let base = current.automation.rollout.unwrap_or_default();
        let rollout = match r.optional(obj, "rollout") {
            None => Some(current.automation.rollout),
            Some(v) => parse_rollout(&mut r, "rollout", v, base).map(Some),
        };
        let rationale = r
            .optional(obj, "rationale")
            .and_then(|v| r.text("rationale", v, MAX_RATIONALE_LEN))
            .map(str::to_owned);
        if !obj.contains_key("mode") && !obj.contains_key("rollout") {
            r.error("mode", "a promotion gives a mode, a rollout, or both");
        }
        Some((mode?, rollout?, rationale))
    })();
    let (mode, rollout, rationale) = r.finish(read).map_err(|e| Problem::invalid(&e))?;
    if current.automation.mode == Mode::Live && mode == Mode::DryRun {
        return Err(Problem::invalid_field(
            "mode",
            "a promotion does not go back to a dry run: replace the automation to do that",
        ));
    }
    let mut next = current.automation.clone();
    next.mode = mode;
    next.rollout = rollout;
    check_rollout_change(&current.automation, &next)?;
    if next == current.automation {
        return Err(Problem::invalid_field(
            "rollout",
            "the promotion changes nothing: the automation already has this mode and rollout",
        ));
    }
    let next = StoredAutomation {
        automation: next,
        version: current.version + 1,
        archived: false,
    };
    let promoted = |a: &Automation| {
        json!({
            "mode": a.mode.as_str(),
            "rollout": a.rollout.unwrap_or_default().to_json(),
        })
    };
    let mut after = promoted(&next.automation);
    if let Some(rationale) = rationale {
        after["rationale"] = json!(rationale);
    }
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        "promote",
        format!("automations/{}", current.automation.id),
        Some(promoted(&current.automation)),
        Some(after),
    );
    match state
        .store
        .write_automation(&next, Some(current.version), &audit)
        .await?
    {
        WriteOutcome::Written => Ok(with_etag(
            json(StatusCode::OK, representation(&next)),
            next.version,
        )),
        WriteOutcome::Conflict => Err(stale()),
    }
}

/// The longest rationale a promotion keeps.
const MAX_RATIONALE_LEN: usize = 2_000;

fn stale() -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        "the automation changed since that version: read it again",
    )
}

/// How many times an archive without `If-Match` is tried again when another change lands
/// between its read and its write: each retry means someone else's write went through.
const ARCHIVE_ATTEMPTS: usize = 5;

/// Archives the automation. Without `If-Match` it archives whatever version is current, so a
/// concurrent change is read again and archived too; with `If-Match` a concurrent change fails
/// the precondition (412). A concurrent archive leaves nothing to archive (404), with or
/// without it. Either way the answer depends on what the store holds after the race, not on
/// the store's timing.
pub async fn archive<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    _: NoQuery,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let precondition = if_match(&headers)?;
    for _ in 0..ARCHIVE_ATTEMPTS {
        // An automation that is not there (archived meanwhile, or another tenant's) is a 404
        // with or without If-Match: RFC 9110 §13.2.1 has a precondition ignored when the
        // answer without it would not be a 2xx.
        let current = live(&state.store, &caller, id.as_deref()).await?;
        if precondition
            .as_ref()
            .is_some_and(|p| !p.matches(current.version))
        {
            return Err(stale());
        }
        let next = StoredAutomation {
            automation: current.automation.clone(),
            version: current.version + 1,
            archived: true,
        };
        let audit = audit_entry(
            &caller.tenant,
            &caller.actor,
            "automation.archived",
            format!("automations/{}", current.automation.id),
            Some(current.automation.to_json()),
            None,
        );
        if state
            .store
            .write_automation(&next, Some(current.version), &audit)
            .await?
            == WriteOutcome::Written
        {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "the automation kept changing while being archived: try again",
    ))
}

pub async fn preview<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    _: NoQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let date = preview_date(&body)?;
    let stored = live(&state.store, &caller, id.as_deref()).await?;
    // A what-if: enabled or not, and whatever its active_from (Purpose::Preview).
    let automation = stored.automation;
    let report = decide_tenant_day(
        &state.store,
        &caller.tenant,
        date,
        std::slice::from_ref(&automation),
        Purpose::Preview,
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
