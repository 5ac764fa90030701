//! The routes of SPEC §6, one module per resource, and what they share.

mod audit;
mod automations;
mod console;
mod customers;
mod events;
mod firings;
mod normalization;
mod reports;
mod settings;

use crate::identity::Caller;
use crate::problem::Problem;
use crate::{ApiStore, OPENAPI, State};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use shared::domain::TenantId;
pub use shared::domain::ids::is_valid_id;
use shared::ports::AuditEntry;
use std::hash::{BuildHasher, Hasher};

pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/openapi.json"),
    ("post", "/v1/automations"),
    ("get", "/v1/automations"),
    ("get", "/v1/automations/{id}"),
    ("put", "/v1/automations/{id}"),
    ("delete", "/v1/automations/{id}"),
    ("post", "/v1/automations/{id}/preview"),
    ("post", "/v1/automations/{id}/promote"),
    ("post", "/v1/events"),
    ("get", "/v1/customers/{id}"),
    ("get", "/v1/firings"),
    ("post", "/v1/firings/release"),
    ("post", "/v1/firings/discard"),
    ("post", "/v1/firings/{id}/approve"),
    ("post", "/v1/firings/{id}/reject"),
    ("get", "/v1/audit"),
    ("get", "/v1/settings"),
    ("put", "/v1/settings"),
    ("get", "/v1/normalization/changes"),
    ("post", "/v1/normalization/preview"),
    ("get", "/v1/normalization/status"),
    ("get", "/v1/reports/weekly"),
    ("get", "/v1/reports/aging"),
];

pub fn router<S: ApiStore>(state: State<S>) -> Router {
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        // The console's files: not API routes (not in ROUTES or the OpenAPI document), and
        // static, so they ask no identity.
        .route("/console", get(console::to_index))
        .route("/console/", get(console::index::<S>))
        .route("/console/config.json", get(console::config::<S>))
        .route("/console/app.js", get(console::script))
        .route("/console/sign-in.js", get(console::sign_in_script))
        .route("/console/console.css", get(console::style))
        .route("/console/favicon.svg", get(console::icon))
        .route("/console/playbooks.json", get(console::playbooks))
        .route(
            "/v1/automations",
            post(automations::create::<S>).get(automations::list::<S>),
        )
        .route(
            "/v1/automations/{id}",
            get(automations::get_one::<S>)
                .put(automations::replace::<S>)
                .delete(automations::archive::<S>),
        )
        .route(
            "/v1/automations/{id}/preview",
            post(automations::preview::<S>),
        )
        .route(
            "/v1/automations/{id}/promote",
            post(automations::promote::<S>),
        )
        .route("/v1/events", post(events::ingest::<S>))
        .route("/v1/customers/{id}", get(customers::get_one::<S>))
        .route("/v1/firings", get(firings::list::<S>))
        .route("/v1/firings/release", post(firings::release::<S>))
        .route("/v1/firings/discard", post(firings::discard::<S>))
        .route("/v1/firings/{id}/approve", post(firings::approve::<S>))
        .route("/v1/firings/{id}/reject", post(firings::reject::<S>))
        .route("/v1/audit", get(audit::list::<S>))
        .route(
            "/v1/settings",
            get(settings::get_one::<S>).put(settings::replace::<S>),
        )
        .route(
            "/v1/normalization/changes",
            get(normalization::changes::<S>),
        )
        .route(
            "/v1/normalization/preview",
            post(normalization::preview::<S>),
        )
        .route("/v1/normalization/status", get(normalization::status::<S>))
        .route("/v1/reports/weekly", get(reports::weekly::<S>))
        .route("/v1/reports/aging", get(reports::aging::<S>))
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed on this path",
            )
        })
        .with_state(state)
}

async fn openapi(_: crate::request::NoQuery) -> Response {
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response with a status.
fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// 64 random bits as hex, from the standard library's per-process random hash keys.
fn random_hex() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// A body's JSON object for `caller`'s tenant (`what` it should be, for the error): the
/// tenant comes from the identity, so `tenant_id` may be left out (it is filled in) and may
/// not name another tenant.
fn tenant_object(caller: &Caller, body: Value, what: &str) -> Result<Map<String, Value>, Problem> {
    let Value::Object(mut obj) = body else {
        return Err(Problem::invalid_field(
            "",
            format!("must be a JSON object ({what})"),
        ));
    };
    match obj.get("tenant_id") {
        None => {
            obj.insert("tenant_id".into(), serde_json::json!(caller.tenant));
        }
        Some(t) if *t == serde_json::json!(caller.tenant) => {}
        Some(_) => {
            return Err(Problem::invalid_field(
                "tenant_id",
                "must be your own tenant, or left out",
            ));
        }
    }
    Ok(obj)
}

/// `id` as one path segment: every byte outside RFC 3986's unreserved characters is
/// percent-encoded. Ids are already limited to safe characters (`is_valid_id`); this keeps any
/// header built from one a single, literal segment whatever an id ever holds.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `response` with a `Location` header naming `prefix/{id}`.
fn with_location(mut response: Response, prefix: &str, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("{prefix}/{}", path_segment(id))) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `response` with the `ETag` of a document's `version`.
fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&crate::request::etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// An audit entry for a change made now by `actor`.
fn audit_entry(
    tenant: &TenantId,
    actor: &str,
    action: &str,
    resource: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> AuditEntry {
    let at: DateTime<Utc> = Utc::now();
    AuditEntry {
        tenant_id: tenant.clone(),
        // Sorts in time order; the random part keeps two changes in one microsecond apart.
        id: format!("{}-{}", at.format("%Y%m%dT%H%M%S%.6fZ"), random_hex()),
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        resource,
        before,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn when_an_id_holds_url_special_characters_should_encode_them_in_a_path_segment() {
        assert_eq!(path_segment("a1?ignore"), "a1%3Fignore");
        assert_eq!(path_segment("../x#y z"), "..%2Fx%23y%20z");
        assert_eq!(path_segment("a_1.b-c~"), "a_1.b-c~");
        assert_eq!(path_segment("a:b"), "a%3Ab");
    }
}
