//! `GET /v1/customers/{id}`: the customer's balance, episode, days past due, active
//! subscriptions and firings, and why each automation did or did not fire on a date
//! (`app::explain::customer_view`, which `rulekit explain` prints too).

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{PathId, QueryParams};
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use shared::app::explain::customer_view;
use shared::domain::CustomerId;

pub async fn get_one<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["date"])?;
    let date = query.date("date")?;
    let Some(id) = id else {
        return Err(Problem::not_found("customer"));
    };
    let view = customer_view(
        &state.store,
        &caller.tenant,
        &CustomerId::new(id),
        date,
        chrono::Utc::now(),
    )
    .await?
    .ok_or_else(|| Problem::not_found("customer"))?;
    Ok(json(StatusCode::OK, view))
}
