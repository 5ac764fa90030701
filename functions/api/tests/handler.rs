//! Every route through real API Gateway HTTP API requests (JWT claims in the request
//! context), on the in-memory store: the happy paths, the failure statuses, roles, and the
//! tenant isolation matrix. (The same router runs against the local AWS emulator in
//! tests/e2e, and schemathesis fuzzes it from the OpenAPI document in the test command.)

mod common;

use axum::http::StatusCode;
use common::{As, automation, balance, call, lambda_router, send};
use serde_json::{Value, json};
use shared::adapters::MemoryStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::domain::TenantId;

#[tokio::test]
async fn when_an_admin_creates_replaces_and_archives_an_automation_should_version_and_audit_each_change()
 {
    let api = lambda_router(MemoryStore::new());
    let created = send(&api, call("POST", "/v1/automations").json(automation("a1"))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["etag"], "\"1\"");
    assert_eq!(created.headers["location"], "/v1/automations/a1");
    assert_eq!(
        (
            created.body["id"].clone(),
            created.body["tenant_id"].clone(),
            created.body["version"].clone()
        ),
        (json!("a1"), json!("t1"), json!(1)),
        "the tenant comes from the token"
    );

    let read = send(&api, call("GET", "/v1/automations/a1")).await;
    assert_eq!(
        (read.status, read.headers["etag"].to_str().unwrap()),
        (StatusCode::OK, "\"1\"")
    );

    let mut changed = automation("a1");
    changed["name"] = json!("Past due, renamed");
    let missing = send(
        &api,
        call("PUT", "/v1/automations/a1").json(changed.clone()),
    )
    .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED);
    let replaced = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"1\"")
            .json(changed.clone()),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["version"], 2);
    let stale = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"1\"")
            .json(changed),
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.content_type(), "application/problem+json");

    let archived = send(&api, call("DELETE", "/v1/automations/a1")).await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&api, call("GET", "/v1/automations/a1")).await.status,
        StatusCode::NOT_FOUND
    );
    let list = send(&api, call("GET", "/v1/automations")).await;
    assert_eq!(list.body["items"], json!([]));
    let again = send(&api, call("POST", "/v1/automations").json(automation("a1"))).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "ids are not reused");

    let audit = send(&api, call("GET", "/v1/audit")).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "automation.archived",
            "automation.replaced",
            "automation.created"
        ]
    );
    let replace = &audit.body["items"][1];
    assert_eq!(
        replace["actor"], "4f9c2b7e-0d1a-4c3e-9b8f-6a5d4c3b2a19",
        "the token's subject"
    );
    assert_eq!(replace["before"]["name"], "Past due 14/30");
    assert_eq!(replace["after"]["name"], "Past due, renamed");
}

#[tokio::test]
async fn when_automations_are_listed_should_page_through_them_with_the_cursor() {
    let api = lambda_router(MemoryStore::new());
    for id in ["a1", "a2", "a3"] {
        send(&api, call("POST", "/v1/automations").json(automation(id))).await;
    }
    let first = send(&api, call("GET", "/v1/automations?limit=2")).await;
    let ids = |r: &common::Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), ["a1", "a2"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = send(
        &api,
        call("GET", format!("/v1/automations?limit=2&cursor={cursor}")),
    )
    .await;
    assert_eq!(ids(&second), ["a3"]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let bad = send(&api, call("GET", "/v1/automations?limit=0")).await;
    assert_eq!(
        (bad.status, bad.fields()),
        (StatusCode::BAD_REQUEST, vec!["limit".to_owned()])
    );
    let unknown = send(&api, call("GET", "/v1/automations?colour=red")).await;
    assert_eq!(
        (unknown.status, unknown.fields()),
        (StatusCode::BAD_REQUEST, vec!["colour".to_owned()])
    );
}

#[tokio::test]
async fn when_an_automation_has_several_problems_should_answer_422_naming_every_field() {
    let api = lambda_router(MemoryStore::new());
    let mut bad = automation("a1");
    bad["colour"] = json!("red");
    bad["trigger"]["thresholds_days"] = json!([30, 14]);
    bad["trigger"]["continuity"] = json!("sometimes");
    bad["actions"] = json!([{"type": "fax", "channel": "finance"}]);
    bad["tenant_id"] = json!("t2");
    let reply = send(&api, call("POST", "/v1/automations").json(bad)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(
        reply.fields(),
        ["tenant_id"],
        "another tenant is refused first"
    );

    let mut bad = automation("a1");
    bad["colour"] = json!("red");
    bad["trigger"]["thresholds_days"] = json!([30, 14]);
    bad["trigger"]["continuity"] = json!("sometimes");
    bad["actions"] = json!([{"type": "fax", "channel": "finance"}]);
    let reply = send(&api, call("POST", "/v1/automations").json(bad)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = reply.fields();
    for expected in [
        "colour",
        "trigger.thresholds_days[1]",
        "trigger.continuity",
        "actions[0].type",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert_eq!(reply.body["status"], 422);
    assert!(reply.body["title"].is_string() && reply.body["type"].is_string());
}

#[tokio::test]
async fn when_the_body_is_too_large_not_json_or_of_another_media_type_should_say_so() {
    let api = lambda_router(MemoryStore::new());
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    let reply = send(
        &api,
        call("POST", "/v1/automations").raw("application/json", huge),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = send(
        &api,
        call("POST", "/v1/automations").raw("application/json", "{nope".into()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = send(
        &api,
        call("POST", "/v1/automations").raw("text/plain", "{}".into()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for reply in [
        send(&api, call("PATCH", "/v1/automations")).await,
        send(&api, call("GET", "/v1/nothing-here")).await,
    ] {
        assert!(matches!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND
        ));
        assert_eq!(reply.content_type(), "application/problem+json");
    }
}

#[tokio::test]
async fn when_the_caller_has_no_identity_or_only_the_viewer_role_should_refuse_accordingly() {
    let api = lambda_router(MemoryStore::new());
    send(&api, call("POST", "/v1/automations").json(automation("a1"))).await;
    for (method, path) in api::ROUTES.iter().filter(|(_, p)| *p != "/v1/openapi.json") {
        let path = path.replace("{id}", "a1");
        let reply = send(
            &api,
            call(method_of(method), path.clone())
                .json(json!({}))
                .by(As::Nobody),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(reply.content_type(), "application/problem+json");
    }
    // A viewer reads and previews; every change needs an admin.
    let changes = [
        call("POST", "/v1/automations").json(automation("a2")),
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"1\"")
            .json(automation("a1")),
        call("DELETE", "/v1/automations/a1"),
        call("POST", "/v1/events").json(json!({"events": []})),
        call("POST", "/v1/firings/release")
            .json(json!({"automation_id": "a1", "date": "2026-11-15"})),
        call("POST", "/v1/firings/discard")
            .json(json!({"automation_id": "a1", "date": "2026-11-15"})),
        call("PUT", "/v1/settings").json(json!({"timezone": "UTC"})),
    ];
    for change in changes {
        let what = format!("{} {}", change.method, change.path);
        let reply = send(&api, change.by(As::Viewer("t1"))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}");
    }
    let preview = send(
        &api,
        call("POST", "/v1/automations/a1/preview")
            .json(json!({"date": "2026-11-15"}))
            .by(As::Viewer("t1")),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(
        send(&api, call("GET", "/v1/automations/a1").by(As::Viewer("t1")))
            .await
            .status,
        StatusCode::OK
    );
}

fn method_of(lower: &str) -> &'static str {
    match lower {
        "get" => "GET",
        "post" => "POST",
        "put" => "PUT",
        "delete" => "DELETE",
        other => panic!("no method {other}"),
    }
}

#[tokio::test]
async fn when_events_are_posted_should_report_each_as_accepted_duplicate_or_rejected() {
    let api = lambda_router(MemoryStore::new());
    let e1 = balance("e1", "t1", "c1", "2026-11-01T10:00:00Z", -5000);
    let mut bad = balance("e2", "t1", "c2", "2026-11-01T10:00:00Z", -5000);
    bad["balance"]["currency"] = json!("XXX1");
    let other_tenant = balance("e3", "t2", "c3", "2026-11-01T10:00:00Z", -5000);
    let reply = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": [e1.clone(), e1, bad, other_tenant]})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let results: Vec<&str> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["accepted", "duplicate", "rejected", "rejected"]);
    assert_eq!(
        reply.body["results"][2]["errors"][0]["field"],
        "events[2].balance.currency"
    );
    assert_eq!(
        reply.body["results"][3]["errors"][0]["field"],
        "events[3].tenant_id"
    );

    let too_many: Vec<Value> = (0..501)
        .map(|n| balance(&format!("x{n}"), "t1", "c9", "2026-11-01T10:00:00Z", -1))
        .collect();
    let reply = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": too_many})),
    )
    .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["events".to_owned()])
    );
}

/// Tenant t1: automation a1 (14/30 days, finance), customers c1 and c2 past due since 11-01.
async fn tenant_with_past_due_customers(api: &axum::Router) {
    send(api, call("POST", "/v1/automations").json(automation("a1"))).await;
    let events = json!({"events": [
        balance("e1", "t1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "t1", "c2", "2026-11-01T10:00:00Z", -7000),
    ]});
    let reply = send(api, call("POST", "/v1/events").json(events)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn when_previewing_should_show_the_decisions_and_record_nothing() {
    let api = lambda_router(MemoryStore::new());
    tenant_with_past_due_customers(&api).await;
    let preview = send(
        &api,
        call("POST", "/v1/automations/a1/preview").json(json!({"date": "2026-11-15"})),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    let fired: Vec<(&str, &str, u64)> = preview.body["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["decision"].as_str().unwrap(),
                d["customer_id"].as_str().unwrap(),
                d["threshold_days"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(fired, [("fired", "c1", 14), ("fired", "c2", 14)]);
    let firings = send(&api, call("GET", "/v1/firings?date=2026-11-15")).await;
    assert_eq!(
        firings.body["items"],
        json!([]),
        "a preview records nothing"
    );
    let bad = send(
        &api,
        call("POST", "/v1/automations/a1/preview").json(json!({"date": "15/11/2026"})),
    )
    .await;
    assert_eq!(
        (bad.status, bad.fields()),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["date".to_owned()])
    );
}

#[tokio::test]
async fn when_an_automation_names_its_steps_should_keep_them_and_show_step_and_owner_on_its_firings()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let mut ladder = automation("ladder");
    ladder["trigger"] = json!({"type": "past_due", "require_active_subscription": false});
    ladder.as_object_mut().unwrap().remove("actions");
    ladder["steps"] = json!([
        {"name": "0-30", "day": 0,
         "actions": [{"type": "message", "template_id": "reminder", "variables": {}}]},
        {"name": "31-60", "day": 31, "owner": "collections",
         "actions": [{"type": "notify", "channel": "finance"}]}]);
    let created = send(&api, call("POST", "/v1/automations").json(ladder.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["steps"], ladder["steps"]);
    assert!(created.body.get("actions").is_none(), "{}", created.body);

    let mut both = ladder.clone();
    both["id"] = json!("both");
    both["actions"] = json!([{"type": "notify", "channel": "finance"}]);
    both["steps"][1]["owner"] = json!("Collections");
    let refused = send(&api, call("POST", "/v1/automations").json(both)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.fields(), ["actions", "steps[1].owner"]);

    let events = json!({"events": [balance("e1", "t1", "c1", "2026-11-01T10:00:00Z", -5000)]});
    assert_eq!(
        send(&api, call("POST", "/v1/events").json(events))
            .await
            .status,
        StatusCode::OK
    );
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-12-02".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let firings = send(&api, call("GET", "/v1/firings?date=2026-12-02")).await;
    assert_eq!(firings.status, StatusCode::OK, "{}", firings.body);
    // The day-0 step's window passed before the run: settled missed, and the 31-60 fired.
    let items = firings.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", firings.body);
    assert_eq!(
        (&items[0]["step"], &items[0]["reason"]),
        (&json!("0-30"), &json!("missed_window"))
    );
    let firing = &items[1];
    assert_eq!(
        (&firing["step"], &firing["owner"], &firing["clock_days"]),
        (&json!("31-60"), &json!("collections"), &json!(31))
    );
    let customer = send(&api, call("GET", "/v1/customers/c1?date=2026-12-02")).await;
    let why = customer.body["explanations"][0]["why"].as_str().unwrap();
    assert!(why.contains("; step \"31-60\" fired (pending)"), "{why}");
    assert!(
        why.starts_with("on the \"31-60\" step since 2026-12-02. "),
        "{why}"
    );
}

/// A tenant whose step at day 31 waits for approval, and two customers at it on `run_date`
/// (the run's date decides the approval's expiry, which the API reads on the machine's clock).
async fn tenant_awaiting_approvals(
    api: &axum::Router,
    store: &MemoryStore,
    run_date: chrono::NaiveDate,
) -> Value {
    let mut ladder = automation("ladder");
    ladder["trigger"] = json!({"type": "past_due", "require_active_subscription": false});
    ladder.as_object_mut().unwrap().remove("actions");
    ladder["steps"] = json!([{"name": "90+", "day": 31, "owner": "finance-lead",
        "approval": {"when": [{"field": "balance.amount_minor", "op": "lte", "value": -500000}],
                     "expires_after_days": 3},
        "actions": [{"type": "notify", "channel": "finance"}]}]);
    ladder["active_from"] = json!("2026-01-01");
    let created = send(api, call("POST", "/v1/automations").json(ladder)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let start = format!("{}T10:00:00Z", run_date - chrono::Days::new(31));
    let events = json!({"events": [
        balance("e1", "t1", "c1", &start, -750_000),
        balance("e2", "t1", "c2", &start, -900_000)]});
    send(api, call("POST", "/v1/events").json(events)).await;
    evaluate_tenant_day(store, &TenantId::new("t1"), run_date, None)
        .await
        .unwrap();
    let waiting = send(api, call("GET", "/v1/firings?status=awaiting_approval")).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    waiting.body
}

#[tokio::test]
async fn when_an_admin_approves_or_rejects_a_firing_should_carry_out_only_the_approved_one_and_audit_both()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let today = chrono::Utc::now().date_naive();
    let waiting = tenant_awaiting_approvals(&api, &store, today).await;
    let items = waiting["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["approval_expires_on"],
        (today + chrono::Days::new(3)).to_string()
    );
    let id = |i: usize| items[i]["firing_id"].as_str().unwrap().to_owned();

    let viewer = send(
        &api,
        call("POST", format!("/v1/firings/{}/approve", id(0))).by(As::Viewer("t1")),
    )
    .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let other = send(
        &api,
        call("POST", format!("/v1/firings/{}/approve", id(0))).by(As::Admin("t2")),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another tenant's firing"
    );

    let approved = send(&api, call("POST", format!("/v1/firings/{}/approve", id(0)))).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "pending");
    let again = send(&api, call("POST", format!("/v1/firings/{}/reject", id(0)))).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "answered already");
    let rejected = send(&api, call("POST", format!("/v1/firings/{}/reject", id(1)))).await;
    assert_eq!(rejected.body["status"], "rejected");
    let unknown = send(&api, call("POST", "/v1/firings/bm90LWEtZmlyaW5n/approve")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let publisher = shared::adapters::MemoryPublisher::new();
    let report = shared::app::execute::execute_pending(
        &store,
        &publisher,
        &shared::ports::StoreOnly,
        chrono::Utc::now(),
        100,
    )
    .await
    .unwrap();
    assert_eq!(report.sent, 1, "only the approved firing");
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1.body["customer_id"], items[0]["customer_id"]);

    let audit = send(&api, call("GET", "/v1/audit")).await;
    let entries: Vec<&Value> = audit.body["items"].as_array().unwrap().iter().collect();
    let actions: Vec<&str> = entries
        .iter()
        .take(2)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["firing.rejected", "firing.approved"]);
    assert_eq!(entries[1]["resource"], format!("firings/{}", id(0)));
    assert_eq!(entries[1]["after"], json!({"status": "pending"}));
    assert!(entries[1]["actor"].as_str().is_some_and(|a| !a.is_empty()));
    let customer = items[1]["customer_id"].as_str().unwrap();
    let view = send(&api, call("GET", format!("/v1/customers/{customer}"))).await;
    let why = view.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.starts_with(&format!("on the \"90+\" step since {today}, rejected")),
        "{why}"
    );
    let still = send(&api, call("GET", "/v1/firings?status=awaiting_approval")).await;
    assert_eq!(still.body["items"], json!([]));
}

#[tokio::test]
async fn when_an_approval_comes_after_it_expired_should_refuse_it_and_record_the_firing_expired() {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    // The run of 2026-05-02 asked; the approval could be given until 2026-05-05, and today,
    // by the machine's clock, is later.
    let waiting = tenant_awaiting_approvals(&api, &store, "2026-05-02".parse().unwrap()).await;
    let id = waiting["items"][0]["firing_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let late = send(&api, call("POST", format!("/v1/firings/{id}/approve"))).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(
        late.body["detail"]
            .as_str()
            .unwrap()
            .contains("until 2026-05-05"),
        "{}",
        late.body
    );
    let listed = send(
        &api,
        call("GET", "/v1/firings?date=2026-05-02&status=expired"),
    )
    .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn when_a_promise_to_pay_passed_unpaid_should_show_it_broken_beside_the_open_disputes() {
    let api = lambda_router(MemoryStore::new());
    let ago = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let event = |id: &str, kind: &str, at: String, payload: (&str, Value)| {
        let mut e = json!({"event_id": id, "tenant_id": "t1", "customer_id": "c1",
                           "type": kind, "occurred_at": at});
        e[payload.0] = payload.1;
        e
    };
    let events = json!({"events": [
        balance("e1", "t1", "c1", &ago(20), -5000),
        event("e2", "promise_to_pay.created", ago(15),
              ("promise", json!({"until": ago(5), "amount_minor": 5000}))),
        event("e3", "dispute.opened", ago(3), ("dispute", json!({"id": "dp_1"}))),
        event("e4", "dispute.opened", ago(9), ("dispute", json!({"id": "dp_0"}))),
        event("e5", "dispute.closed", ago(8), ("dispute", json!({"id": "dp_0"}))),
    ]});
    let reply = send(&api, call("POST", "/v1/events").json(events)).await;
    let results: Vec<&Value> = reply.body["results"].as_array().unwrap().iter().collect();
    assert!(
        results.iter().all(|r| r["result"] == "accepted"),
        "{}",
        reply.body
    );
    let view = send(&api, call("GET", "/v1/customers/c1")).await;
    assert_eq!(view.status, StatusCode::OK);
    let quiet = &view.body["quiet"];
    assert_eq!(quiet["promise"]["status"], "broken", "{quiet}");
    assert_eq!(quiet["promise"]["amount_minor"], 5000);
    assert_eq!(
        quiet["disputes"],
        json!([{"id": "dp_0", "status": "closed"}, {"id": "dp_1", "status": "open"}])
    );
}

#[tokio::test]
async fn when_inspecting_a_customer_should_explain_why_each_automation_did_or_did_not_fire() {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    tenant_with_past_due_customers(&api).await;
    let day = |d: &str| d.parse().unwrap();
    let mut settings = shared::domain::TenantSettings::defaults(TenantId::new("t1"));
    settings.guardrail.min_count = 1000;
    shared::ports::AutomationAdmin::put_settings(&store, &settings)
        .await
        .unwrap();
    evaluate_tenant_day(&store, &TenantId::new("t1"), day("2026-11-15"), None)
        .await
        .unwrap();

    let on_the_day = send(&api, call("GET", "/v1/customers/c1?date=2026-11-15")).await;
    assert_eq!(on_the_day.status, StatusCode::OK);
    assert_eq!(
        on_the_day.body["balance"],
        json!({"amount_minor": -5000, "currency": "USD"})
    );
    assert_eq!(
        on_the_day.body["episodes"]["negative_balance"]["days_past_due"],
        14
    );
    assert_eq!(on_the_day.body["firings"][0]["status"], "pending");
    assert_eq!(on_the_day.body["firings"][0]["threshold_days"], 14);
    let why = on_the_day.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("the run of 2026-11-15 recorded: threshold 14 fired (pending)"),
        "{why}"
    );

    let later = send(&api, call("GET", "/v1/customers/c1?date=2026-11-20")).await;
    let why = later.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("19 days past due") && why.contains("no threshold window"),
        "{why}"
    );

    let unknown = send(&api, call("GET", "/v1/customers/nobody")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn when_the_guardrail_held_firings_should_list_them_and_release_or_discard_them_with_an_audit()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    tenant_with_past_due_customers(&api).await;
    let mut second = automation("a2");
    second["name"] = json!("Second");
    send(&api, call("POST", "/v1/automations").json(second)).await;
    let guardrail = json!({"timezone": "UTC", "guardrail": {"min_count": 1, "max_share": 0.1}});
    assert_eq!(
        send(
            &api,
            call("PUT", "/v1/settings")
                .header("if-match", "\"0\"")
                .json(guardrail)
        )
        .await
        .status,
        StatusCode::OK
    );
    let report = evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.holds.len(), 2);

    let held = send(
        &api,
        call(
            "GET",
            "/v1/firings?date=2026-11-15&status=held&automation_id=a1",
        ),
    )
    .await;
    assert_eq!(held.body["items"].as_array().unwrap().len(), 2);
    let released = send(
        &api,
        call("POST", "/v1/firings/release")
            .json(json!({"automation_id": "a1", "date": "2026-11-15"})),
    )
    .await;
    assert_eq!(
        (released.status, released.body["moved"].clone()),
        (StatusCode::OK, json!(2))
    );
    let discarded = send(
        &api,
        call("POST", "/v1/firings/discard")
            .json(json!({"automation_id": "a2", "date": "2026-11-15"})),
    )
    .await;
    assert_eq!(discarded.body["moved"], 2);
    let statuses = |status: &str| {
        let api = api.clone();
        let path = format!("/v1/firings?date=2026-11-15&status={status}");
        async move {
            send(&api, call("GET", path)).await.body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        (
            statuses("pending").await,
            statuses("discarded").await,
            statuses("held").await
        ),
        (2, 2, 0)
    );
    let again = send(
        &api,
        call("POST", "/v1/firings/release")
            .json(json!({"automation_id": "a1", "date": "2026-11-15"})),
    )
    .await;
    assert_eq!(again.body["moved"], 0, "nothing is held any more");

    let audit = send(&api, call("GET", "/v1/audit?limit=2")).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["firings.discarded", "firings.released"]);
    assert_eq!(audit.body["items"][1]["resource"], "firings/a1/2026-11-15");

    let missing = send(
        &api,
        call("POST", "/v1/firings/release").json(json!({"date": "2026-11-15", "x": 1})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.fields(), ["x", "automation_id"]);
    let no_date = send(&api, call("GET", "/v1/firings")).await;
    assert_eq!(
        (no_date.status, no_date.fields()),
        (StatusCode::BAD_REQUEST, vec!["date".to_owned()])
    );
}

#[tokio::test]
async fn when_settings_are_replaced_should_version_validate_and_audit_them() {
    let api = lambda_router(MemoryStore::new());
    let defaults = send(&api, call("GET", "/v1/settings")).await;
    assert_eq!(
        (
            defaults.body["version"].clone(),
            defaults.body["timezone"].clone()
        ),
        (json!(0), json!("UTC"))
    );
    let body = json!({"timezone": "Europe/Berlin", "evaluation_hour": 7});
    let replaced = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(body.clone()),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(
        (
            replaced.body["version"].clone(),
            replaced.body["timezone"].clone()
        ),
        (json!(1), json!("Europe/Berlin"))
    );
    let stale = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(body),
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let bad = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"1\"")
            .json(json!({"timezone": "Mars/Olympus", "evaluation_hour": 25})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["timezone", "evaluation_hour"]);
    let audit = send(&api, call("GET", "/v1/audit")).await;
    assert_eq!(audit.body["items"][0]["action"], "settings.replaced");
    assert_eq!(audit.body["items"][0]["before"]["timezone"], "UTC");
}

/// Tenant t2 calls every route with tenant t1's ids: each answers 404 or an empty list, and
/// no answer carries anything of t1's.
#[tokio::test]
async fn when_another_tenant_uses_a_tenants_ids_should_answer_404_and_leak_nothing() {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    tenant_with_past_due_customers(&api).await;
    let mut settings = shared::domain::TenantSettings::defaults(TenantId::new("t1"));
    settings.guardrail.min_count = 1;
    settings.guardrail.max_share_bp = 1;
    shared::ports::AutomationAdmin::put_settings(&store, &settings)
        .await
        .unwrap();
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let target = json!({"automation_id": "a1", "date": "2026-11-15"});
    let t2 = As::Admin("t2");

    let not_found = [
        call("GET", "/v1/automations/a1"),
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"1\"")
            .json(automation("a1")),
        call("DELETE", "/v1/automations/a1"),
        call("POST", "/v1/automations/a1/preview").json(json!({"date": "2026-11-15"})),
        call("GET", "/v1/customers/c1"),
        call("POST", "/v1/firings/release").json(target.clone()),
        call("POST", "/v1/firings/discard").json(target),
    ];
    for request in not_found {
        let what = format!("{} {}", request.method, request.path);
        let reply = send(&api, request.by(t2)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{what}");
        assert_leaks_nothing(&reply.body, &what);
    }
    let empty = [
        ("GET", "/v1/automations"),
        ("GET", "/v1/firings?date=2026-11-15"),
        ("GET", "/v1/audit"),
    ];
    for (method, path) in empty {
        let reply = send(&api, call(method, path).by(t2)).await;
        assert_eq!(
            (reply.status, reply.body["items"].clone()),
            (StatusCode::OK, json!([])),
            "{method} {path}"
        );
    }
    let settings = send(&api, call("GET", "/v1/settings").by(t2)).await;
    assert_eq!(
        (
            settings.body["tenant_id"].clone(),
            settings.body["version"].clone()
        ),
        (json!("t2"), json!(0))
    );
    // And t1's data is untouched by t2's attempts.
    let still = send(&api, call("GET", "/v1/firings?date=2026-11-15&status=held")).await;
    assert_eq!(still.body["items"].as_array().unwrap().len(), 2);
}

fn assert_leaks_nothing(body: &Value, what: &str) {
    let text = body.to_string();
    for secret in ["c1", "c2", "Past due 14/30", "t1", "-5000"] {
        assert!(!text.contains(secret), "{what} leaked {secret}: {text}");
    }
}

#[tokio::test]
async fn when_the_openapi_document_is_read_should_describe_exactly_the_routes_served() {
    let api = lambda_router(MemoryStore::new());
    let reply = send(&api, call("GET", "/v1/openapi.json").by(As::Nobody)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the document needs no identity"
    );
    assert_eq!(reply.body["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = reply.body["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    // Every listed route is routed (none answers "route not found" or 405).
    for (method, path) in api::ROUTES {
        let path = path.replace("{id}", "a1");
        let reply = send(&api, call(method_of(method), path.clone()).json(json!({}))).await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(reply.body["detail"], "route not found", "{method} {path}");
    }
}

#[test]
fn when_claim_names_are_configured_should_read_them_and_reject_empty_ones() {
    let config = api::config::Config::from_lookup(|k| match k {
        "RULEKIT_TENANT_CLAIM" => Some("custom:tenant_id".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.claims.tenant, "custom:tenant_id");
    assert_eq!(config.claims.role, "role");
    let err = api::config::Config::from_lookup(|k| (k == "RULEKIT_ROLE_CLAIM").then(|| " ".into()))
        .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_ROLE_CLAIM");
}

#[tokio::test]
async fn when_a_dunning_automation_is_created_should_validate_its_fields_by_clock_and_show_segments_and_commands()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let settings = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(json!({"timezone": "UTC", "max_retries_per_30_days": 30,
                         "decline_overrides": {"do_not_honor": "maybe"}})),
    )
    .await;
    assert_eq!(settings.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        settings.fields(),
        ["max_retries_per_30_days", "decline_overrides.do_not_honor"]
    );
    let settings = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(json!({"timezone": "UTC", "decline_overrides": {"do_not_honor": "hard"}})),
    )
    .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    assert_eq!(settings.body["max_retries_per_30_days"], 8);
    assert_eq!(settings.body["decline_overrides"]["do_not_honor"], "hard");

    let mut dunning = automation("dunning");
    dunning["trigger"] = json!({"type": "payment_failed", "catch_up_days": 1});
    dunning.as_object_mut().unwrap().remove("actions");
    dunning["segments"] = json!([
        {"name": "hard-decline",
         "when": [{"field": "payment.failure_category", "op": "in", "value": ["hard"]}],
         "steps": [{"name": "update-card", "day": 0,
                    "actions": [{"type": "message", "template_id": "update-card", "variables": {}}]}]},
        {"name": "standard",
         "steps": [{"name": "retry-1", "day": 1, "actions": [{"type": "retry_payment"}]}]}]);
    let mut wrong = dunning.clone();
    wrong["segments"][1]["when"] = json!([{"field": "days_past_due", "op": "gte", "value": 1}]);
    wrong["trigger"]["continuity"] = json!("negative_balance");
    let refused = send(&api, call("POST", "/v1/automations").json(wrong)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.fields(),
        ["trigger.continuity", "segments[1].when[0].field"]
    );
    let created = send(&api, call("POST", "/v1/automations").json(dunning.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["segments"], dunning["segments"]);

    // do_not_honor is hard for this tenant: the clock goes on the hard-decline path.
    let failed = json!({"event_id": "f1", "tenant_id": "t1", "customer_id": "c1",
        "type": "payment.failed", "occurred_at": "2026-11-01T10:00:00Z",
        "payment": {"invoice_id": "in_1", "amount_minor": 4900, "currency": "USD",
                    "failure_code": "do_not_honor"}});
    let posted = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": [failed]})),
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-02".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let firings = send(&api, call("GET", "/v1/firings?date=2026-11-02")).await;
    let items = firings.body["items"].as_array().unwrap();
    let decisions: Vec<(&Value, &Value, &Value)> = items
        .iter()
        .map(|i| (&i["decision"], &i["segment"], &i["clock_id"]))
        .collect();
    assert_eq!(
        decisions,
        [
            (&json!("segmented"), &json!("hard-decline"), &json!("in_1")),
            (&json!("fired"), &json!("hard-decline"), &json!("in_1")),
        ],
        "{}",
        firings.body
    );
    let customer = send(&api, call("GET", "/v1/customers/c1?date=2026-11-02")).await;
    assert_eq!(
        customer.body["payment_clocks"][0]["latest_failure"]["failure_category"],
        "hard"
    );
    let why = customer.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.starts_with("invoice in_1: on the hard-decline path since 2026-11-02; last failure do_not_honor (hard)"),
        "{why}"
    );
}

#[tokio::test]
async fn when_a_cancellation_hold_is_created_should_validate_it_hold_and_proceed_even_once_archived()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let mut hold = automation("hold");
    hold["trigger"] = json!({"type": "cancellation_requested", "hold_days": 7, "catch_up_days": 1});
    hold.as_object_mut().unwrap().remove("actions");
    hold["steps"] = json!([
        {"name": "hold", "day": 0, "actions": [{"type": "offer", "offer_id": "downgrade-basic",
            "kind": "downgrade", "template_id": "offer-downgrade"}]}]);
    let mut wrong = hold.clone();
    wrong["steps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "late", "day": 8,
        "actions": [{"type": "message", "template_id": "late"}]}));
    wrong["conditions"] = json!([{"field": "payment.attempt", "op": "gte", "value": 2}]);
    let refused = send(&api, call("POST", "/v1/automations").json(wrong)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.fields(),
        ["conditions[0].field", "steps[1].day"],
        "{}",
        refused.body
    );
    let created = send(&api, call("POST", "/v1/automations").json(hold.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["steps"], hold["steps"],
        "the built-in steps are not shown"
    );
    assert_eq!(created.body["trigger"]["hold_days"], 7);

    let request = json!({"event_id": "r1", "tenant_id": "t1", "customer_id": "c1",
        "type": "cancellation.requested", "occurred_at": "2026-11-02T05:00:00Z",
        "cancellation": {"subscription_id": "s1", "reason": "too_expensive",
                         "effective": "period_end"}});
    let posted = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": [request]})),
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    let t1 = TenantId::new("t1");
    evaluate_tenant_day(&store, &t1, "2026-11-02".parse().unwrap(), None)
        .await
        .unwrap();
    let firings = send(&api, call("GET", "/v1/firings?date=2026-11-02")).await;
    let fired: Vec<(&Value, &Value)> = firings.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (&i["step"], &i["clock_id"]))
        .collect();
    assert_eq!(fired, [(&json!("hold"), &json!("s1"))], "{}", firings.body);
    let customer = send(&api, call("GET", "/v1/customers/c1?date=2026-11-02")).await;
    assert_eq!(customer.status, StatusCode::OK);
    assert_eq!(customer.body["cancellations"][0]["subscription_id"], "s1");
    let why = customer.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.starts_with("subscription s1: hold until 2026-11-09"),
        "{why}"
    );

    // Archived mid-hold: the customer's cancellation still proceeds on 11-09.
    let archived = send(
        &api,
        call("DELETE", "/v1/automations/hold").header("if-match", "\"1\""),
    )
    .await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT, "{}", archived.body);
    for d in 3..=9 {
        let day = format!("2026-11-{d:02}").parse().unwrap();
        evaluate_tenant_day(&store, &t1, day, None).await.unwrap();
    }
    let firings = send(&api, call("GET", "/v1/firings?date=2026-11-09")).await;
    let items = firings.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", firings.body);
    assert_eq!(items[0]["step"], "proceed");
    assert_eq!(
        items[0]["actions"],
        json!([{"type": "proceed_cancellation"}])
    );
}

fn profile(id: &str, customer: &str, metadata: Value) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "customer.updated", "occurred_at": "2026-11-01T10:00:00Z",
           "customer": {"metadata": metadata}})
}

#[tokio::test]
async fn when_normalization_rules_are_previewed_saved_and_applied_should_log_and_show_both_profiles()
 {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let events = [
        profile("p1", "c1", json!({"Plan Name": " Premium"})),
        profile("p2", "c2", json!({"tier": "gold"})),
        profile("p3", "c3", json!({"plan": "basic"})),
    ];
    let posted = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": events})),
    )
    .await;
    assert_eq!(posted.status, StatusCode::OK);
    let rules = json!({"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name", "tier"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values", "keys": ["plan"]},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold"}}]});

    // The preview reads the stored customers and changes nothing.
    let preview = send(
        &api,
        call("POST", "/v1/normalization/preview").json(rules.clone()),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(
        (
            preview.body["customers_read"].clone(),
            preview.body["complete"].clone()
        ),
        (json!(3), json!(true))
    );
    let per_rule: Vec<u64> = preview.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["profiles"].as_u64().unwrap())
        .collect();
    assert_eq!(per_rule, [1, 2, 1, 1, 1], "{}", preview.body);
    assert_eq!(preview.body["profiles_changed"], 2, "c3 is clean already");
    assert_eq!(preview.body["rules"][4]["sample"][0]["customer_id"], "c1");
    assert_eq!(preview.body["rules"][4]["sample"][0]["after"], "gold");
    let bad = send(
        &api,
        call("POST", "/v1/normalization/preview")
            .json(json!({"rules": [{"type": "key_case", "case": "camelCase"}]})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["rules[0].case"]);
    let unchanged = send(&api, call("GET", "/v1/customers/c1")).await;
    assert_eq!(unchanged.body["profile"]["normalized"]["rules_version"], 0);

    // Saved: the rules take the settings version; a change elsewhere keeps it.
    let saved = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(json!({"normalization": rules.clone()})),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK);
    assert_eq!(saved.body["normalization"]["version"], 1);
    let pending = send(&api, call("GET", "/v1/normalization/status")).await;
    assert_eq!(pending.body["state"], "pending");
    let moved = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"1\"")
            .json(
                json!({"timezone": "Europe/Berlin", "normalization": saved.body["normalization"]}),
            ),
    )
    .await;
    assert_eq!(
        (
            moved.body["version"].clone(),
            moved.body["normalization"]["version"].clone()
        ),
        (json!(2), json!(1))
    );
    // The customer view normalizes by the saved rules before the re-normalization comes.
    let before = send(&api, call("GET", "/v1/customers/c1")).await;
    assert_eq!(
        before.body["profile"]["normalized"]["metadata"],
        json!({"plan": "gold"})
    );

    // The re-normalization, as the scheduled function runs it.
    let settings = shared::ports::AutomationStore::tenant_settings(&store, &TenantId::new("t1"))
        .await
        .unwrap();
    let now = "2026-11-20T12:00:00Z".parse().unwrap();
    let budget = shared::app::normalize::Budget::UNBOUNDED;
    shared::app::normalize::renormalize(&store, &settings, now, budget)
        .await
        .unwrap();
    let done = send(&api, call("GET", "/v1/normalization/status")).await;
    assert_eq!(
        (
            done.body["state"].clone(),
            done.body["customers_read"].clone(),
            done.body["profiles_changed"].clone()
        ),
        (json!("done"), json!(3), json!(2))
    );
    let c1 = send(&api, call("GET", "/v1/customers/c1")).await;
    assert_eq!(
        c1.body["profile"]["metadata"],
        json!({"Plan Name": " Premium"}),
        "the raw profile is kept"
    );
    assert_eq!(
        c1.body["profile"]["normalized"],
        json!({"metadata": {"plan": "gold"}, "rules_version": 1})
    );
    let by_customer = send(
        &api,
        call("GET", "/v1/normalization/changes?customer_id=c1"),
    )
    .await;
    let causes: Vec<&str> = by_customer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cause"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(causes, ["renormalization"], "no rules when it was ingested");
    let by_date = send(
        &api,
        call("GET", "/v1/normalization/changes?date=2026-11-20"),
    )
    .await;
    let customers: Vec<&str> = by_date.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(customers, ["c1", "c2"]);
    for query in ["", "?date=2026-11-20&customer_id=c1", "?customer_id=a%2Fb"] {
        let reply = send(
            &api,
            call("GET", format!("/v1/normalization/changes{query}")),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let other = send(
        &api,
        call("GET", "/v1/normalization/changes?customer_id=c1").by(As::Admin("t2")),
    )
    .await;
    assert_eq!(other.body["items"], json!([]));
}

#[tokio::test]
async fn when_the_console_is_fetched_should_serve_its_files_with_no_identity_and_a_strict_policy() {
    let api = lambda_router(MemoryStore::new());
    for (path, media) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/sign-in.js", "text/javascript; charset=utf-8"),
        ("/console/config.json", "application/json"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
        ("/console/playbooks.json", "application/json"),
    ] {
        let reply = send(&api, call("GET", path).by(As::Nobody)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.content_type(), media, "{path}");
        let policy = reply.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("connect-src 'self'"), "{path}: {policy}");
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        // The one frame: a report the console fetched, from a `blob:` URL; scripts only its own.
        assert!(policy.contains("frame-src blob:;"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let reply = send(&api, call("GET", "/console").by(As::Nobody)).await;
    assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(reply.headers["location"], "/console/");
    // The API itself still asks an identity.
    let reply = send(&api, call("GET", "/v1/automations").by(As::Nobody)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn when_new_automation_offers_the_playbooks_each_should_save_as_offered_in_dry_run() {
    let api = lambda_router(MemoryStore::new());
    let reply = send(&api, call("GET", "/console/playbooks.json").by(As::Nobody)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    let templates = reply.body.as_array().unwrap();
    let ids: Vec<&str> = templates
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["aging-ladder", "dunning", "cancellation-hold"]);
    for template in templates {
        let offered = &template["automation"];
        assert_eq!(offered["mode"], "dry_run", "{offered}");
        assert!(offered.get("tenant_id").is_none(), "{offered}");
        // Saved unchanged by an admin, each is a valid automation of the caller's tenant.
        let created = send(&api, call("POST", "/v1/automations").json(offered.clone())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["id"], template["id"]);
        assert_eq!(created.body["trigger"]["type"], offered["trigger"]["type"]);
        assert_eq!(step_names(&created.body), step_names(offered), "{offered}");
    }
    let kinds: Vec<Value> = templates
        .iter()
        .map(|t| t["automation"]["trigger"]["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("past_due"),
            json!("payment_failed"),
            json!("cancellation_requested")
        ]
    );
}

/// An automation's steps as `segment/step` names (the API writes its defaults in).
fn step_names(automation: &Value) -> Vec<String> {
    let named = |prefix: &str, steps: &Value| -> Vec<String> {
        let steps = steps.as_array().cloned().unwrap_or_default();
        steps
            .iter()
            .map(|step| format!("{prefix}/{}@{}", step["name"], step["day"]))
            .collect()
    };
    let mut names = named("", &automation["steps"]);
    for segment in automation["segments"].as_array().into_iter().flatten() {
        names.extend(named(segment["name"].as_str().unwrap(), &segment["steps"]));
    }
    assert!(!names.is_empty(), "{automation}");
    names
}

#[test]
fn when_the_console_sign_in_is_configured_should_take_both_values_or_neither() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let config = api::config::Config::from_lookup(lookup(&[
        (
            "RULEKIT_CONSOLE_SIGN_IN_URL",
            "https://ops.auth.eu-west-1.amazoncognito.com/",
        ),
        ("RULEKIT_CONSOLE_CLIENT_ID", "4abc123def"),
        ("RULEKIT_TENANT_CLAIM", "custom:tenant_id"),
    ]))
    .unwrap();
    assert_eq!(
        config.console.to_json(),
        json!({"sign_in": "hosted_ui", "url": "https://ops.auth.eu-west-1.amazoncognito.com",
               "client_id": "4abc123def", "tenant_claim": "custom:tenant_id", "role_claim": "role"})
    );
    // The template's values without a pool are empty: no sign-in, no error.
    let none = api::config::Config::from_lookup(lookup(&[
        ("RULEKIT_CONSOLE_SIGN_IN_URL", ""),
        ("RULEKIT_CONSOLE_CLIENT_ID", ""),
    ]))
    .unwrap();
    assert_eq!(none.console.to_json(), json!({"sign_in": "none"}));
    for (pairs, variable) in [
        (
            &[(
                "RULEKIT_CONSOLE_SIGN_IN_URL",
                "https://ops.auth.eu-west-1.amazoncognito.com",
            )][..],
            "RULEKIT_CONSOLE_CLIENT_ID",
        ),
        (
            &[
                ("RULEKIT_CONSOLE_SIGN_IN_URL", "http://ops.example"),
                ("RULEKIT_CONSOLE_CLIENT_ID", "abc"),
            ][..],
            "RULEKIT_CONSOLE_SIGN_IN_URL",
        ),
        (
            &[
                (
                    "RULEKIT_CONSOLE_SIGN_IN_URL",
                    "https://ops.example; script-src *",
                ),
                ("RULEKIT_CONSOLE_CLIENT_ID", "abc"),
            ][..],
            "RULEKIT_CONSOLE_SIGN_IN_URL",
        ),
    ] {
        let pairs: &'static [(&'static str, &'static str)] = pairs;
        let err = api::config::Config::from_lookup(lookup(pairs)).unwrap_err();
        assert_eq!(err.variable, variable, "{pairs:?}");
    }
}

#[tokio::test]
async fn when_the_deployment_signs_in_with_its_pool_should_tell_the_console_and_let_it_reach_the_token_endpoint()
 {
    let hosted = api::identity::HostedSignIn {
        url: "https://ops.auth.eu-west-1.amazoncognito.com".to_owned(),
        client_id: "4abc123def".to_owned(),
        tenant_claim: "custom:tenant_id".to_owned(),
        role_claim: "custom:role".to_owned(),
    };
    let api = api::router_with_console(
        MemoryStore::new(),
        api::identity::IdentitySource::Jwt(api::identity::ClaimNames::default()),
        api::identity::ConsoleSignIn::HostedUi(hosted),
    );
    let config = send(&api, call("GET", "/console/config.json").by(As::Nobody)).await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(config.body["sign_in"], "hosted_ui");
    assert_eq!(config.body["client_id"], "4abc123def");
    assert_eq!(config.body["role_claim"], "custom:role");
    let page = send(&api, call("GET", "/console/").by(As::Nobody)).await;
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("connect-src 'self' https://ops.auth.eu-west-1.amazoncognito.com;"),
        "{policy}"
    );
    // The scripts' own policy reaches nothing but this origin.
    let script = send(&api, call("GET", "/console/app.js").by(As::Nobody)).await;
    let policy = script.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    // Without a pool the Lambda's console says there is no sign-in.
    let plain = send(
        &lambda_router(MemoryStore::new()),
        call("GET", "/console/config.json").by(As::Nobody),
    )
    .await;
    assert_eq!(plain.body, json!({"sign_in": "none"}));
}
