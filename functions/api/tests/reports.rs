//! `GET /v1/reports/weekly` through real API Gateway requests on the in-memory store: the
//! review `rulekit simulate --report` writes, as JSON or as its HTML page, for any role.

mod common;

use axum::http::StatusCode;
use common::{As, automation, balance, call, lambda_router, send};
use serde_json::json;
use shared::adapters::MemoryStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::report::{IsoWeek, weekly_review};
use shared::domain::TenantId;

/// Two customers past due since 11-01 (UTC tenant): the day-14 step fires for both on 11-15,
/// the Sunday of 2026-W46.
async fn fired_week_46() -> (MemoryStore, axum::Router) {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let created = send(&api, call("POST", "/v1/automations").json(automation("a1"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let events = json!({"events": [
        balance("e1", "t1", "c1", "2026-11-01T10:00:00Z", -5_000),
        balance("e2", "t1", "c2", "2026-11-01T10:00:00Z", -7_000)]});
    let ingested = send(&api, call("POST", "/v1/events").json(events)).await;
    assert_eq!(ingested.status, StatusCode::OK, "{}", ingested.body);
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    (store, api)
}

#[tokio::test]
async fn when_a_viewer_asks_for_a_week_should_answer_the_review_as_json() {
    let (store, api) = fired_week_46().await;
    let reply = send(
        &api,
        call("GET", "/v1/reports/weekly?week=2026-W46").by(As::Viewer("t1")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(reply.body["week"], "2026-W46");
    assert_eq!(
        (&reply.body["from"], &reply.body["to"]),
        (&json!("2026-11-09"), &json!("2026-11-15"))
    );
    let steps = reply.body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{}", reply.body);
    assert_eq!(
        (&steps[0]["day"], &steps[0]["this_week"]["went_on"]),
        (&json!(14), &json!(2))
    );
    // Fired on the week's last day: nothing has had 14 days to recover yet.
    assert_eq!(steps[0]["treated"]["matured"], 0);
    let direct = weekly_review(
        &store,
        &TenantId::new("t1"),
        IsoWeek::parse("2026-W46").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        reply.body,
        direct.to_json(),
        "the same review simulate writes"
    );

    // Another tenant's token sees its own, empty, review.
    let other = send(
        &api,
        call("GET", "/v1/reports/weekly?week=2026-W46").by(As::Viewer("t2")),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["steps"], json!([]));
}

#[tokio::test]
async fn when_a_browser_asks_should_answer_the_self_contained_html_page() {
    let (_, api) = fired_week_46().await;
    for asked in [
        call("GET", "/v1/reports/weekly?week=2026-W46").header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        call("GET", "/v1/reports/weekly?week=2026-W46&format=html"),
    ] {
        let reply = send(&api, asked).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type(), "text/html; charset=utf-8");
        assert_eq!(
            reply.headers["content-security-policy"],
            "default-src 'none'; style-src 'unsafe-inline'"
        );
        let page = reply.body.as_str().unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("Weekly review 2026-W46"), "{page}");
    }
}

#[tokio::test]
async fn when_the_week_or_format_is_malformed_should_answer_400_naming_the_parameter() {
    let (_, api) = fired_week_46().await;
    for (query, field) in [
        ("week=2026-W54", "week"),
        ("week=2026-11-15", "week"),
        ("week=2026-W46&format=pdf", "format"),
        ("weeks=2026-W46", "weeks"),
    ] {
        let reply = send(&api, call("GET", format!("/v1/reports/weekly?{query}"))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.fields(), [field], "{query}: {}", reply.body);
    }
}
