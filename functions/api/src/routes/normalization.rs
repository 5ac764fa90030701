//! `/v1/normalization/...`: the metadata change log, the preview of rules before they are
//! saved, and how far the re-normalization after a rules change has come (SPEC §8.7). The
//! rules themselves are the settings' `normalization`.

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{JsonBody, NoQuery, QueryParams};
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use shared::app::normalize;
use shared::domain::CustomerId;
use shared::domain::fields::Reader;
use shared::domain::ids::{ID_RULE, is_valid_id};
use shared::domain::normalize::{ChangeRecord, parse_normalization};

/// `GET /v1/normalization/changes?date=` (the entries listed under a tenant-local date) or
/// `?customer_id=` (one customer's, oldest first).
pub async fn changes<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["date", "customer_id"])?;
    let records = match (query.date("date")?, query.get("customer_id")) {
        (Some(date), None) => state.store.changes_on(&caller.tenant, date).await?,
        (None, Some(id)) if is_valid_id(id) => {
            state
                .store
                .customer_changes(&caller.tenant, &CustomerId::new(id))
                .await?
        }
        (None, Some(_)) => {
            return Err(Problem::bad_field("customer_id", ID_RULE));
        }
        _ => {
            return Err(Problem::bad_request(
                "name either date (YYYY-MM-DD) or customer_id, and only one",
            ));
        }
    };
    Ok(json(
        StatusCode::OK,
        json!({"items": records.iter().map(ChangeRecord::to_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /v1/normalization/preview` with `{"rules": [...]}`: what the rules would change over
/// the stored customers, before they are saved. Reads only.
pub async fn preview<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let mut r = Reader::new();
    let rules = parse_normalization(&mut r, "", &body);
    let rules = r.finish(rules).map_err(|e| Problem::invalid(&e))?;
    let preview = normalize::preview(&state.store, &caller.tenant, &rules).await?;
    Ok(json(StatusCode::OK, preview))
}

/// `GET /v1/normalization/status`: the re-normalization to the current rules.
pub async fn status<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    _: NoQuery,
) -> Result<Response, Problem> {
    let settings = state.store.tenant_settings(&caller.tenant).await?;
    let status = normalize::status(&state.store, &caller.tenant, &settings.normalization).await?;
    Ok(json(StatusCode::OK, status.to_json()))
}
