//! `/v1/reports`: the weekly review and the aging table of SPEC §8.9 for the caller's tenant,
//! as JSON or as the one self-contained HTML page `rulekit simulate --report` writes
//! (`app::report`).

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::{DATE_RULE, QueryParams, parse_date};
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::app::report::publish::review_week;
use shared::app::report::{IsoWeek, aging as aging_table, html, weekly_review};

pub async fn weekly<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["week", "format"])?;
    let week = match query.get("week") {
        Some(w) => IsoWeek::parse(w).ok_or_else(|| {
            Problem::bad_field("week", "must be an ISO week as YYYY-Www, e.g. 2026-W47")
        })?,
        // The last whole week in the tenant's zone: the one the weekly schedule sends.
        None => {
            let settings = state.store.tenant_settings(&caller.tenant).await?;
            review_week(settings.calendar.local_date(chrono::Utc::now()))
        }
    };
    let html_wanted = wants_html(&query, &headers)?;
    let review = weekly_review(&state.store, &caller.tenant, week).await?;
    if !html_wanted {
        return Ok(json(StatusCode::OK, review.to_json()));
    }
    Ok(html_page(html::render(&review)))
}

/// `GET /v1/reports/aging?date=`: the aging table of a local date, drawn up now for today
/// (the default) and as the weekly job recorded it for an earlier date.
pub async fn aging<S: ApiStore>(
    Extract(state): Extract<State<S>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = QueryParams::parse(query.as_deref(), &["date", "format"])?;
    let html_wanted = wants_html(&query, &headers)?;
    let settings = state.store.tenant_settings(&caller.tenant).await?;
    let today = settings.calendar.local_date(chrono::Utc::now());
    let date = match query.get("date") {
        None => today,
        Some(d) => parse_date(d).ok_or_else(|| Problem::bad_field("date", DATE_RULE))?,
    };
    if date > today {
        return Err(Problem::bad_field(
            "date",
            format!("must not be after today ({today} in the tenant's zone)"),
        ));
    }
    let Some(table) = aging_table::aging_on(&state.store, &caller.tenant, date, today).await?
    else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "no aging table was recorded for {date}: past tables are the weekly job's, \
                 recorded each Monday; today's is drawn up on request"
            ),
        ));
    };
    if !html_wanted {
        return Ok(json(StatusCode::OK, aging_table::to_json(&table)));
    }
    Ok(html_page(html::render_aging(&caller.tenant, &table)))
}

/// `format=json|html`, or else what `Accept` prefers.
fn wants_html(query: &QueryParams, headers: &HeaderMap) -> Result<bool, Problem> {
    match query.get("format") {
        Some("html") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(Problem::bad_field("format", "must be json or html")),
        None => Ok(prefers_html(headers)),
    }
}

fn html_page(page: String) -> Response {
    let mut response = page.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page holds its styles and charts inline and fetches nothing; the header says so
    // again for browsers that read it before the page's own policy.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(html::CONTENT_SECURITY_POLICY),
    );
    response
}

/// Whether `Accept` asks for HTML before JSON: a browser's does, a client's `*/*` does not.
fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let rank = |wanted: &str| {
        accept
            .split(',')
            .position(|part| part.split(';').next().is_some_and(|t| t.trim() == wanted))
    };
    match (rank("text/html"), rank("application/json")) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::prefers_html;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn when_a_browser_asks_should_answer_html_and_otherwise_json() {
        assert!(prefers_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json, text/html")));
        assert!(prefers_html(&accept("text/html; q=1, application/json")));
        assert!(!prefers_html(&HeaderMap::new()));
    }
}
