//! `/v1/firings`: the decisions of a date (by automation and status), the firings awaiting
//! approval, the release or discard of firings the guardrail held, and the approval or
//! rejection of one firing (SPEC §8.2).

use super::{audit_entry, is_valid_id, json};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{DATE_RULE, JsonBody, NoQuery, QueryParams, parse_date, whole_number};
use crate::{ApiStore, State};
use axum::extract::{Path, RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use shared::domain::decision::FiringKey;
use shared::domain::{AutomationId, FieldError, FieldErrors};
use shared::ports::{FiringRecord, FiringStatus};

const MAX_PAGE: usize = 1000;

pub async fn list<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(
        query.as_deref(),
        &["date", "automation_id", "status", "cursor", "limit"],
    )?;
    let date = query.date("date")?;
    let status = query
        .get("status")
        .map(|s| {
            FiringStatus::parse(s).ok_or_else(|| {
                let known: Vec<&str> = FiringStatus::ALL.iter().map(|s| s.as_str()).collect();
                Problem::bad_field("status", format!("must be one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let limit = query.limit(100, MAX_PAGE)?;
    // The cursor is the position after the last item of the previous page: a date's
    // decisions are in a fixed order.
    let offset = match query.get("cursor") {
        None => 0,
        Some(c) => whole_number(c)
            .ok_or_else(|| Problem::bad_field("cursor", "is not a cursor this API gave"))?,
    };
    let automation = query.get("automation_id");
    // The approvals waiting are read from their own index, whatever their date; any other
    // listing is of one date.
    let found = match (date, status) {
        (None, Some(FiringStatus::AwaitingApproval)) => {
            state.store.awaiting_approval(&caller.tenant).await?
        }
        (Some(date), _) => state.store.firings_on(&caller.tenant, date).await?,
        (None, _) => {
            return Err(Problem::bad_field(
                "date",
                format!("is required unless status is awaiting_approval; {DATE_RULE}"),
            ));
        }
    };
    let mut firings: Vec<FiringRecord> = found
        .into_iter()
        .filter(|f| date.is_none_or(|d| f.decision.date == d))
        .filter(|f| automation.is_none_or(|a| f.decision.automation_id.as_str() == a))
        .filter(|f| status.is_none_or(|s| f.status == s))
        .collect();
    firings.sort_by(|a, b| a.decision.sort_key().cmp(&b.decision.sort_key()));
    let page: Vec<Value> = firings
        .iter()
        .skip(offset)
        .take(limit)
        .map(FiringRecord::to_json)
        .collect();
    let next = (offset + page.len() < firings.len()).then(|| (offset + page.len()).to_string());
    Ok(json(
        StatusCode::OK,
        json!({"items": page, "next_cursor": next}),
    ))
}

pub async fn release<S: ApiStore>(
    state: Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    body: JsonBody,
) -> Result<Response, Problem> {
    resolve(
        state,
        caller,
        body,
        FiringStatus::Pending,
        "firings.released",
    )
    .await
}

pub async fn discard<S: ApiStore>(
    state: Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    body: JsonBody,
) -> Result<Response, Problem> {
    resolve(
        state,
        caller,
        body,
        FiringStatus::Discarded,
        "firings.discarded",
    )
    .await
}

/// Moves the firings of one automation held on one date: `{"automation_id", "date"}`.
async fn resolve<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    JsonBody(body): JsonBody,
    to: FiringStatus,
    action: &str,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let (automation_id, date) = target(&body)?;
    let known = state
        .store
        .automation(&caller.tenant, &automation_id)
        .await?
        .is_some();
    if !known {
        return Err(Problem::not_found("automation"));
    }
    let held: Vec<FiringRecord> = state
        .store
        .firings_on(&caller.tenant, date)
        .await?
        .into_iter()
        .filter(|f| f.decision.automation_id == automation_id && f.status == FiringStatus::Held)
        .collect();
    // Counts, not the customers: a hold can be tens of thousands of firings, and the entry is
    // one DynamoDB item (400 KB at most) copied into every transaction of the move.
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        action,
        format!("firings/{automation_id}/{date}"),
        Some(json!({"status": "held", "count": held.len()})),
        Some(json!({"status": to.as_str(), "count": held.len()})),
    );
    let moved = if held.is_empty() {
        0
    } else {
        state
            .store
            .resolve_firings(&held, FiringStatus::Held, to, &audit)
            .await?
    };
    Ok(json(
        StatusCode::OK,
        json!({"automation_id": automation_id, "date": date.to_string(), "status": to.as_str(), "moved": moved}),
    ))
}

fn target(body: &Value) -> Result<(AutomationId, chrono::NaiveDate), Problem> {
    let mut errors = Vec::new();
    let Value::Object(obj) = body else {
        return Err(Problem::invalid_field(
            "",
            "must be a JSON object: {\"automation_id\": ..., \"date\": \"YYYY-MM-DD\"}",
        ));
    };
    for key in obj.keys().filter(|k| *k != "automation_id" && *k != "date") {
        errors.push(FieldError::new(
            key,
            "unknown field (known: automation_id, date)",
        ));
    }
    let automation = obj
        .get("automation_id")
        .and_then(Value::as_str)
        .filter(|a| is_valid_id(a));
    if automation.is_none() {
        errors.push(FieldError::new(
            "automation_id",
            "is required: an automation id",
        ));
    }
    let date = obj.get("date").and_then(Value::as_str).and_then(parse_date);
    if date.is_none() {
        errors.push(FieldError::new("date", DATE_RULE));
    }
    match (automation, date) {
        (Some(a), Some(d)) if errors.is_empty() => Ok((AutomationId::new(a), d)),
        _ => Err(Problem::invalid(&FieldErrors(errors))),
    }
}

pub async fn approve<S: ApiStore>(
    state: Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    id: Path<String>,
) -> Result<Response, Problem> {
    answer_approval(state, caller, id, FiringStatus::Pending, "firing.approved").await
}

pub async fn reject<S: ApiStore>(
    state: Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    id: Path<String>,
) -> Result<Response, Problem> {
    answer_approval(state, caller, id, FiringStatus::Rejected, "firing.rejected").await
}

/// Approves (`pending`: the executor carries it out) or rejects one firing awaiting approval,
/// with the audit entry naming the actor in the same transaction. An approval past its expiry
/// date (tenant-local) is recorded `expired` and refused.
async fn answer_approval<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(firing_id): Path<String>,
    to: FiringStatus,
    action: &str,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let key = FiringKey::from_firing_id(&firing_id).ok_or_else(|| Problem::not_found("firing"))?;
    let record = state
        .store
        .customer_firings(&caller.tenant, &key.customer_id)
        .await?
        .into_iter()
        .find(|r| r.decision.key() == key)
        .ok_or_else(|| Problem::not_found("firing"))?;
    let conflict = |detail: String| Err(Problem::new(StatusCode::CONFLICT, detail));
    if record.status != FiringStatus::AwaitingApproval {
        return conflict(format!(
            "the firing is {}, not awaiting approval",
            record.status.as_str()
        ));
    }
    let today = state
        .store
        .tenant_settings(&caller.tenant)
        .await?
        .calendar
        .local_date(chrono::Utc::now());
    if record.decision.approval_expired_by(today) {
        let mut next = record.clone();
        next.status = FiringStatus::Expired;
        state.store.replace_firing(&record, &next).await?;
        let last = record.decision.approval_expires_on().unwrap_or(today);
        return conflict(format!(
            "the approval could be given until {last}: the firing has expired"
        ));
    }
    let resource = format!("firings/{firing_id}");
    let audit = audit_entry(
        &caller.tenant,
        &caller.actor,
        action,
        resource,
        Some(json!({"status": FiringStatus::AwaitingApproval.as_str()})),
        Some(json!({"status": to.as_str()})),
    );
    let moved = state
        .store
        .resolve_firings(
            std::slice::from_ref(&record),
            FiringStatus::AwaitingApproval,
            to,
            &audit,
        )
        .await?;
    if moved == 0 {
        return conflict("another request answered this approval first".to_owned());
    }
    let mut answered = record;
    answered.status = to;
    Ok(json(StatusCode::OK, answered.to_json()))
}
