//! The API's router on DynamoDB (the local emulator): the parts whose DynamoDB side the
//! in-memory handler tests cannot reach: pages of automations and of the audit log, the dates
//! index behind the firing lists, and releasing or discarding held firings in transactions.

use api::identity::IdentitySource;
use axum::http::StatusCode;
use e2e::{Env, call_api};
use serde_json::{Value, json};
use shared::app::evaluate::evaluate_tenant_day;
use shared::domain::TenantId;

fn automation(id: &str) -> Value {
    json!({"id": id, "name": format!("Automation {id}"), "active_from": "2026-10-01", "backfill": true,
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]})
}

fn ids(page: &Value, key: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_pages_are_read_on_dynamodb_should_follow_the_cursor_and_skip_archived_automations() {
    let env = Env::new("api-pages").await;
    let api = api::router(env.store(), IdentitySource::DevHeaders);
    for id in ["a1", "a2", "a3", "a4"] {
        assert_eq!(
            call_api(&api, "POST", "/v1/automations", Some(automation(id)))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        call_api(&api, "DELETE", "/v1/automations/a2", None).await.0,
        StatusCode::NO_CONTENT
    );

    let (_, first) = call_api(&api, "GET", "/v1/automations?limit=2", None).await;
    assert_eq!(ids(&first, "id"), ["a1", "a3"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = call_api(
        &api,
        "GET",
        &format!("/v1/automations?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(ids(&second, "id"), ["a4"]);

    // Five changes: newest first, two at a time.
    let (_, page) = call_api(&api, "GET", "/v1/audit?limit=2", None).await;
    let mut actions = ids(&page, "action");
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, page) = call_api(&api, "GET", &format!("/v1/audit?limit=2&cursor={c}"), None).await;
        actions.extend(ids(&page, "action"));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        actions,
        [
            "automation.archived",
            "automation.created",
            "automation.created",
            "automation.created",
            "automation.created"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_held_firings_are_released_on_dynamodb_should_move_them_to_the_outbox_once() {
    let env = Env::new("api-held").await;
    let store = env.store();
    let api = api::router(store.clone(), IdentitySource::DevHeaders);
    call_api(&api, "POST", "/v1/automations", Some(automation("a1"))).await;
    let settings = json!({"timezone": "UTC", "guardrail": {"min_count": 1, "max_share": 0.1}});
    assert_eq!(
        call_api(&api, "PUT", "/v1/settings", Some(settings))
            .await
            .0,
        StatusCode::OK
    );
    let events: Vec<Value> = (0..120)
        .map(|n| json!({"event_id": format!("e{n}"), "tenant_id": "t1", "customer_id": format!("c{n:03}"),
            "type": "balance.changed", "occurred_at": "2026-11-01T10:00:00Z",
            "balance": {"amount_minor": -5000, "currency": "USD"}}))
        .collect();
    let (status, _) = call_api(&api, "POST", "/v1/events", Some(json!({"events": events}))).await;
    assert_eq!(status, StatusCode::OK);
    let report = evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.holds.len(), 1);

    let (_, held) = call_api(
        &api,
        "GET",
        "/v1/firings?date=2026-11-15&status=held&limit=1000",
        None,
    )
    .await;
    assert_eq!(held["items"].as_array().unwrap().len(), 120);
    let target = json!({"automation_id": "a1", "date": "2026-11-15"});
    let (status, released) =
        call_api(&api, "POST", "/v1/firings/release", Some(target.clone())).await;
    assert_eq!(
        (status, released["moved"].clone()),
        (StatusCode::OK, json!(120))
    );
    let (_, again) = call_api(&api, "POST", "/v1/firings/release", Some(target)).await;
    assert_eq!(again["moved"], 0);
    let outbox = shared::ports::DecisionStore::pending_firings(&store, 1000)
        .await
        .unwrap();
    assert_eq!(outbox.len(), 120, "released firings wait for the executor");

    // 120 firings move in two transactions, each with its audit entry.
    let (_, audit) = call_api(&api, "GET", "/v1/audit?limit=10", None).await;
    let releases = ids(&audit, "action")
        .iter()
        .filter(|a| *a == "firings.released")
        .count();
    assert_eq!(releases, 2);
}

/// SPEC §8.7 through the API on DynamoDB: profiles posted raw, rules previewed and saved, the
/// re-normalization run as the scheduled function runs it, its progress, the customer's raw
/// and normalized profile, and the change log by customer and by date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_normalization_rules_are_previewed_saved_and_applied_on_dynamodb_should_log_each_change()
 {
    let env = Env::new("api-normalize").await;
    let store = env.store();
    let api = api::router(store.clone(), IdentitySource::DevHeaders);
    let events: Vec<Value> = (0..6)
        .map(|n| {
            json!({"event_id": format!("p{n}"), "tenant_id": "t1",
                "customer_id": format!("c{n}"), "type": "customer.updated",
                "occurred_at": "2026-11-01T10:00:00Z",
                "customer": {"metadata": {"Plan Name": if n % 2 == 0 { " Premium" } else { "basic" }}}})
        })
        .collect();
    let (status, _) = call_api(&api, "POST", "/v1/events", Some(json!({"events": events}))).await;
    assert_eq!(status, StatusCode::OK);
    let rules = json!({"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values"},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold"}}]});
    let (status, preview) = call_api(
        &api,
        "POST",
        "/v1/normalization/preview",
        Some(rules.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            preview["customers_read"].clone(),
            preview["profiles_changed"].clone()
        ),
        (json!(6), json!(6))
    );
    assert_eq!(preview["rules"][4]["profiles"], 3, "{preview}");

    let (status, saved) = call_api(
        &api,
        "PUT",
        "/v1/settings",
        Some(json!({"normalization": rules})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["normalization"]["version"], 1);
    let (_, pending) = call_api(&api, "GET", "/v1/normalization/status", None).await;
    assert_eq!(pending["state"], "pending");

    // The scheduled function's pass after its daily runs.
    let now = "2026-11-20T12:00:00Z".parse().unwrap();
    let passes = shared::app::normalize::renormalize_tenants(
        &store,
        now,
        shared::app::normalize::Budget::UNBOUNDED,
    )
    .await
    .unwrap();
    assert_eq!(passes.len(), 1);
    let (_, done) = call_api(&api, "GET", "/v1/normalization/status", None).await;
    assert_eq!(
        (
            done["state"].clone(),
            done["customers_read"].clone(),
            done["profiles_changed"].clone()
        ),
        (json!("done"), json!(6), json!(6))
    );
    let (_, c0) = call_api(&api, "GET", "/v1/customers/c0", None).await;
    assert_eq!(c0["profile"]["metadata"], json!({"Plan Name": " Premium"}));
    assert_eq!(
        c0["profile"]["normalized"],
        json!({"metadata": {"plan": "gold"}, "rules_version": 1})
    );
    let (_, by_customer) = call_api(
        &api,
        "GET",
        "/v1/normalization/changes?customer_id=c0",
        None,
    )
    .await;
    let types: Vec<&str> = by_customer["items"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "key_case",
            "rename_key",
            "trim_values",
            "lowercase_values",
            "map_values"
        ]
    );
    let (_, by_date) = call_api(
        &api,
        "GET",
        "/v1/normalization/changes?date=2026-11-20",
        None,
    )
    .await;
    assert_eq!(
        ids(&by_date, "customer_id"),
        ["c0", "c1", "c2", "c3", "c4", "c5"]
    );
    // A profile posted now is normalized at ingest and logged with its event.
    let late = json!({"event_id": "p9", "tenant_id": "t1", "customer_id": "c9",
        "type": "customer.updated", "occurred_at": "2026-11-20T10:00:00Z",
        "received_at": "2026-11-20T10:00:00Z", "customer": {"metadata": {"PlanName": "PREM "}}});
    call_api(&api, "POST", "/v1/events", Some(json!({"events": [late]}))).await;
    let (_, c9) = call_api(
        &api,
        "GET",
        "/v1/normalization/changes?customer_id=c9",
        None,
    )
    .await;
    assert_eq!(
        c9["items"][0]["cause"],
        json!({"type": "event", "event_id": "p9"})
    );
}
