//! Errors as `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`, and
//! for validation `errors: [{"field", "message"}]`. Never a stack trace or an SDK message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::domain::{FieldError, FieldErrors};
use shared::ports::StoreError;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Validation problems, each naming its field path.
    pub errors: Vec<(String, String)>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 422 with one problem per field.
    pub fn invalid(errors: &FieldErrors) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: "the request body is not valid: see errors".to_owned(),
            errors: errors
                .0
                .iter()
                .map(|e| (e.field.clone(), e.message.clone()))
                .collect(),
        }
    }

    /// 422 naming one field of the body.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(&FieldErrors(vec![FieldError::new(field, message)]))
    }

    /// 400 naming one query parameter or header.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            detail: format!("{field}: {message}"),
            errors: vec![(field.to_owned(), message)],
        }
    }

    /// A store failure. Whatever went wrong is in the log already (`StoreError::failed` and
    /// `unavailable` write one line where the adapter finds it: an error code and message, no
    /// customer data); the client learns only whether to try again.
    pub fn store(e: &StoreError) -> Self {
        if e.is_retryable() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is temporarily unavailable: try again",
            )
        } else {
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Self::store(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = json!({
            "type": "about:blank",
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = self
                .errors
                .iter()
                .map(|(field, message)| json!({"field": field, "message": message}))
                .collect();
        }
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}
