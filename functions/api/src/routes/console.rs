//! The operators' console (`functions/api/console/`): four static files embedded at build
//! time and served under `/console/` by the router that serves the API. One origin for both:
//! the console calls the API with no CORS, no cookie and no other host, and its policy
//! (`connect-src 'self'`) lets it reach nothing else. The files need no build step, so every
//! checkout's `rulekit serve` serves the console it holds.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/app.js");
const STYLE: &str = include_str!("../../console/console.css");
const ICON: &str = include_str!("../../console/favicon.svg");

/// Scripts and styles from these files only, requests to this origin only.
/// The one frame is a report page the console fetched and shows from a `blob:` URL.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; frame-src blob:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A new build serves new files at the same names: always ask.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The playbooks of SPEC §8, each from its example file (the ones `rulekit simulate` runs and
/// the tests check): New Automation offers them as starting points.
const PLAYBOOKS: [(&str, &str, &str); 3] = [
    (
        "aging-ladder",
        "AR aging ladder: owners by bucket, the 90+ escalation approved",
        include_str!("../../../../examples/playbooks/aging-ladder.json"),
    ),
    (
        "dunning",
        "Dunning: retries segmented by decline, amount and tenure",
        include_str!("../../../../examples/playbooks/dunning.json"),
    ),
    (
        "cancellation-hold",
        "Cancellation hold: one recovery offer by profile",
        include_str!("../../../../examples/playbooks/cancellation-hold.json"),
    ),
];

/// `[{"id", "title", "automation"}]`: each playbook's first automation as a new tenant would
/// start it: no tenant (the API takes it from the identity), no start date (the console
/// offers today), in dry run (it records what it would do and sends nothing until an admin
/// makes it live).
fn playbook_templates() -> String {
    let templates: Vec<serde_json::Value> = PLAYBOOKS
        .iter()
        .map(|(id, title, file)| {
            let file: serde_json::Value =
                serde_json::from_str(file).expect("the example playbooks are JSON (tested)");
            let mut automation = file["automations"][0].clone();
            let fields = automation
                .as_object_mut()
                .expect("an example playbook's automation is an object");
            fields.remove("tenant_id");
            fields.remove("active_from");
            fields.insert("id".into(), (*id).into());
            fields.insert("mode".into(), "dry_run".into());
            serde_json::json!({"id": id, "title": title, "automation": automation})
        })
        .collect();
    serde_json::Value::Array(templates).to_string()
}

pub async fn playbooks() -> Response {
    static TEMPLATES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    file(
        "application/json",
        TEMPLATES.get_or_init(playbook_templates),
    )
}

pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

pub async fn icon() -> Response {
    file("image/svg+xml", ICON)
}

/// `/console` is the console's page too, at the address its relative links work from.
pub async fn to_index() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, "/console/")],
    )
        .into_response()
}
