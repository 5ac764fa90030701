//! What a hostile newcomer tried against the API, each answered as RFC 9110, RFC 9457 and
//! SPEC §6 say: repeated keys, ids that break URLs, `If-Match` read properly, read-only
//! fields sent back, settings replaced whole, a customer read before its episode, previews as
//! what-ifs, retroactive automations, and problem+json for every error.

mod common;

use axum::http::StatusCode;
use common::{automation, balance, call, lambda_router, send};
use serde_json::{Value, json};
use shared::adapters::MemoryStore;

async fn created(api: &axum::Router, id: &str) {
    let reply = send(api, call("POST", "/v1/automations").json(automation(id))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn when_a_body_names_a_key_twice_should_answer_422_naming_it_and_store_nothing() {
    let api = lambda_router(MemoryStore::new());
    let body = automation("a1").to_string();
    let twice = body.replacen('{', r#"{"mode":"dry_run","mode":"live","#, 1);
    let reply = send(
        &api,
        call("POST", "/v1/automations").raw("application/json", twice),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), ["mode"]);
    assert_eq!(reply.body["errors"][0]["message"], "duplicate key");
    let list = send(&api, call("GET", "/v1/automations")).await;
    assert_eq!(list.body["items"], json!([]));

    let event = r#"{"events":[{"event_id":"e1","tenant_id":"t1","customer_id":"c1","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":-1,"amount_minor":-900000,"currency":"USD"}}]}"#;
    let reply = send(
        &api,
        call("POST", "/v1/events").raw("application/json", event.to_owned()),
    )
    .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["events[0].balance.amount_minor".to_owned()]
        )
    );
    let customer = send(&api, call("GET", "/v1/customers/c1")).await;
    assert_eq!(
        customer.status,
        StatusCode::NOT_FOUND,
        "nothing was ingested"
    );
}

#[tokio::test]
async fn when_an_id_has_url_special_characters_should_be_refused_and_locations_encoded() {
    let api = lambda_router(MemoryStore::new());
    let reply = send(
        &api,
        call("POST", "/v1/automations").json(automation("a1?ignore")),
    )
    .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["id".to_owned()])
    );
    for id in ["..", "a/b", "a b", "a#b"] {
        let reply = send(&api, call("POST", "/v1/automations").json(automation(id))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{id}");
    }
    let reply = send(
        &api,
        call("POST", "/v1/automations").json(automation("a.1:x")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.headers["location"], "/v1/automations/a.1%3Ax");
    assert_eq!(
        send(&api, call("GET", "/v1/automations/a.1%3Ax"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn when_a_customer_id_is_long_and_not_ascii_should_be_refused_at_ingest_not_lost() {
    let api = lambda_router(MemoryStore::new());
    // 100 characters, 200 bytes: under the 128-character limit as characters, and once
    // accepted, unreachable at GET /v1/customers/{id}.
    let id = "é".repeat(100);
    let reply = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": [
            balance("e1", "t1", &id, "2026-11-01T10:00:00Z", -5000)]})),
    )
    .await;
    assert_eq!(reply.body["results"][0]["result"], "rejected");
    assert_eq!(
        reply.body["results"][0]["errors"][0]["field"],
        "events[0].customer_id"
    );
}

#[tokio::test]
async fn when_if_match_is_a_star_a_weak_tag_a_list_or_not_a_tag_should_follow_rfc_9110() {
    let api = lambda_router(MemoryStore::new());
    created(&api, "a1").await;
    let put = |if_match: &'static str| {
        call("PUT", "/v1/automations/a1")
            .header("if-match", if_match)
            .json(automation("a1"))
    };
    // `*` matches any current representation.
    assert_eq!(send(&api, put("*")).await.status, StatusCode::OK);
    // Now at version 2. A weak tag never matches If-Match.
    assert_eq!(
        send(&api, put("W/\"2\"")).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    // A list matches when one member does.
    assert_eq!(send(&api, put("\"3\", \"2\"")).await.status, StatusCode::OK);
    // Now at version 3: tags compare as text.
    assert_eq!(
        send(&api, put("\"0003\"")).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    for not_a_tag in ["3", "+3", "\"3"] {
        let reply = send(&api, put(not_a_tag)).await;
        assert_eq!(
            (reply.status, reply.fields()),
            (StatusCode::BAD_REQUEST, vec!["If-Match".to_owned()]),
            "{not_a_tag}"
        );
    }
    assert_eq!(send(&api, put("\"3\"")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn when_if_match_names_an_automation_that_is_not_there_should_answer_404_as_without_it() {
    let api = lambda_router(MemoryStore::new());
    created(&api, "a1").await;
    let delete = |path: &'static str, caller: common::As| {
        call("DELETE", path).header("if-match", "\"1\"").by(caller)
    };
    // Another tenant's automation is not there for this caller (SPEC §6), and a precondition
    // is ignored when the answer without it would not be a 2xx (RFC 9110 §13.2.1).
    let other = send(&api, delete("/v1/automations/a1", common::As::Admin("t2"))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let missing = send(&api, delete("/v1/automations/a9", common::As::Admin("t1"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let put = send(
        &api,
        call("PUT", "/v1/automations/a9")
            .header("if-match", "\"1\"")
            .json(automation("a9")),
    )
    .await;
    assert_eq!(
        put.status,
        StatusCode::NOT_FOUND,
        "PUT agrees: {}",
        put.body
    );
    // The owner's DELETE with the current tag archives it.
    let own = send(&api, delete("/v1/automations/a1", common::As::Admin("t1"))).await;
    assert_eq!(own.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn when_a_read_automation_or_settings_are_sent_back_as_they_are_should_be_accepted() {
    let api = lambda_router(MemoryStore::new());
    created(&api, "a1").await;
    let read = send(&api, call("GET", "/v1/automations/a1")).await;
    let etag = read.headers["etag"].to_str().unwrap().to_owned();
    let back = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", etag)
            .json(read.body.clone()),
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let mut wrong = read.body.clone();
    wrong["version"] = json!(9);
    let reply = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"2\"")
            .json(wrong),
    )
    .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["version".to_owned()])
    );

    let settings = send(&api, call("GET", "/v1/settings")).await;
    let back = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(settings.body),
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
}

#[tokio::test]
async fn when_settings_are_replaced_without_if_match_should_answer_428_and_keep_the_zone() {
    let api = lambda_router(MemoryStore::new());
    let berlin = send(
        &api,
        call("PUT", "/v1/settings")
            .header("if-match", "\"0\"")
            .json(json!({"timezone": "Europe/Berlin"})),
    )
    .await;
    assert_eq!(berlin.status, StatusCode::OK);
    let reset = send(&api, call("PUT", "/v1/settings").json(json!({}))).await;
    assert_eq!(reset.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(reset.content_type(), "application/problem+json");
    let now = send(&api, call("GET", "/v1/settings")).await;
    assert_eq!(now.body["timezone"], "Europe/Berlin");
}

/// Tenant t1 with automation a1 (from 2026-10-01) and customer c1 owing 50.00 from 11-01.
async fn past_due_customer(api: &axum::Router) {
    created(api, "a1").await;
    let events = json!({"events": [balance("e1", "t1", "c1", "2026-11-01T10:00:00Z", -5000)]});
    let reply = send(api, call("POST", "/v1/events").json(events)).await;
    assert_eq!(reply.body["results"][0]["result"], "accepted");
}

#[tokio::test]
async fn when_a_customer_is_read_for_a_date_before_its_episode_should_show_it_as_it_was_then() {
    let api = lambda_router(MemoryStore::new());
    past_due_customer(&api).await;
    let before = send(&api, call("GET", "/v1/customers/c1?date=2026-10-01")).await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["past_due"], false, "{}", before.body);
    assert_eq!(before.body["episodes"]["negative_balance"], Value::Null);
    assert_eq!(before.body["balance"], Value::Null);
    let why = before.body["explanations"][0]["why"].as_str().unwrap();
    assert!(why.contains("not past due on 2026-10-01"), "{why}");

    let during = send(&api, call("GET", "/v1/customers/c1?date=2026-11-10")).await;
    assert_eq!(during.body["past_due"], true);
    assert_eq!(
        during.body["episodes"]["negative_balance"]["days_past_due"],
        9
    );
    // Every explanation says something, including one that would fire.
    let due = send(&api, call("GET", "/v1/customers/c1?date=2026-11-15")).await;
    let why = due.body["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("a run would decide threshold 14 fires"),
        "{why}"
    );
}

#[tokio::test]
async fn when_previewing_before_active_from_or_while_disabled_should_show_what_would_fire() {
    let api = lambda_router(MemoryStore::new());
    past_due_customer(&api).await;
    // Active from today: a real run would skip 11-15 as before_active_from; a preview is a
    // what-if and does not.
    let mut today = automation("a2");
    today.as_object_mut().unwrap().remove("active_from");
    today.as_object_mut().unwrap().remove("backfill");
    today["enabled"] = json!(false);
    let reply = send(&api, call("POST", "/v1/automations").json(today)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let preview = send(
        &api,
        call("POST", "/v1/automations/a2/preview").json(json!({"date": "2026-11-15"})),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    let decisions = preview.body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["decision"], "fired");
    assert_eq!(decisions[0]["customer_id"], "c1");
}

#[tokio::test]
async fn when_an_automation_starts_in_the_past_should_need_backfill_and_audit_it() {
    let api = lambda_router(MemoryStore::new());
    let mut past = automation("a1");
    past.as_object_mut().unwrap().remove("backfill");
    let refused = send(&api, call("POST", "/v1/automations").json(past.clone())).await;
    assert_eq!(
        (refused.status, refused.fields()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["active_from".to_owned()]
        )
    );
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("backfill"),
        "{}",
        refused.body
    );
    past["backfill"] = json!(true);
    let accepted = send(&api, call("POST", "/v1/automations").json(past)).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    assert_eq!(
        accepted.body.get("backfill"),
        None,
        "not part of the automation"
    );
    let audit = send(&api, call("GET", "/v1/audit")).await;
    assert_eq!(audit.body["items"][0]["after"]["backfill"], true);

    // A replace that keeps the stored start needs nothing; one that moves it back does.
    let mut renamed = automation("a1");
    renamed.as_object_mut().unwrap().remove("backfill");
    renamed["name"] = json!("Renamed");
    let kept = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"1\"")
            .json(renamed.clone()),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    renamed["active_from"] = json!("2026-09-01");
    let moved = send(
        &api,
        call("PUT", "/v1/automations/a1")
            .header("if-match", "\"2\"")
            .json(renamed),
    )
    .await;
    assert_eq!(moved.fields(), ["active_from"]);
}

#[tokio::test]
async fn when_any_route_gets_an_unknown_query_parameter_should_answer_400_naming_it() {
    let api = lambda_router(MemoryStore::new());
    created(&api, "a1").await;
    for (method, template) in api::ROUTES {
        let path = template.replace("{id}", "a1");
        let method: &'static str = match *method {
            "get" => "GET",
            "post" => "POST",
            "put" => "PUT",
            "delete" => "DELETE",
            other => panic!("{other}"),
        };
        let reply = send(&api, call(method, format!("{path}?colour=red"))).await;
        assert_eq!(
            (reply.status, reply.fields()),
            (StatusCode::BAD_REQUEST, vec!["colour".to_owned()]),
            "{method} {path}"
        );
        assert_eq!(reply.content_type(), "application/problem+json");
    }
    let cursor = send(&api, call("GET", "/v1/firings?date=2026-11-15&cursor=+3")).await;
    assert_eq!(
        (cursor.status, cursor.fields()),
        (StatusCode::BAD_REQUEST, vec!["cursor".to_owned()])
    );
}

#[tokio::test]
async fn when_a_body_has_an_unknown_key_or_a_path_is_not_utf8_should_say_so_as_problem_json() {
    let api = lambda_router(MemoryStore::new());
    let reply = send(
        &api,
        call("POST", "/v1/events").json(json!({"events": [], "colour": "red"})),
    )
    .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["colour".to_owned()])
    );
    for path in ["/v1/customers/%FF", "/v1/automations/%C3%28"] {
        let reply = send(&api, call("GET", path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.content_type(), "application/problem+json", "{path}");
    }
}
