//! `/v1/reports`: the weekly review of SPEC §8.9 for the caller's tenant, as JSON or as the
//! one self-contained HTML page `rulekit simulate --report` writes (`app::report`).

use super::json;
use crate::identity::Caller;
use crate::problem::Problem;
use crate::request::QueryParams;
use crate::{ApiStore, State};
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::app::report::publish::review_week;
use shared::app::report::{IsoWeek, html, weekly_review};

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
    let html_wanted = match query.get("format") {
        Some("html") => true,
        Some("json") => false,
        Some(_) => return Err(Problem::bad_field("format", "must be json or html")),
        None => prefers_html(&headers),
    };
    let review = weekly_review(&state.store, &caller.tenant, week).await?;
    if !html_wanted {
        return Ok(json(StatusCode::OK, review.to_json()));
    }
    let mut response = html::render(&review).into_response();
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
    Ok(response)
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
