//! `GET /v1/audit`: every change to automations, settings and held firings, newest first.

use super::{is_valid_id, json};
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::QueryParams;
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use shared::domain::event::format_instant;

const MAX_PAGE: usize = 200;

pub async fn list<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["cursor", "limit"])?;
    let limit = query.limit(50, MAX_PAGE)?;
    let cursor = query.get("cursor");
    if cursor.is_some_and(|c| !is_valid_id(c)) {
        return Err(Problem::bad_field(
            "cursor",
            "is not a cursor this API gave",
        ));
    }
    let entries = state.store.audit_log(&caller.tenant, cursor, limit).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    let items: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": format_instant(e.at),
                "actor": e.actor,
                "action": e.action,
                "resource": e.resource,
                "before": e.before,
                "after": e.after,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({"items": items, "next_cursor": next}),
    ))
}
