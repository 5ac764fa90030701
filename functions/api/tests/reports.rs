//! `GET /v1/reports/weekly` and `GET /v1/reports/aging` through real API Gateway requests on
//! the in-memory store: the review `rulekit simulate --report` writes and the aging table, as
//! JSON or as HTML pages, for any role.

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

/// Two treated and two held-out customers, all past due from 10-01, so the day-14 step decides
/// for them on 10-15 (a Thursday of W42). Treated T1 pays on 10-20 (day 5), T2 never; held-out
/// H2 pays on 10-22 (day 7) and H1 on 10-31 (day 16, after the 14 days counted).
async fn holdout_case() -> (axum::Router, [String; 4]) {
    use shared::domain::rollout::{Arm, Rollout, bucket};
    use shared::domain::{AutomationId, CustomerId};
    let rollout = Rollout {
        cohort_percent: 50,
        holdout_percent: 50,
    };
    let (tenant, automation_id) = (TenantId::new("t1"), AutomationId::new("a1"));
    let arm = |c: &str| rollout.arm(bucket(&tenant, &automation_id, &CustomerId::new(c)));
    let ids: Vec<String> = (0..200).map(|n| format!("c{n}")).collect();
    let pick = |wanted: Arm| -> Vec<String> {
        ids.iter()
            .filter(|c| arm(c) == wanted)
            .take(2)
            .cloned()
            .collect()
    };
    let (treated, held) = (pick(Arm::Treated), pick(Arm::Holdout));
    let [t1, t2, h1, h2] = [&treated[0], &treated[1], &held[0], &held[1]].map(String::clone);

    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let mut a1 = automation("a1");
    a1["trigger"]["thresholds_days"] = json!([14]);
    a1["rollout"] = json!({"cohort_percent": 50, "holdout_percent": 50});
    let created = send(&api, call("POST", "/v1/automations").json(a1)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // Each day's run sees what had arrived by then: the debts, the runs up to the
    // decisions of 10-15, then the payments and the runs after them.
    let mut due = Vec::new();
    for (n, c) in [&t1, &t2, &h1, &h2].into_iter().enumerate() {
        due.push(balance(
            &format!("due{n}"),
            "t1",
            c,
            "2026-10-01T10:00:00Z",
            -5_000,
        ));
    }
    let mut paid = Vec::new();
    for (c, on) in [
        (&t1, "2026-10-20"),
        (&h2, "2026-10-22"),
        (&h1, "2026-10-31"),
    ] {
        paid.push(balance(
            &format!("paid-{c}"),
            "t1",
            c,
            &format!("{on}T10:00:00Z"),
            0,
        ));
    }
    let first: chrono::NaiveDate = "2026-10-01".parse().unwrap();
    for (events, days) in [(due, 0..15), (paid, 15..32)] {
        let ingested = send(
            &api,
            call("POST", "/v1/events").json(json!({"events": events})),
        )
        .await;
        assert_eq!(ingested.status, StatusCode::OK, "{}", ingested.body);
        for n in days {
            evaluate_tenant_day(&store, &tenant, first + chrono::Days::new(n), None)
                .await
                .unwrap();
        }
    }
    (api, [t1, t2, h1, h2])
}

#[tokio::test]
async fn when_a_holdout_is_reviewed_should_count_only_matured_decisions_as_computed_by_hand() {
    let (api, _) = holdout_case().await;
    let step = |body: &serde_json::Value| body["steps"][0].clone();

    // W42 (10-12 to 10-18): decided this week, none has had 14 days.
    let w42 = send(&api, call("GET", "/v1/reports/weekly?week=2026-W42")).await;
    assert_eq!(w42.status, StatusCode::OK, "{}", w42.body);
    let s = step(&w42.body);
    assert_eq!(
        (&s["this_week"]["went_on"], &s["this_week"]["holdout"]),
        (&json!(2), &json!(2))
    );
    for arm in ["treated", "holdout"] {
        assert_eq!(
            (
                &s[arm]["decisions"],
                &s[arm]["matured"],
                &s[arm]["recovery_rate"]
            ),
            (&json!(2), &json!(0), &json!(null)),
            "{arm}: immature decisions have no rate"
        );
    }
    assert_eq!(s["lift"], json!(null));

    // W43 (10-19 to 10-25): T1 and H2 recovered during it, each owing 50.00 at the decision.
    let w43 = send(&api, call("GET", "/v1/reports/weekly?week=2026-W43")).await;
    let s = step(&w43.body);
    for arm in ["treated", "holdout"] {
        assert_eq!(
            s[arm]["amount_recovered_this_week"],
            json!([{"currency": "USD", "amount_minor": 5000}]),
            "{arm}"
        );
    }
    assert_eq!(s["this_week"]["went_on"], 0);

    // W44 (10-26 to 11-01): 10-15 + 14 = 10-29, so all four have matured. Treated: T1 within
    // 14 days of 2 (50%). Holdout: H2 within 14, H1 at day 16 not (50%). Lift 0.
    let w44 = send(&api, call("GET", "/v1/reports/weekly?week=2026-W44")).await;
    let s = step(&w44.body);
    assert_eq!(
        (
            &s["treated"]["matured"],
            &s["treated"]["recovered"],
            &s["treated"]["recovery_rate"],
            &s["treated"]["median_days_to_recover"]
        ),
        (&json!(2), &json!(1), &json!(0.5), &json!(5.0))
    );
    assert_eq!(
        (
            &s["holdout"]["matured"],
            &s["holdout"]["recovered"],
            &s["holdout"]["recovery_rate"],
            &s["holdout"]["median_days_to_recover"]
        ),
        (&json!(2), &json!(1), &json!(0.5), &json!(11.5)),
        "the median takes H1's 16 days: it recovered, only later than the rate counts"
    );
    assert_eq!(
        s["holdout"]["amount_recovered_this_week"],
        json!([{"currency": "USD", "amount_minor": 5000}]),
        "H1, on 10-31"
    );
    assert_eq!(s["treated"]["amount_recovered_this_week"], json!([]));
    let lift = &s["lift"];
    assert_eq!(lift["difference"], 0.0);
    assert!(lift["low"].as_f64().unwrap() < -0.5 && lift["high"].as_f64().unwrap() > 0.5);
    // The curves, by days since 10-15 up to 11-01 (day 17): share still unrecovered.
    let curve = |arm: &str| -> Vec<f64> {
        s[arm]["curve"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["unrecovered"].as_f64().unwrap())
            .collect()
    };
    let by_day = |f: &dyn Fn(usize) -> f64| (0..=17).map(f).collect::<Vec<f64>>();
    assert_eq!(curve("treated"), by_day(&|t| if t < 5 { 1.0 } else { 0.5 }));
    assert_eq!(
        curve("holdout"),
        by_day(&|t| match t {
            0..7 => 1.0,
            7..16 => 0.5,
            _ => 0.0,
        })
    );
    // Four clocks assigned, two per arm: too few for the sample-ratio test.
    let ratio = &w44.body["sample_ratio"][0];
    assert_eq!(
        (&ratio["treated"], &ratio["holdout"], &ratio["p_value"]),
        (&json!(2), &json!(2), &json!(null))
    );
}

/// `GET /v1/reports/aging`: one customer charged 100 and 40 days ago, then paying 500 five
/// days ago, which settles the oldest charge first; another who owes nothing any more.
async fn owing_customers() -> (MemoryStore, axum::Router, chrono::NaiveDate) {
    let store = MemoryStore::new();
    let api = lambda_router(store.clone());
    let today = chrono::Utc::now().date_naive();
    let noon = |days: u64| format!("{}T12:00:00Z", today - chrono::Days::new(days));
    let events = json!({"events": [
        balance("e1", "t1", "c1", &noon(100), -3_000),
        balance("e2", "t1", "c1", &noon(40), -5_000),
        balance("e3", "t1", "c1", &noon(5), -4_500),
        balance("e4", "t1", "c2", &noon(20), -900),
        balance("e5", "t1", "c2", &noon(10), 0)]});
    let ingested = send(&api, call("POST", "/v1/events").json(events)).await;
    assert_eq!(ingested.status, StatusCode::OK, "{}", ingested.body);
    (store, api, today)
}

#[tokio::test]
async fn when_aging_is_asked_for_today_should_age_what_is_owed_oldest_paid_first() {
    let (_, api, _) = owing_customers().await;
    let reply = send(&api, call("GET", "/v1/reports/aging").by(As::Viewer("t1"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let usd = &reply.body["currencies"][0];
    assert_eq!(usd["currency"], "USD");
    assert_eq!(usd["total"]["amount_minor"], 4_500);
    assert_eq!(usd["customers"], 1, "c2 owes nothing");
    let buckets: Vec<(&str, i64, u64)> = usd["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bucket"].as_str().unwrap(),
                b["owed"]["amount_minor"].as_i64().unwrap(),
                b["customers"].as_u64().unwrap(),
            )
        })
        .collect();
    // The 500 paid came off the 3,000 charged 100 days ago.
    assert_eq!(
        buckets,
        [
            ("0-30", 0, 0),
            ("31-60", 2_000, 0),
            ("61-90", 0, 0),
            ("91+", 2_500, 1)
        ]
    );
    // The customer's own view lists the same charges, oldest first.
    let view = send(&api, call("GET", "/v1/customers/c1")).await;
    let charges = view.body["aging"]["charges"].as_array().unwrap();
    let listed: Vec<(i64, &str, i64)> = charges
        .iter()
        .map(|c| {
            (
                c["days"].as_i64().unwrap(),
                c["bucket"].as_str().unwrap(),
                c["unpaid"]["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(100, "91+", 2_500), (40, "31-60", 2_000)]);
    assert_eq!(view.body["aging"]["merged"], json!(null));
    let other = send(&api, call("GET", "/v1/reports/aging").by(As::Viewer("t2"))).await;
    assert_eq!(other.body["currencies"], json!([]), "another tenant's");

    let page = send(&api, call("GET", "/v1/reports/aging?format=html")).await;
    assert_eq!(page.content_type(), "text/html; charset=utf-8");
    let page = page.body.as_str().unwrap();
    assert!(
        page.contains("Aging on") && page.contains(r#"data-value="25""#),
        "{page}"
    );
}

#[tokio::test]
async fn when_aging_is_asked_for_a_past_date_should_answer_the_table_recorded_then() {
    let (store, api, today) = owing_customers().await;
    let yesterday = today.pred_opt().unwrap();
    let path = format!("/v1/reports/aging?date={yesterday}");
    let missing = send(&api, call("GET", &path)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("no aging table was recorded"),
        "{}",
        missing.body
    );
    let recorded =
        shared::app::report::aging::record_aging(&store, &TenantId::new("t1"), yesterday)
            .await
            .unwrap();
    // Paid in full since: the recorded table still says what was owed then.
    let paid = json!({"events": [balance("e6", "t1", "c1", &format!("{today}T00:00:01Z"), 0)]});
    assert_eq!(
        send(&api, call("POST", "/v1/events").json(paid))
            .await
            .status,
        StatusCode::OK
    );
    let reply = send(&api, call("GET", &path)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, shared::app::report::aging::to_json(&recorded));
    assert_eq!(reply.body["currencies"][0]["total"]["amount_minor"], 4_500);
    let now = send(&api, call("GET", "/v1/reports/aging")).await;
    assert_eq!(now.body["currencies"], json!([]));
}

#[tokio::test]
async fn when_the_aging_date_or_format_is_malformed_should_answer_400_naming_the_parameter() {
    let (_, api, today) = owing_customers().await;
    let tomorrow = today.succ_opt().unwrap();
    for (query, field) in [
        (format!("date={tomorrow}"), "date"),
        ("date=2026-13-01".to_owned(), "date"),
        ("date=yesterday".to_owned(), "date"),
        ("format=csv".to_owned(), "format"),
        ("day=2026-11-01".to_owned(), "day"),
    ] {
        let reply = send(&api, call("GET", format!("/v1/reports/aging?{query}"))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.fields(), [field], "{query}: {}", reply.body);
    }
}

#[tokio::test]
async fn when_a_week_has_its_aging_recorded_should_review_the_change_over_it() {
    let (store, api) = fired_week_46().await;
    let tenant = TenantId::new("t1");
    let week = IsoWeek::parse("2026-W46").unwrap();
    let before = send(&api, call("GET", "/v1/reports/weekly?week=2026-W46")).await;
    assert_eq!(
        before.body["aging"],
        json!({"start": null, "end": null, "change": null})
    );
    let start = shared::app::report::aging::record_aging(&store, &tenant, week.monday())
        .await
        .unwrap();
    let paid = json!({"events": [balance("e9", "t1", "c2", "2026-11-15T20:00:00Z", -2_000)]});
    assert_eq!(
        send(&api, call("POST", "/v1/events").json(paid))
            .await
            .status,
        StatusCode::OK
    );
    shared::app::report::aging::record_aging(&store, &tenant, week.next_monday())
        .await
        .unwrap();
    let reply = send(&api, call("GET", "/v1/reports/weekly?week=2026-W46")).await;
    let aging = &reply.body["aging"];
    assert_eq!(aging["start"], shared::app::report::aging::to_json(&start));
    assert_eq!(aging["end"]["date"], "2026-11-16");
    // Both charged on 11-01: 12,000 in 0-30 on 11-09, 9,000 left in it on 11-16 (15 days).
    assert_eq!(
        aging["start"]["currencies"][0]["total"]["amount_minor"],
        12_000
    );
    let change = &aging["change"][0];
    assert_eq!(change["total"]["amount_minor"], -5_000);
    assert_eq!(change["buckets"][0]["owed"]["amount_minor"], -5_000);
    assert_eq!(change["customers"], 0);
    let page = send(
        &api,
        call("GET", "/v1/reports/weekly?week=2026-W46&format=html"),
    )
    .await;
    let page = page.body.as_str().unwrap();
    assert!(page.contains("Change since 2026-11-09"), "{page}");
    assert!(
        page.contains(r#"id="aging_USD""#) || page.contains("aging_USD"),
        "{page}"
    );
}

#[tokio::test]
async fn when_a_condition_skips_customers_should_list_it_with_its_count_in_the_review() {
    let (store, api) = fired_week_46().await;
    // A second automation whose condition holds for c2 (owing 70.00) but not for c1 (50.00).
    let mut strict = automation("a2");
    strict["conditions"] = json!([{"field": "balance.amount_minor", "op": "lte", "value": -6_000}]);
    let created = send(&api, call("POST", "/v1/automations").json(strict)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let run = evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        shared::app::evaluate::condition_skips(&run.decisions).len(),
        1,
        "{:?}",
        run.decisions
    );
    let reply = send(&api, call("GET", "/v1/reports/weekly?week=2026-W46")).await;
    let listed = reply.body["conditions_not_met"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", reply.body);
    assert_eq!(
        (&listed[0]["automation_id"], &listed[0]["step"]),
        (&json!("a2"), &json!("14"))
    );
    assert_eq!(
        (&listed[0]["skips"], &listed[0]["days"]),
        (&json!(1), &json!(1))
    );
    let condition = listed[0]["condition"].as_str().unwrap();
    assert!(
        condition.starts_with("conditions[0]") && condition.ends_with("is false"),
        "{condition}"
    );
    // The run retried for the date counts once, and another week lists none.
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let again = send(&api, call("GET", "/v1/reports/weekly?week=2026-W46")).await;
    assert_eq!(
        again.body["conditions_not_met"],
        reply.body["conditions_not_met"]
    );
    let other = send(&api, call("GET", "/v1/reports/weekly?week=2026-W47")).await;
    assert_eq!(other.body["conditions_not_met"], json!([]));
}
