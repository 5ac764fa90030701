//! Reading a request: the JSON body (media type, size, syntax), query parameters and
//! `If-Match`, each failure a problem that names what was wrong.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use shared::domain::ids::is_valid_id;
use shared::domain::json::{self, JsonError};
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
        match json::parse_bytes(&bytes) {
            Ok(value) => Ok(JsonBody(value)),
            // Well-formed, but one value for a field is all a body may give.
            Err(JsonError::DuplicateKey { path, .. }) => {
                Err(Problem::invalid_field(&path, "duplicate key"))
            }
            Err(e) => Err(Problem::bad_request(format!(
                "the request body is not JSON: {e}"
            ))),
        }
    }
}

/// The `{id}` segment of a path, when it can name anything: `None` for a segment that is not
/// UTF-8 or breaks the id rule (`is_valid_id`), which the route answers with its own 404.
#[derive(Debug, Clone)]
pub struct PathId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let id = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|axum::extract::Path(id)| id)
            .filter(|id| is_valid_id(id));
        Ok(Self(id))
    }
}

/// For routes that take no query parameter: any one is a 400 naming it.
#[derive(Debug, Clone, Copy)]
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        QueryParams::parse(parts.uri.query(), &[]).map(|_| Self)
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
                let known = if allowed.is_empty() {
                    "this route takes none".to_owned()
                } else {
                    format!("known: {}", allowed.join(", "))
                };
                return Err(Problem::bad_field(
                    &key,
                    format!("unknown query parameter ({known})"),
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
            Some(v) => whole_number(v)
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

pub use shared::domain::calendar::{DATE_RULE, parse_date};

/// A whole number written with digits only (`parse` would also take `+5`).
pub fn whole_number(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An `If-Match` precondition (RFC 9110 §13.1.1): `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// Matches any current representation.
    Any,
    /// `(weak, opaque-tag)` pairs, the opaque tag without its quotes.
    Tags(Vec<(bool, String)>),
}

impl IfMatch {
    /// Whether the precondition holds for the current `version`. `If-Match` uses the strong
    /// comparison: a weak tag never matches, and tags compare as text, so `"3"` matches
    /// version 3 and `"03"` does not.
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => {
                let current = version.to_string();
                tags.iter().any(|(weak, tag)| !weak && *tag == current)
            }
        }
    }
}

/// [`if_match`] where a replace needs it: without one, a 428 saying so. `what` names the
/// resource ("an automation", "the settings").
pub fn required_if_match(headers: &HeaderMap, what: &str) -> Result<IfMatch, Problem> {
    if_match(headers)?.ok_or_else(|| {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            format!("replacing {what} needs If-Match with its ETag (a GET gives it)"),
        )
    })
}

/// Takes the read-only `version` out of a body: a GET's body may be sent back as it is, so
/// the version may be there when it is the one being replaced (`current`), and is refused
/// otherwise (on a create there is none to repeat).
pub fn take_read_only_version(
    body: &mut serde_json::Map<String, Value>,
    current: Option<u64>,
) -> Result<(), Problem> {
    match (body.remove("version"), current) {
        (None, _) => Ok(()),
        (Some(v), Some(c)) if v == c => Ok(()),
        (Some(_), _) => Err(Problem::invalid_field(
            "version",
            "is read-only: leave it out, or give the version being replaced",
        )),
    }
}

/// `#entity-tag` / `*` from the `If-Match` fields (several fields form one list); `None`
/// without any. A value that is not an entity tag list is a 400 naming the header.
pub fn if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, Problem> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let malformed = || {
        Problem::bad_field(
            "If-Match",
            "must be * or a list of quoted entity tags, e.g. \"3\" (an ETag this API gave)",
        )
    };
    let mut tags = Vec::new();
    let mut any = false;
    for value in values {
        let text = value.to_str().map_err(|_| malformed())?;
        for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            if member == "*" {
                any = true;
                continue;
            }
            let (weak, quoted) = match member.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, member),
            };
            let opaque = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .filter(|o| !o.contains('"'))
                .ok_or_else(malformed)?;
            tags.push((weak, opaque.to_owned()));
        }
    }
    match (any, tags.is_empty()) {
        (true, true) => Ok(Some(IfMatch::Any)),
        (false, false) => Ok(Some(IfMatch::Tags(tags))),
        // `*` mixed with tags, or nothing but commas.
        _ => Err(malformed()),
    }
}

/// The `ETag` of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
