//! The operators' console (`functions/api/console/`): five static files embedded at build
//! time and served under `/console/` by the router that serves the API, with `config.json`
//! (how it signs in) and `playbooks.json` (New Automation's starting points). One origin for
//! both: the console calls the API with no CORS and no cookie, and its policy
//! (`connect-src 'self'`, and the hosted sign-in's origin when there is one) lets it reach
//! nothing else. The files need no build step, so every checkout's `rulekit serve` serves the
//! console it holds.

use crate::{ApiStore, State};
use axum::extract::State as Extract;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/app.js");
const SIGN_IN: &str = include_str!("../../console/sign-in.js");
const STYLE: &str = include_str!("../../console/console.css");
const ICON: &str = include_str!("../../console/favicon.svg");

/// Scripts and styles from these files only, requests to this origin only (and to the hosted
/// sign-in's, for its token endpoint, when there is one). The one frame is a report page the
/// console fetched and shows from a `blob:` URL.
fn policy(sign_in: Option<&str>) -> String {
    let connect = match sign_in {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect}; \
         img-src 'self'; frame-src blob:; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The policy of every response but the page's.
fn own_policy() -> HeaderValue {
    static POLICY: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    POLICY
        .get_or_init(|| HeaderValue::from_str(&policy(None)).expect("the policy is ASCII"))
        .clone()
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    with_headers(content_type, body, own_policy())
}

fn with_headers(
    content_type: &'static str,
    body: impl IntoResponse,
    policy: HeaderValue,
) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
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

/// The page, whose policy lets it reach the hosted sign-in's token endpoint when there is one.
pub async fn index<S: ApiStore>(Extract(state): Extract<State<S>>) -> Response {
    // The origin was checked at start-up (`Config`): an https origin, no quote or `;`.
    match HeaderValue::from_str(&policy(state.console.origin())) {
        Ok(policy) => with_headers("text/html; charset=utf-8", INDEX, policy),
        Err(_) => file("text/html; charset=utf-8", INDEX),
    }
}

/// How the console signs in: `{"sign_in": "dev" | "hosted_ui" | "none"}`, with the hosted
/// sign-in's `url`, `client_id`, `tenant_claim` and `role_claim` for `hosted_ui`.
pub async fn config<S: ApiStore>(Extract(state): Extract<State<S>>) -> Response {
    with_headers(
        "application/json",
        state.console.to_json().to_string(),
        own_policy(),
    )
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

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn sign_in_script() -> Response {
    file("text/javascript; charset=utf-8", SIGN_IN)
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
