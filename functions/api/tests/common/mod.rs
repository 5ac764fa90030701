//! Calling the API as API Gateway does: a real HTTP API (payload 2.0) request fixture with the
//! JWT authorizer's claims, changed per call, turned into a request by `lambda_http` and
//! handed to the router, exactly as the `api` Lambda does.

#![allow(dead_code)]

use api::identity::{ClaimNames, IdentitySource};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::adapters::MemoryStore;
use tower::ServiceExt;

pub fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/http-api-jwt-request.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Who calls: a tenant and a role, or nobody (no authorizer context).
#[derive(Clone, Copy)]
pub enum As {
    Admin(&'static str),
    Viewer(&'static str),
    Nobody,
}

pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub caller: As,
}

pub fn call(method: &'static str, path: impl Into<String>) -> Call {
    Call {
        method,
        path: path.into(),
        body: None,
        headers: Vec::new(),
        caller: As::Admin("t1"),
    }
}

impl Call {
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self
    }

    pub fn raw(mut self, content_type: &'static str, body: String) -> Self {
        self.body = Some(body);
        self.headers.push(("content-type", content_type.to_owned()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn by(mut self, caller: As) -> Self {
        self.caller = caller;
        self
    }

    /// The API Gateway event for this call.
    pub fn event(&self) -> Value {
        let mut event = fixture();
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        event["routeKey"] = json!(format!("{} {path}", self.method));
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(query);
        event["requestContext"]["http"]["method"] = json!(self.method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        for (name, value) in &self.headers {
            event["headers"][*name] = json!(value);
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body);
            event["headers"]["content-length"] = json!(body.len().to_string());
        }
        let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
        match self.caller {
            As::Admin(t) => {
                claims["tenant_id"] = json!(t);
                claims["role"] = json!("admin");
            }
            As::Viewer(t) => {
                claims["tenant_id"] = json!(t);
                claims["role"] = json!("viewer");
            }
            As::Nobody => {
                event["requestContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("authorizer");
            }
        }
        event
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The field paths a problem names.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|p| p["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The router as the Lambda builds it, with the default claim names.
pub fn lambda_router(store: MemoryStore) -> Router {
    api::router(store, IdentitySource::Jwt(ClaimNames::default()))
}

/// Sends a call through `lambda_http`'s event → request conversion to the router.
pub async fn send(router: &Router, call: Call) -> Reply {
    let request = lambda_http::request::from_str(&call.event().to_string()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// An automation active from 2026-10-01: in the past, so the body says `backfill: true`
/// (the tests replay November's events).
pub fn automation(id: &str) -> Value {
    json!({"id": id, "name": "Past due 14/30",
        "trigger": {"type": "past_due", "thresholds_days": [14, 30],
                    "require_active_subscription": false},
        "active_from": "2026-10-01", "backfill": true,
        "actions": [{"type": "notify", "channel": "finance"}]})
}

pub fn balance(id: &str, tenant: &str, customer: &str, at: &str, amount: i64) -> Value {
    json!({"event_id": id, "tenant_id": tenant, "customer_id": customer,
        "type": "balance.changed", "occurred_at": at,
        "balance": {"amount_minor": amount, "currency": "USD"}})
}
