//! Cancellation holds (SPEC §8.1, §8.5, §8.6): one clock per subscription whose customer asked
//! to cancel, the built-in `hold` and `proceed` steps, the stops, offers chosen by segment and
//! re-checked before they are sent. Most tests replay events through the simulation on the
//! in-memory store, which carries firings out as the executor does.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::app::simulate::store_config;
use shared::domain::cancellation::Stop;
use shared::domain::{AutomationsFile, TenantCalendar, TenantId};
use shared::ports::{CustomerStore, Destination, StoreOnly};

fn requested(id: &str, customer: &str, at: &str, sub: &str, extra: Value) -> Value {
    let mut c = json!({"subscription_id": sub, "reason": "too_expensive",
                       "effective": "period_end"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "cancellation.requested", "occurred_at": at, "cancellation": c})
}

fn withdrawn(id: &str, customer: &str, at: &str, sub: &str, offer: Option<&str>) -> Value {
    let mut c = json!({"subscription_id": sub});
    if let Some(offer) = offer {
        c["offer_id"] = json!(offer);
    }
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "cancellation.withdrawn", "occurred_at": at, "cancellation": c})
}

fn confirmed(id: &str, customer: &str, at: &str, sub: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "cancellation.confirmed", "occurred_at": at,
           "cancellation": {"subscription_id": sub}})
}

fn canceled(id: &str, customer: &str, at: &str, sub: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "subscription.updated", "occurred_at": at,
           "subscription": {"id": sub, "status": "canceled"}})
}

/// Tenant t1 (UTC, 06:00) with one cancellation automation `hold` (7-day hold, catch-up 1)
/// whose other fields are `body`.
fn holds(body: Value) -> Value {
    let mut a = json!({"id": "hold", "tenant_id": "t1", "name": "Cancellation hold",
                       "trigger": {"type": "cancellation_requested", "hold_days": 7,
                                   "catch_up_days": 1}});
    for (k, v) in body.as_object().cloned().unwrap_or_default() {
        a[k] = v;
    }
    json!({"tenants": [{"tenant_id": "t1", "timezone": "UTC", "evaluation_hour": 6}],
           "automations": [a]})
}

/// An offer at the hold and a reminder on day 3.
fn with_offer() -> Value {
    holds(json!({"steps": [
        {"name": "hold", "day": 0, "actions": [
            {"type": "offer", "offer_id": "downgrade-basic", "kind": "downgrade",
             "template_id": "offer-downgrade"}]},
        {"name": "reminder", "day": 3, "actions": [
            {"type": "message", "template_id": "hold-reminder"}]}]}))
}

/// `(date, clock_id, step, late)` of each fired row.
fn fired(run: &Run) -> Vec<(String, String, String, bool)> {
    run.rows()
        .iter()
        .filter(|r| r["decision"] == "fired")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            (
                s("date"),
                s("clock_id"),
                s("step"),
                r["late"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(date: &str, sub: &str, step: &str, late: bool) -> (String, String, String, bool) {
    (date.into(), sub.into(), step.into(), late)
}

/// `(command, subscription_id)` of every command published, in order.
fn commands(run: &Run) -> Vec<(String, String)> {
    published(run, Destination::Commands)
        .iter()
        .map(|b| {
            (
                b["command"].as_str().unwrap().to_owned(),
                b["subscription_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn published(run: &Run, destination: Destination) -> Vec<Value> {
    run.publisher
        .published()
        .iter()
        .filter(|(_, m)| m.destination == destination)
        .map(|(_, m)| m.body.clone())
        .collect()
}

/// `(customer_id, field)` of each row or message.
fn pairs<'v>(items: impl Iterator<Item = &'v Value>, field: &str) -> Vec<(&'v str, &'v str)> {
    items
        .map(|v| {
            (
                v["customer_id"].as_str().unwrap(),
                v[field].as_str().unwrap(),
            )
        })
        .collect()
}

fn cmd(command: &str, sub: &str) -> (String, String) {
    (command.into(), sub.into())
}

/// Why the customer's clocks stopped, as the 7-day hold derives them (`None`: not stopped by
/// an answer).
fn stops(run: &Run, customer: &str) -> Vec<Option<&'static str>> {
    let state = block_on(run.store.load_customer(&"t1".into(), &customer.into()))
        .unwrap()
        .unwrap()
        .value;
    let calendar = TenantCalendar::default();
    state
        .cancellations
        .as_ref()
        .map(|c| {
            c.holds(7, &calendar)
                .iter()
                .map(|h| h.stop.map(|(s, _)| s.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn when_the_customer_accepts_an_offer_should_stop_offer_accepted_and_never_proceed() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        withdrawn(
            "w1",
            "c1",
            "2026-11-04T12:00:00Z",
            "s1",
            Some("downgrade-basic"),
        ),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    // Accepted on day 2: neither the reminder of day 3 nor proceed fires.
    assert_eq!(fired(&run), [row("2026-11-02", "s1", "hold", false)]);
    assert_eq!(commands(&run), [cmd("hold_cancellation", "s1")]);
    let offers = published(&run, Destination::CustomerMessages);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["offer_id"], "downgrade-basic");
    assert_eq!(offers[0]["kind"], "downgrade");
    assert_eq!(offers[0]["template_id"], "offer-downgrade");
    assert_eq!(stops(&run, "c1"), [Some(Stop::OfferAccepted.as_str())]);
}

#[test]
fn when_the_customer_withdraws_without_an_offer_should_stop_withdrawn() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        withdrawn("w1", "c1", "2026-11-06T12:00:00Z", "s1", None),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-05", "s1", "reminder", false)
        ]
    );
    assert_eq!(commands(&run), [cmd("hold_cancellation", "s1")]);
    assert_eq!(stops(&run, "c1"), [Some("withdrawn")]);
}

#[test]
fn when_the_customer_confirms_should_send_nothing_more() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        confirmed("x1", "c1", "2026-11-03T09:00:00Z", "s1"),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    assert_eq!(fired(&run), [row("2026-11-02", "s1", "hold", false)]);
    assert_eq!(commands(&run), [cmd("hold_cancellation", "s1")]);
    assert_eq!(published(&run, Destination::CustomerMessages).len(), 1);
    assert_eq!(stops(&run, "c1"), [Some("confirmed")]);
}

#[test]
fn when_the_customer_confirms_before_the_executor_sends_should_cancel_what_was_decided() {
    // The hold of 11-02 is decided at 06:00; the customer insists at 06:00:30, before the
    // executor (which the simulation runs right after the decisions) could send. Recorded
    // here as a confirmation that was received only later but occurred first.
    let store = MemoryStore::new();
    let config = AutomationsFile::from_json(&with_offer()).unwrap();
    let tenant = TenantId::new("t1");
    let day = "2026-11-02".parse().unwrap();
    block_on(async {
        store_config(&store, &config, day).await.unwrap();
        let e = &parse_events(&[requested(
            "r1",
            "c1",
            "2026-11-02T05:00:00Z",
            "s1",
            json!({}),
        )]);
        ingest_event(&store, &e[0]).await.unwrap();
        evaluate_tenant_day(&store, &tenant, day, None)
            .await
            .unwrap();
        let e = &parse_events(&[confirmed("x1", "c1", "2026-11-02T06:00:30Z", "s1")]);
        ingest_event(&store, &e[0]).await.unwrap();
        let publisher = MemoryPublisher::new();
        let report = execute_pending(
            &store,
            &publisher,
            &StoreOnly,
            at("2026-11-02T06:01:00Z"),
            10,
        )
        .await
        .unwrap();
        assert_eq!(
            report.actions_cancelled, 2,
            "the hold command and the offer"
        );
        assert!(
            publisher.published().is_empty(),
            "nothing is sent after confirmed"
        );
        assert_eq!(
            cancelled(&store, "c1").await,
            ["clock_stopped", "clock_stopped"]
        );
    });
}

#[test]
fn when_nobody_answers_should_proceed_on_the_hold_s_last_day_exactly_once() {
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({}),
    )];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-30");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-05", "s1", "reminder", false),
            row("2026-11-09", "s1", "proceed", false)
        ]
    );
    assert_eq!(
        commands(&run),
        [
            cmd("hold_cancellation", "s1"),
            cmd("proceed_cancellation", "s1")
        ]
    );
    let hold = &published(&run, Destination::Commands)[0];
    assert_eq!(hold["until"], "2026-11-09");
    assert_eq!(hold["cancel_at"], "2026-11-09T06:00:00Z");
    assert_eq!(hold["step"], "hold");
    // The proceed row keys on day hold_days and says the days it came on.
    let proceed = run
        .rows()
        .into_iter()
        .find(|r| r["step"] == "proceed")
        .unwrap();
    assert_eq!(
        (&proceed["threshold_days"], &proceed["clock_days"]),
        (&json!(7), &json!(7))
    );
    assert_eq!(proceed["trigger"], "cancellation_requested");
}

#[test]
fn when_the_paid_period_ends_before_hold_days_should_proceed_at_its_end() {
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({"period_end": "2026-11-05T00:00:00Z"}),
    )];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    // Until is 11-05 (day 3): the day-3 reminder shares the last day with proceed; nothing
    // goes past it.
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-05", "s1", "reminder", false),
            row("2026-11-05", "s1", "proceed", false)
        ]
    );
    let hold = &published(&run, Destination::Commands)[0];
    assert_eq!(hold["until"], "2026-11-05");
    assert_eq!(hold["cancel_at"], "2026-11-05T00:00:00Z");
}

#[test]
fn when_a_step_falls_after_the_paid_period_should_skip_it_hold_ended() {
    let config = holds(json!({"steps": [
        {"name": "last-chance", "day": 5, "actions": [
            {"type": "message", "template_id": "last-chance"}]}]}));
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({"period_end": "2026-11-05T00:00:00Z"}),
    )];
    let run = run(&events, &config, "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-05", "s1", "proceed", false)
        ]
    );
    assert!(
        run.skipped()
            .contains(&("2026-11-07".into(), "c1".into(), 5, "hold_ended".into())),
        "{:?}",
        run.skipped()
    );
    assert!(published(&run, Destination::CustomerMessages).is_empty());
}

#[test]
fn when_the_cancellation_is_immediate_should_hold_nothing() {
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({"effective": "immediate"}),
    )];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    assert!(run.rows().is_empty(), "{:?}", run.rows());
    assert!(run.publisher.published().is_empty());
}

#[test]
fn when_the_billing_system_cancels_meanwhile_should_stop_canceled() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        canceled("u1", "c1", "2026-11-04T12:00:00Z", "s1"),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    assert_eq!(fired(&run), [row("2026-11-02", "s1", "hold", false)]);
    assert_eq!(commands(&run), [cmd("hold_cancellation", "s1")]);
    assert_eq!(stops(&run, "c1"), [Some("canceled")]);
}

#[test]
fn when_the_request_comes_after_the_day_s_run_should_hold_at_the_next_run_not_late() {
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T07:00:00Z",
        "s1",
        json!({}),
    )];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-03", "s1", "hold", false),
            row("2026-11-05", "s1", "reminder", false),
            row("2026-11-09", "s1", "proceed", false)
        ]
    );
}

#[test]
fn when_the_run_is_a_dry_run_should_show_the_hold_and_send_nothing() {
    let config = holds(json!({"mode": "dry_run"}));
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({}),
    )];
    let run = run(&events, &config, "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-09", "s1", "proceed", false)
        ]
    );
    assert!(run.rows().iter().all(|r| r["mode"] == "dry_run"));
    assert!(run.publisher.published().is_empty());
}

#[test]
fn when_a_second_request_comes_after_the_first_hold_ended_should_start_a_new_clock() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        // A repeated request while the hold runs changes nothing.
        requested("r2", "c1", "2026-11-04T05:00:00Z", "s1", json!({})),
        requested("r3", "c1", "2026-11-12T05:00:00Z", "s1", json!({})),
    ];
    let run = run(&events, &holds(json!({})), "2026-11-01", "2026-11-30");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "s1", "hold", false),
            row("2026-11-09", "s1", "proceed", false),
            row("2026-11-12", "s1", "hold", false),
            row("2026-11-19", "s1", "proceed", false)
        ]
    );
    assert_eq!(stops(&run, "c1"), [None, None]);
}

#[test]
fn when_the_hold_did_not_fire_should_fire_nothing_later_of_the_clock() {
    // The automation became active after the request's first run: its hold is not
    // retroactive, so nothing of the clock fires, not even proceed.
    let mut config = with_offer();
    config["automations"][0]["active_from"] = json!("2026-11-03");
    let events = [requested(
        "r1",
        "c1",
        "2026-11-02T05:00:00Z",
        "s1",
        json!({}),
    )];
    let run = run(&events, &config, "2026-11-01", "2026-11-20");
    assert!(fired(&run).is_empty(), "{:?}", fired(&run));
    assert_eq!(
        run.skipped(),
        [(
            "2026-11-02".into(),
            "c1".into(),
            0,
            "before_active_from".into()
        )]
    );
    assert!(run.publisher.published().is_empty());
}

#[test]
fn when_the_guardrail_holds_a_run_should_still_proceed() {
    let mut config = holds(json!({}));
    config["tenants"][0]["guardrail"] = json!({"min_count": 1, "max_share": 0.5});
    // Three holds begin on 11-02; on 11-09 their proceeds are every firing of the run, yet
    // are never held. The holds themselves are.
    let events: Vec<Value> = (1..=3)
        .map(|n| {
            requested(
                &format!("r{n}"),
                &format!("c{n}"),
                "2026-11-02T05:00:00Z",
                &format!("s{n}"),
                json!({}),
            )
        })
        .collect();
    let run = run(&events, &config, "2026-11-01", "2026-11-20");
    let by = |decision: &str, step: &str| {
        run.rows()
            .iter()
            .filter(|r| r["decision"] == decision && r["step"] == step)
            .count()
    };
    assert_eq!(by("held", "hold"), 3);
    assert_eq!(by("fired", "proceed"), 3);
    // No hold reached the billing system (they wait for an operator): no proceed may hurry
    // a cancellation it never held.
    assert!(commands(&run).is_empty());
    for c in ["c1", "c2", "c3"] {
        assert_eq!(block_on(cancelled(&run.store, c)), ["no_hold"], "{c}");
    }
}

#[test]
fn when_segments_read_the_profile_should_offer_each_customer_its_own_path() {
    let offer = |id: &str, kind: &str| json!({"type": "offer", "offer_id": id, "kind": kind, "template_id": format!("offer-{id}")});
    let config = holds(json!({"segments": [
        {"name": "strategic", "when": [{"field": "customer.tags", "op": "contains", "value": "strategic"}],
         "steps": [{"name": "assisted-call", "day": 1, "owner": "account-managers",
                    "actions": [{"type": "notify", "channel": "finance"}]}]},
        {"name": "loyal-premium", "when": [
            {"field": "customer.tenure_days", "op": "gte", "value": 365},
            {"field": "customer.metadata.plan", "op": "eq", "value": "premium"}],
         "steps": [{"name": "hold", "day": 0, "actions": [offer("pause-1m", "pause")]}]},
        {"name": "price-sensitive", "when": [
            {"field": "cancellation.reason", "op": "in", "value": ["too_expensive"]}],
         "steps": [{"name": "hold", "day": 0, "actions": [offer("downgrade-basic", "downgrade")]}]},
        {"name": "everyone-else", "steps": [{"name": "hold", "day": 0, "actions": [
            {"type": "message", "template_id": "sorry-to-see-you-go"}]}]}]}));
    let profile = |id: &str, customer: &str, metadata: Value, tags: Value| {
        json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
               "type": "customer.updated", "occurred_at": "2026-10-01T00:00:00Z",
               "customer": {"created_at": "2024-01-01T00:00:00Z", "metadata": metadata,
                            "tags": tags}})
    };
    let events = [
        profile("p1", "c1", json!({"plan": "premium"}), json!(["strategic"])),
        profile("p2", "c2", json!({"plan": "premium"}), json!([])),
        profile("p3", "c3", json!({"plan": "basic"}), json!([])),
        profile("p4", "c4", json!({"plan": "basic"}), json!([])),
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        requested("r2", "c2", "2026-11-02T05:00:00Z", "s2", json!({})),
        requested("r3", "c3", "2026-11-02T05:00:00Z", "s3", json!({})),
        requested(
            "r4",
            "c4",
            "2026-11-02T05:00:00Z",
            "s4",
            json!({"reason": "missing_features"}),
        ),
    ];
    let run = run(&events, &config, "2026-11-01", "2026-11-03");
    let rows = run.rows();
    let segmented = rows.iter().filter(|r| r["decision"] == "segmented");
    assert_eq!(
        pairs(segmented, "segment"),
        [
            ("c1", "strategic"),
            ("c2", "loyal-premium"),
            ("c3", "price-sensitive"),
            ("c4", "everyone-else")
        ]
    );
    let messages = published(&run, Destination::CustomerMessages);
    let offers = messages
        .iter()
        .filter(|b| b["type"] == "cancellation.offer");
    assert_eq!(
        pairs(offers, "offer_id"),
        [("c2", "pause-1m"), ("c3", "downgrade-basic")]
    );
    // The strategic account's call goes to its owners on day 1; every hold was sent.
    let finance = published(&run, Destination::Finance);
    assert_eq!(finance.len(), 1);
    assert_eq!(finance[0]["owner"], "account-managers");
    assert_eq!(commands(&run).len(), 4);
}

#[test]
fn when_the_offer_was_made_within_a_year_should_not_make_it_again() {
    // Two subscriptions of one customer asked to cancel a month apart: the second hold goes
    // out, its offer does not.
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        requested("r2", "c1", "2026-12-02T05:00:00Z", "s2", json!({})),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-12-03");
    assert_eq!(
        commands(&run),
        [
            cmd("hold_cancellation", "s1"),
            cmd("proceed_cancellation", "s1"),
            cmd("hold_cancellation", "s2")
        ]
    );
    let offers = published(&run, Destination::CustomerMessages)
        .iter()
        .filter(|b| b["type"] == "cancellation.offer")
        .count();
    assert_eq!(offers, 1);
    assert_eq!(
        block_on(cancelled(&run.store, "c1")),
        ["offer_already_made"]
    );
}

#[test]
fn when_the_automation_is_archived_mid_hold_should_still_proceed() {
    let store = MemoryStore::new();
    let config = AutomationsFile::from_json(&with_offer()).unwrap();
    let tenant = TenantId::new("t1");
    let publisher = MemoryPublisher::new();
    let days = |from: u32, to: u32| {
        (from..=to).map(|d| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
    };
    block_on(async {
        store_config(&store, &config, "2026-11-01".parse().unwrap())
            .await
            .unwrap();
        let e = parse_events(&[requested(
            "r1",
            "c1",
            "2026-11-02T05:00:00Z",
            "s1",
            json!({}),
        )]);
        ingest_event(&store, &e[0]).await.unwrap();
        for day in days(1, 3) {
            evaluate_tenant_day(&store, &tenant, day, None)
                .await
                .unwrap();
            let now = at(&format!("{day}T06:05:00Z"));
            execute_pending(&store, &publisher, &StoreOnly, now, 10)
                .await
                .unwrap();
        }
        // Archived on 11-04, with the hold running.
        archive(&store, &tenant, "hold", "2026-11-04T12:00:00Z").await;
        let mut decided = Vec::new();
        for day in days(4, 20) {
            let report = evaluate_tenant_day(&store, &tenant, day, None)
                .await
                .unwrap();
            decided.extend(
                report
                    .decisions
                    .iter()
                    .map(|d| (d.date.to_string(), d.step.as_deref().unwrap().to_owned())),
            );
        }
        // The reminder of day 3 (11-05) is the automation's and stopped with it; proceed
        // is the customer's hold and did not.
        assert_eq!(decided, [("2026-11-09".to_owned(), "proceed".to_owned())]);
        execute_pending(
            &store,
            &publisher,
            &StoreOnly,
            at("2026-11-09T06:05:00Z"),
            10,
        )
        .await
        .unwrap();
    });
    let commands: Vec<String> = publisher
        .published()
        .iter()
        .filter(|(_, m)| m.destination == Destination::Commands)
        .map(|(_, m)| m.body["command"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(commands, ["hold_cancellation", "proceed_cancellation"]);
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

use shared::adapters::{MemoryPublisher, MemoryStore};

/// The errors a cancellation automation with these fields gets, by path.
fn refused(body: Value) -> Vec<(String, String)> {
    let err = AutomationsFile::from_json(&holds(body)).unwrap_err();
    err.0
        .iter()
        .map(|e| (e.field.clone(), e.message.clone()))
        .collect()
}

#[test]
fn when_a_hold_is_misconfigured_should_name_each_field_and_why() {
    let steps = |s: Value| json!({"steps": s});
    let cases = [
        (
            steps(json!([{"name": "late", "day": 7, "actions": [
                {"type": "message", "template_id": "x"}]}])),
            "automations[0].steps[0].day",
            "must be before hold_days (7)",
        ),
        (
            steps(json!([{"name": "proceed", "day": 2, "actions": [
                {"type": "message", "template_id": "x"}]}])),
            "automations[0].steps[0].name",
            "proceed is the built-in step",
        ),
        (
            steps(json!([{"name": "hold", "day": 0,
                          "approval": {"when": []},
                          "actions": [{"type": "message", "template_id": "x"}]}])),
            "automations[0].steps[0].approval",
            "takes no approval",
        ),
        (
            steps(json!([{"name": "first", "day": 0, "actions": [
                {"type": "message", "template_id": "x"}]}])),
            "automations[0].steps[0].day",
            "day 0 is the built-in hold step's",
        ),
        (
            steps(json!([{"name": "later", "day": 2, "actions": [
                {"type": "proceed_cancellation"}]}])),
            "automations[0].steps[0].actions[0].type",
            "added by RuleKit",
        ),
        (
            json!({"actions": [{"type": "notify", "channel": "finance"}]}),
            "automations[0].actions",
            "names its steps",
        ),
        (
            steps(json!([{"name": "hold", "day": 0, "actions":
                (0..10).map(|n| json!({"type": "message", "template_id": format!("m{n}")}))
                    .collect::<Vec<_>>()}])),
            "automations[0].steps[0].actions",
            "at most 9 actions of its own",
        ),
        (
            json!({"conditions": [{"field": "payment.attempt", "op": "gte", "value": 2}]}),
            "automations[0].conditions[0].field",
            "exists only for a payment_failed trigger",
        ),
    ];
    for (body, field, message) in cases {
        let errors = refused(body.clone());
        assert!(
            errors
                .iter()
                .any(|(f, m)| f == field && m.contains(message)),
            "{body}: {errors:?}"
        );
    }
    let mut days = holds(json!({}));
    days["automations"][0]["trigger"]["hold_days"] = json!(31);
    let err = AutomationsFile::from_json(&days).unwrap_err().to_string();
    assert!(err.contains("automations[0].trigger.hold_days"), "{err}");
    let mut missing = holds(json!({}));
    missing["automations"][0]["trigger"]
        .as_object_mut()
        .unwrap()
        .remove("hold_days");
    let err = AutomationsFile::from_json(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is required for a cancellation_requested trigger"),
        "{err}"
    );
    // An offer answers a request to cancel: a past-due automation cannot make one.
    let mut offer = default_config();
    offer["automations"][0]["actions"] = json!([{"type": "offer", "offer_id": "o",
        "kind": "pause", "template_id": "t"}]);
    let err = AutomationsFile::from_json(&offer).unwrap_err().to_string();
    assert!(
        err.contains("offer is only for a cancellation_requested trigger"),
        "{err}"
    );
    let mut reason = default_config();
    reason["automations"][0]["conditions"] =
        json!([{"field": "cancellation.reason", "op": "eq", "value": "too_expensive"}]);
    let err = AutomationsFile::from_json(&reason).unwrap_err().to_string();
    assert!(
        err.contains("exists only for a cancellation_requested trigger"),
        "{err}"
    );
}

#[test]
fn when_written_back_should_leave_out_the_built_in_steps() {
    let file = AutomationsFile::from_json(&with_offer()).unwrap();
    let a = &file.automations[0];
    let names: Vec<&str> = a.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hold", "reminder", "proceed"]);
    let json = a.to_json();
    let written: Vec<(&str, Vec<&str>)> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let types = s["actions"].as_array().unwrap();
            let types = types.iter().map(|a| a["type"].as_str().unwrap()).collect();
            (s["name"].as_str().unwrap(), types)
        })
        .collect();
    assert_eq!(
        written,
        [("hold", vec!["offer"]), ("reminder", vec!["message"])]
    );
    assert_eq!(json["trigger"]["hold_days"], 7);
    let again = shared::domain::Automation::from_json(&json).unwrap();
    assert_eq!(&again, a);
}

#[test]
fn when_a_customer_is_explained_should_say_where_the_hold_stands() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        withdrawn(
            "w1",
            "c1",
            "2026-11-04T12:00:00Z",
            "s1",
            Some("downgrade-basic"),
        ),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-06");
    let view = |date: &str, now: &str| {
        block_on(shared::app::explain::customer_view(
            &run.store,
            &"t1".into(),
            &"c1".into(),
            Some(date.parse().unwrap()),
            now.parse().unwrap(),
        ))
        .unwrap()
        .unwrap()
    };
    let before = view("2026-11-03", "2026-11-06T12:00:00Z");
    let why = before["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.starts_with(
            "subscription s1: hold until 2026-11-09; offered downgrade-basic on 2026-11-02; \
             proceeds on 2026-11-09 unless withdrawn"
        ),
        "{why}"
    );
    assert_eq!(before["cancellations"].as_array().unwrap().len(), 1);
    assert_eq!(before["cancellations"][0]["type"], "requested");
    assert_eq!(before["cancellations"][0]["reason"], "too_expensive");
    let after = view("2026-11-06", "2026-11-06T12:00:00Z");
    let why = after["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("stopped offer_accepted on 2026-11-04"),
        "{why}"
    );
    assert_eq!(after["cancellations"][1]["type"], "withdrawn");
    assert_eq!(after["cancellations"][1]["offer_id"], "downgrade-basic");
}

#[test]
fn when_an_earlier_request_is_reported_late_should_keep_the_hold_and_end_it_as_the_first_request_says()
 {
    // Asked on 11-02 (reported on 11-05) and again on 11-04: one clock, from 11-02. The hold
    // sent on 11-04 is kept, not sent again, and the hold ends on the first request's day 7.
    let events = [
        received(
            requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
            "2026-11-05T12:00:00Z",
        ),
        requested("r2", "c1", "2026-11-04T05:00:00Z", "s1", json!({})),
    ];
    let run = run(&events, &holds(json!({})), "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-04", "s1", "hold", false),
            row("2026-11-09", "s1", "proceed", false)
        ]
    );
    assert_eq!(
        commands(&run),
        [
            cmd("hold_cancellation", "s1"),
            cmd("proceed_cancellation", "s1")
        ]
    );
}

#[test]
fn when_an_older_request_of_the_subscription_is_reported_after_a_newer_hold_should_not_proceed_it()
{
    // r1 (11-01) is learned of on 11-09, when its hold would long have ended; r2 (11-08,
    // after that day's run) has its own hold since 11-09. r1 is a clock of its own whose hold
    // never fired: nothing of it fires, and r2 proceeds once, on its day 7.
    let mut config = holds(json!({}));
    config["automations"][0]["trigger"]["catch_up_days"] = json!(2);
    let events = [
        received(
            requested("r1", "c1", "2026-11-01T10:00:00Z", "s1", json!({})),
            "2026-11-09T12:00:00Z",
        ),
        requested("r2", "c1", "2026-11-08T10:00:00Z", "s1", json!({})),
    ];
    let run = run(&events, &config, "2026-11-01", "2026-11-20");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-09", "s1", "hold", false),
            row("2026-11-15", "s1", "proceed", false)
        ]
    );
    assert_eq!(
        commands(&run),
        [
            cmd("hold_cancellation", "s1"),
            cmd("proceed_cancellation", "s1")
        ]
    );
}

#[test]
fn when_a_dry_run_hold_is_made_live_mid_hold_should_not_proceed_live() {
    let store = MemoryStore::new();
    let config = AutomationsFile::from_json(&holds(json!({"mode": "dry_run"}))).unwrap();
    let tenant = TenantId::new("t1");
    let publisher = MemoryPublisher::new();
    block_on(async {
        store_config(&store, &config, "2026-11-01".parse().unwrap())
            .await
            .unwrap();
        let e = parse_events(&[requested(
            "r1",
            "c1",
            "2026-11-02T05:00:00Z",
            "s1",
            json!({}),
        )]);
        ingest_event(&store, &e[0]).await.unwrap();
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let first = evaluate_tenant_day(&store, &tenant, day(2), None)
            .await
            .unwrap();
        assert_eq!(first.decisions.len(), 1, "the dry-run hold");
        let mut live = config.automations[0].clone();
        live.mode = shared::domain::Mode::Live;
        shared::ports::AutomationAdmin::put_automation(&store, &live)
            .await
            .unwrap();
        for d in 3..=20 {
            let report = evaluate_tenant_day(&store, &tenant, day(d), None)
                .await
                .unwrap();
            assert!(report.decisions.is_empty(), "{:?}", report.decisions);
        }
        execute_pending(
            &store,
            &publisher,
            &StoreOnly,
            at("2026-11-20T07:00:00Z"),
            10,
        )
        .await
        .unwrap();
    });
    assert!(publisher.published().is_empty(), "no hold was ever sent");
}

#[test]
fn when_a_hold_is_carried_out_after_its_end_should_send_nothing_but_say_why() {
    // The executor was down from the hold's decision until after the paid period ended.
    let store = MemoryStore::new();
    let config = AutomationsFile::from_json(&with_offer()).unwrap();
    let tenant = TenantId::new("t1");
    let publisher = MemoryPublisher::new();
    block_on(async {
        store_config(&store, &config, "2026-11-01".parse().unwrap())
            .await
            .unwrap();
        let e = parse_events(&[requested(
            "r1",
            "c1",
            "2026-11-02T05:00:00Z",
            "s1",
            json!({"period_end": "2026-11-04T00:00:00Z"}),
        )]);
        ingest_event(&store, &e[0]).await.unwrap();
        evaluate_tenant_day(&store, &tenant, "2026-11-02".parse().unwrap(), None)
            .await
            .unwrap();
        execute_pending(
            &store,
            &publisher,
            &StoreOnly,
            at("2026-11-04T01:00:00Z"),
            10,
        )
        .await
        .unwrap();
        assert_eq!(cancelled(&store, "c1").await, ["hold_ended", "hold_ended"]);
    });
    assert!(publisher.published().is_empty());
}

#[test]
fn when_two_subscriptions_ask_at_once_should_make_the_offer_once() {
    let events = [
        requested("r1", "c1", "2026-11-02T05:00:00Z", "s1", json!({})),
        requested("r2", "c1", "2026-11-02T05:00:00Z", "s2", json!({})),
    ];
    let run = run(&events, &with_offer(), "2026-11-01", "2026-11-02");
    assert_eq!(
        commands(&run),
        [
            cmd("hold_cancellation", "s1"),
            cmd("hold_cancellation", "s2")
        ]
    );
    let offers = published(&run, Destination::CustomerMessages);
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(
        block_on(cancelled(&run.store, "c1")),
        ["offer_already_made"]
    );
}
