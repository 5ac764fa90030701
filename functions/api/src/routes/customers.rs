//! `GET /v1/customers/{id}`: the customer's balance, episode, days past due, active
//! subscriptions and firings, and why each automation did or did not fire on a date.

use super::{id_may_exist, json};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::QueryParams;
use crate::{ApiStore, State};
use axum::extract::{Path, RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use shared::app::explain::explain_customer;
use shared::domain::calendar::days_between;
use shared::domain::event::format_instant;
use shared::domain::{Continuity, CustomerId};

pub async fn get_one<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["date"])?;
    if !id_may_exist(&id) {
        return Err(Problem::not_found("customer"));
    }
    let customer_id = CustomerId::new(id.as_str());
    let customer = state
        .store
        .load_customer(&caller.tenant, &customer_id)
        .await?
        .ok_or_else(|| Problem::not_found("customer"))?
        .value;
    let settings = state.store.tenant_settings(&caller.tenant).await?;
    let calendar = &settings.calendar;
    // By default: today, in the tenant's time zone.
    let date = query
        .date("date")?
        .unwrap_or_else(|| calendar.local_date(chrono::Utc::now()));

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
    let explanations =
        explain_customer(&state.store, &settings, &automations, &customer, date).await?;
    let firings = state
        .store
        .customer_firings(&caller.tenant, &customer_id)
        .await?;

    Ok(json(
        StatusCode::OK,
        json!({
            "customer_id": customer.customer_id,
            "date": date.to_string(),
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
