//! Reading a request: the JSON body (media type, size, syntax), query parameters and
//! `If-Match`, each failure a problem that names what was wrong.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use std::collections::BTreeMap;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON request body: `application/json` (or `+json`), at most [`MAX_BODY_BYTES`], well
/// formed. Its fields are validated by the route.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Self, Problem> {
        let media_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media_type != "application/json" && !media_type.ends_with("+json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be application/json",
            ));
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Problem::bad_request(format!("the request body is not JSON: {e}")))
    }
}

/// Query parameters, each allowed at most once and only if the route knows it.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| Problem::bad_request("the query string is not valid"))?;
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            if !allowed.contains(&key.as_str()) {
                return Err(Problem::bad_field(
                    &key,
                    format!("unknown query parameter (known: {})", allowed.join(", ")),
                ));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(Problem::bad_field(&key, "given more than once"));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A page size from 1 to `max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, Problem> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Problem::bad_field("limit", format!("must be a whole number from 1 to {max}"))
                }),
        }
    }

    /// A `YYYY-MM-DD` date (see [`parse_date`]).
    pub fn date(&self, key: &str) -> Result<Option<chrono::NaiveDate>, Problem> {
        self.get(key)
            .map(|v| parse_date(v).ok_or_else(|| Problem::bad_field(key, DATE_RULE)))
            .transpose()
    }
}

/// Whether an id (a tenant, an automation, a customer, a cursor) could name anything: ids are
/// 1 to 128 characters (longer ones are not looked up, and never reach the store's key limits).
pub fn id_may_exist(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128
}

pub const DATE_RULE: &str = "must be a date, YYYY-MM-DD, from 1970 to 2999";

/// A `YYYY-MM-DD` date in the years billing data can have: dates far outside them are typos,
/// and date arithmetic near the calendar's ends is not worth the risk.
pub fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike;
    s.parse::<chrono::NaiveDate>()
        .ok()
        .filter(|d| (1970..=2999).contains(&d.year()))
}

/// The version `If-Match` names: `None` without the header, a 412 problem when it names no
/// version this resource could have.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "If-Match names no current version of this resource",
            )
        })
}

/// The `ETag` of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
