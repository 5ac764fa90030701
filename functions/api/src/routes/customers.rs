//! `GET /v1/customers/{id}`: the customer's balance, episode, days past due, active
//! subscriptions and firings, and why each automation did or did not fire on a date.

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{PathId, QueryParams};
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::app::explain::explain_customer;
use shared::domain::calendar::days_between;
use shared::domain::event::format_instant;
use shared::domain::{Continuity, CustomerId, CustomerState};

/// Without `date`: the customer now, explained for today (tenant-local). With `date`: the
/// customer at that date's run instant as known now, from the events that occurred before it
/// (all of them, for a run still to come), so the day counts, the balance and the reasons
/// are those of that date: an episode that began later is not shown, and no count is
/// negative. `as_of` says which instant the state is of.
pub async fn get_one<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["date"])?;
    let Some(id) = id else {
        return Err(Problem::not_found("customer"));
    };
    let customer_id = CustomerId::new(id.as_str());
    let current = state
        .store
        .load_customer(&caller.tenant, &customer_id)
        .await?
        .ok_or_else(|| Problem::not_found("customer"))?
        .value;
    let settings = state.store.tenant_settings(&caller.tenant).await?;
    let calendar = &settings.calendar;
    let now = Utc::now();
    let (date, as_of) = match query.date("date")? {
        None => (calendar.local_date(now), now),
        Some(d) => (d, calendar.run_instant(d).min(now)),
    };
    let customer = if as_of < now {
        as_of_instant(&state.store, &current, as_of).await?
    } else {
        current
    };

    let episode = |continuity: Continuity| -> Value {
        customer.episode(continuity).map_or(Value::Null, |e| {
            let since = calendar.local_date(e.start.occurred_at);
            json!({
                "started_at": format_instant(e.start.occurred_at),
                "since": since.to_string(),
                "days_past_due": days_between(since, date),
            })
        })
    };
    let automations = state.store.tenant_automations(&caller.tenant).await?;
    let firings = state
        .store
        .customer_firings(&caller.tenant, &customer_id)
        .await?;
    let explanations = explain_customer(
        &state.store,
        &settings,
        &automations,
        &customer,
        &firings,
        date,
    )
    .await?;

    Ok(json(
        StatusCode::OK,
        json!({
            "customer_id": customer.customer_id,
            "date": date.to_string(),
            "as_of": format_instant(as_of),
            "balance": customer.balance.as_ref().map(|b| json!({
                "amount_minor": b.balance.amount_minor,
                "currency": b.balance.currency.code(),
            })),
            "past_due": customer.is_past_due(),
            "episodes": {
                "negative_balance": episode(Continuity::NegativeBalance),
                "no_improvement": episode(Continuity::NoImprovement),
            },
            "active_subscriptions": customer.subscriptions.iter()
                .filter(|s| s.status.is_active())
                .map(|s| json!({"id": s.id, "status": s.status.as_str()}))
                .collect::<Vec<_>>(),
            "firings": firings.iter().map(|f| f.to_json()).collect::<Vec<_>>(),
            "explanations": explanations.iter().map(|e| json!({
                "automation_id": e.automation_id,
                "decisions": e.decisions.iter()
                    .map(|d| serde_json::to_value(d.row()).unwrap_or_default())
                    .collect::<Vec<_>>(),
                "why": e.why,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// The customer's state from the events that occurred before `instant`: the fold of that part
/// of its log (the state is a function of the set of events).
async fn as_of_instant<S: ApiStore>(
    store: &S,
    current: &CustomerState,
    instant: DateTime<Utc>,
) -> Result<CustomerState, Problem> {
    let log = store
        .customer_events(&current.tenant_id, &current.customer_id)
        .await?;
    CustomerState::replay(
        current.tenant_id.clone(),
        current.customer_id.clone(),
        log.iter().filter(|e| e.occurred_at() < instant),
    )
    // The stored log was applied once already, so it applies again; a failure here is a
    // corrupt store, not the caller's doing.
    .map_err(|e| Problem::store(&shared::ports::StoreError::Failed(e.to_string())))
}
