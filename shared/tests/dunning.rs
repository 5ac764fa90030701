//! Dunning on the payment clock (SPEC §8.1, §8.3–§8.5): one clock per failed invoice, its
//! stops, segments decided once and kept, the condition fields of a payment clock, and the
//! executor's re-checks before a `retry_payment` command. Each test replays events through
//! the simulation on the in-memory store, which carries firings out as the executor does.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::domain::AutomationsFile;
use shared::ports::Destination;

fn failed(id: &str, customer: &str, invoice: &str, at: &str, code: Option<&str>) -> Value {
    let mut payment = json!({"invoice_id": invoice, "amount_minor": 4900, "currency": "USD"});
    if let Some(code) = code {
        payment["failure_code"] = json!(code);
    }
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "payment.failed", "occurred_at": at, "payment": payment})
}

fn paid(id: &str, customer: &str, invoice: &str, at: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "payment.succeeded", "occurred_at": at,
           "payment": {"invoice_id": invoice, "amount_minor": 4900, "currency": "USD"}})
}

fn voided(id: &str, customer: &str, invoice: &str, at: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "invoice.voided", "occurred_at": at, "invoice": {"id": invoice}})
}

fn profile(id: &str, customer: &str, at: &str, created_at: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "customer.updated", "occurred_at": at,
           "customer": {"created_at": created_at}})
}

/// Tenant t1 (UTC, 06:00, `settings` added) with one payment-failed automation `dun` shaped
/// by `body` (its `steps` or `segments`).
fn dunning(settings: Value, body: Value) -> Value {
    let mut tenant = json!({"tenant_id": "t1", "timezone": "UTC", "evaluation_hour": 6});
    for (k, v) in settings.as_object().cloned().unwrap_or_default() {
        tenant[k] = v;
    }
    let mut a = json!({"id": "dun", "tenant_id": "t1", "name": "Dunning",
                       "trigger": {"type": "payment_failed", "catch_up_days": 1}});
    for (k, v) in body.as_object().cloned().unwrap_or_default() {
        a[k] = v;
    }
    json!({"tenants": [tenant], "automations": [a]})
}

fn standard_steps() -> Value {
    json!([{"name": "retry-1", "day": 1, "actions": [{"type": "retry_payment"}]},
           {"name": "retry-2", "day": 4, "actions": [{"type": "retry_payment"}]},
           {"name": "last-notice", "day": 7,
            "actions": [{"type": "message", "template_id": "last-notice"}]}])
}

fn standard() -> Value {
    dunning(json!({}), json!({"steps": standard_steps()}))
}

/// The segments of SPEC §8.3: hard declines, strategic accounts, everyone else.
fn segmented() -> Value {
    dunning(
        json!({}),
        json!({"segments": [
            {"name": "hard-decline",
             "when": [{"field": "payment.failure_category", "op": "eq", "value": "hard"}],
             "steps": [{"name": "update-card", "day": 0,
                        "actions": [{"type": "message", "template_id": "update-card"}]}]},
            {"name": "strategic",
             "when": [{"field": "customer.tenure_days", "op": "gte", "value": 365},
                      {"field": "payment.amount_minor", "op": "gte", "value": 4000}],
             "steps": [{"name": "account-manager", "day": 1, "owner": "account-managers",
                        "actions": [{"type": "notify", "channel": "finance"}]},
                       {"name": "assisted-retry", "day": 3,
                        "actions": [{"type": "retry_payment"}]}]},
            {"name": "standard", "steps": standard_steps()}]}),
    )
}

/// `(date, customer, clock_id, segment, step, late)` of each fired row.
fn fired(run: &Run) -> Vec<(String, String, String, String, String, bool)> {
    run.rows()
        .iter()
        .filter(|r| r["decision"] == "fired")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            (
                s("date"),
                s("customer_id"),
                s("clock_id"),
                s("segment"),
                s("step"),
                r["late"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(
    date: &str,
    customer: &str,
    invoice: &str,
    segment: &str,
    step: &str,
    late: bool,
) -> (String, String, String, String, String, bool) {
    (
        date.into(),
        customer.into(),
        invoice.into(),
        segment.into(),
        step.into(),
        late,
    )
}

/// Every `retry_payment` command published, by invoice.
fn commands(run: &Run) -> Vec<String> {
    run.publisher
        .published()
        .iter()
        .filter(|(_, m)| m.destination == Destination::Commands)
        .map(|(_, m)| {
            assert_eq!(m.body["command"], "retry_payment");
            m.body["invoice_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn when_the_invoice_is_paid_between_two_retries_should_stop_the_path() {
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        paid("p1", "c1", "in_1", "2026-11-03T12:00:00Z"),
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-12");
    assert_eq!(
        fired(&run),
        [row("2026-11-02", "c1", "in_1", "-", "retry-1", false)]
    );
    assert_eq!(commands(&run), ["in_1"]);
}

#[test]
fn when_the_invoice_is_voided_should_stop_the_path() {
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        voided("v1", "c1", "in_1", "2026-11-04T05:00:00Z"),
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-12");
    assert_eq!(
        fired(&run),
        [row("2026-11-02", "c1", "in_1", "-", "retry-1", false)]
    );
}

#[test]
fn when_two_invoices_fail_should_run_two_clocks() {
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        failed(
            "f2",
            "c1",
            "in_2",
            "2026-11-02T10:00:00Z",
            Some("do_not_honor"),
        ),
        paid("p1", "c1", "in_1", "2026-11-03T12:00:00Z"),
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-06");
    assert_eq!(
        fired(&run),
        [
            row("2026-11-02", "c1", "in_1", "-", "retry-1", false),
            row("2026-11-03", "c1", "in_2", "-", "retry-1", false),
            row("2026-11-06", "c1", "in_2", "-", "retry-2", false),
        ]
    );
    assert_eq!(commands(&run), ["in_1", "in_2", "in_2"]);
}

#[test]
fn when_a_failure_comes_after_the_clock_stopped_should_start_a_new_clock() {
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        paid("p1", "c1", "in_1", "2026-11-01T12:00:00Z"),
        failed(
            "f2",
            "c1",
            "in_1",
            "2026-11-05T10:00:00Z",
            Some("insufficient_funds"),
        ),
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-07");
    assert_eq!(
        fired(&run),
        [row("2026-11-06", "c1", "in_1", "-", "retry-1", false)]
    );
}

#[test]
fn when_a_payment_failure_is_reported_late_should_fire_its_day_0_step_late() {
    let cfg = dunning(
        json!({}),
        json!({"steps": [{"name": "tell-them", "day": 0,
                          "actions": [{"type": "message", "template_id": "failed"}]}]}),
    );
    let events = [received(
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        "2026-11-02T09:00:00Z",
    )];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-05");
    assert_eq!(
        fired(&run),
        [row("2026-11-03", "c1", "in_1", "-", "tell-them", true)]
    );
}

#[test]
fn when_the_profile_changes_mid_path_should_keep_the_segment_the_clock_started_on() {
    let events = [
        profile("u1", "c1", "2026-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        // A re-import now says the account is a day old: it stays on the strategic path.
        profile("u2", "c1", "2026-11-02T10:00:00Z", "2026-11-01T00:00:00Z"),
    ];
    let run = run(&events, &segmented(), "2026-11-01", "2026-11-12");
    assert_eq!(
        fired(&run),
        [
            row(
                "2026-11-02",
                "c1",
                "in_1",
                "strategic",
                "account-manager",
                false
            ),
            row(
                "2026-11-04",
                "c1",
                "in_1",
                "strategic",
                "assisted-retry",
                false
            ),
        ]
    );
    let segmented: Vec<Value> = run
        .rows()
        .into_iter()
        .filter(|r| r["decision"] == "segmented")
        .collect();
    assert_eq!(segmented.len(), 1, "decided once");
    assert_eq!(
        segmented[0]["date"], "2026-11-02",
        "at the first run that sees it"
    );
    assert_eq!(segmented[0]["threshold_days"], Value::Null);
}

#[test]
fn when_no_segment_matches_should_settle_the_clock_and_fire_nothing() {
    let cfg = dunning(
        json!({}),
        json!({"segments": [
            {"name": "hard-decline",
             "when": [{"field": "payment.failure_category", "op": "eq", "value": "hard"}],
             "steps": [{"name": "update-card", "day": 0,
                        "actions": [{"type": "message", "template_id": "update-card"}]}]}]}),
    );
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        // Even a later hard decline does not move a clock that matched no segment.
        failed(
            "f2",
            "c1",
            "in_1",
            "2026-11-02T10:00:00Z",
            Some("stolen_card"),
        ),
    ];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-06");
    assert!(fired(&run).is_empty(), "{:?}", run.rows());
    let skipped: Vec<Value> = run
        .rows()
        .into_iter()
        .filter(|r| r["decision"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "no_segment");
    assert_eq!(skipped[0]["date"], "2026-11-02");
}

#[test]
fn when_the_decline_is_hard_should_take_the_hard_path_and_never_send_a_retry() {
    let events = [failed(
        "f1",
        "c1",
        "in_1",
        "2026-11-01T10:00:00Z",
        Some("stolen_card"),
    )];
    let run = run(&events, &segmented(), "2026-11-01", "2026-11-12");
    assert_eq!(
        fired(&run),
        [row(
            "2026-11-02",
            "c1",
            "in_1",
            "hard-decline",
            "update-card",
            false
        )]
    );
    // On a path without the segment, the executor still refuses the retry.
    let run = common::run(&events, &standard(), "2026-11-01", "2026-11-12");
    assert_eq!(
        fired(&run).len(),
        3,
        "the steps fire: their actions are re-checked"
    );
    assert!(commands(&run).is_empty());
    assert_eq!(
        block_on(cancelled(&run.store, "c1"))[..2],
        ["hard_decline", "hard_decline"]
    );
}

#[test]
fn when_the_latest_failure_needs_the_customer_or_was_advised_against_should_send_no_retry() {
    let mut advised = failed(
        "f3",
        "c3",
        "in_3",
        "2026-11-01T10:00:00Z",
        Some("insufficient_funds"),
    );
    advised["payment"]["advice_code"] = json!("do_not_try_again");
    let events = [
        // Soft at first, then the card expired: the standard path's retries are refused.
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        failed(
            "f2",
            "c1",
            "in_1",
            "2026-11-01T20:00:00Z",
            Some("expired_card"),
        ),
        advised,
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-06");
    assert!(commands(&run).is_empty());
    assert_eq!(
        block_on(cancelled(&run.store, "c1")),
        ["action_required", "action_required"]
    );
    assert_eq!(
        block_on(cancelled(&run.store, "c3")),
        ["hard_decline", "hard_decline"]
    );
}

#[test]
fn when_the_invoice_failed_max_retries_per_30_days_times_should_send_no_more_retries() {
    let cfg = dunning(
        json!({"max_retries_per_30_days": 3}),
        json!({"steps": standard_steps()}),
    );
    let events = [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        failed(
            "f2",
            "c1",
            "in_1",
            "2026-11-01T12:00:00Z",
            Some("insufficient_funds"),
        ),
        // The billing system's answer to retry-1: a third failure in 30 days.
        failed(
            "f3",
            "c1",
            "in_1",
            "2026-11-02T12:00:00Z",
            Some("insufficient_funds"),
        ),
    ];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-06");
    assert_eq!(
        commands(&run),
        ["in_1"],
        "retry-1 with two failures; not retry-2"
    );
    assert_eq!(block_on(cancelled(&run.store, "c1")), ["retry_cap"]);
}

#[test]
fn when_a_tenant_overrides_a_code_should_classify_it_by_the_override() {
    let mut cfg = segmented();
    cfg["tenants"][0]["decline_overrides"] = json!({"do_not_honor": "hard"});
    let events = [failed(
        "f1",
        "c1",
        "in_1",
        "2026-11-01T10:00:00Z",
        Some("do_not_honor"),
    )];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-03");
    assert_eq!(
        fired(&run),
        [row(
            "2026-11-02",
            "c1",
            "in_1",
            "hard-decline",
            "update-card",
            false
        )]
    );
    // Without it, do_not_honor is soft: the standard path.
    let run = common::run(&events, &segmented(), "2026-11-01", "2026-11-03");
    assert_eq!(
        fired(&run),
        [row(
            "2026-11-02",
            "c1",
            "in_1",
            "standard",
            "retry-1",
            false
        )]
    );
}

#[test]
fn when_the_events_arrive_in_any_order_should_decide_the_same() {
    let events = vec![
        profile("u1", "c1", "2026-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            Some("insufficient_funds"),
        ),
        failed(
            "f2",
            "c1",
            "in_1",
            "2026-11-02T10:00:00Z",
            Some("insufficient_funds"),
        ),
        failed("f3", "c1", "in_2", "2026-11-02T11:00:00Z", None),
        paid("p1", "c1", "in_1", "2026-11-05T10:00:00Z"),
        failed(
            "f4",
            "c1",
            "in_1",
            "2026-11-06T10:00:00Z",
            Some("stolen_card"),
        ),
        voided("v2", "c1", "in_2", "2026-11-07T10:00:00Z"),
    ];
    let sorted = run(&events, &segmented(), "2026-11-08", "2026-11-20");
    let mut reversed = events.clone();
    reversed.reverse();
    // Everything learned before the first run, in reverse order: the state of the sorted log.
    let reversed: Vec<Value> = reversed
        .into_iter()
        .map(|e| received(e, "2026-11-07T23:00:00Z"))
        .collect();
    let backwards = run(&reversed, &segmented(), "2026-11-08", "2026-11-20");
    assert!(!sorted.rows().is_empty());
    assert_eq!(backwards.rows(), sorted.rows());
}

#[test]
fn when_a_field_does_not_exist_for_the_clock_should_refuse_the_automation_naming_it() {
    let errors = |cfg: Value| -> Vec<String> {
        AutomationsFile::from_json(&cfg)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    };
    let past_due = config(
        "UTC",
        6,
        json!({}),
        json!({"conditions": [{"field": "payment.failure_category", "op": "eq", "value": "hard"}]}),
    );
    let e = errors(past_due);
    assert!(
        e[0].starts_with(
            "automations[0].conditions[0].field: payment.failure_category exists only"
        ),
        "{e:?}"
    );
    let mut cfg = segmented();
    cfg["automations"][0]["segments"][1]["when"][0] =
        json!({"field": "days_past_due", "op": "gte", "value": 3});
    let e = errors(cfg);
    assert!(
        e[0].starts_with("automations[0].segments[1].when[0].field: days_past_due exists only"),
        "{e:?}"
    );
    let mut both = segmented();
    both["automations"][0]["steps"] = standard_steps();
    assert!(errors(both)[0].starts_with("automations[0].steps:"));
    let mut unreachable = segmented();
    unreachable["automations"][0]["segments"]
        .as_array_mut()
        .unwrap()
        .swap(1, 2);
    assert!(
        errors(unreachable)[0].contains("can never match"),
        "a segment after the catch-all"
    );
    let mut category = segmented();
    category["automations"][0]["segments"][0]["when"][0]["value"] = json!("sort-of-hard");
    assert!(errors(category)[0].starts_with("automations[0].segments[0].when[0].value:"));
}

#[test]
fn when_a_customer_is_explained_should_say_the_path_the_next_step_and_the_last_failure() {
    let events = [failed(
        "f1",
        "c1",
        "in_1",
        "2026-11-01T10:00:00Z",
        Some("insufficient_funds"),
    )];
    let run = run(&events, &segmented(), "2026-11-01", "2026-11-03");
    let view = block_on(shared::app::explain::customer_view(
        &run.store,
        &"t1".into(),
        &"c1".into(),
        Some("2026-11-03".parse().unwrap()),
        "2026-11-03T12:00:00Z".parse().unwrap(),
    ))
    .unwrap()
    .unwrap();
    let why = view["explanations"][0]["why"].as_str().unwrap();
    assert!(
        why.starts_with(
            "invoice in_1: on the standard path since 2026-11-02; retry-2 due 2026-11-05; \
             last failure insufficient_funds (soft)"
        ),
        "{why}"
    );
    let clock = &view["payment_clocks"][0];
    assert_eq!(clock["invoice_id"], "in_1");
    assert_eq!(clock["running"]["since"], "2026-11-01");
    assert_eq!(clock["latest_failure"]["failure_category"], "soft");
}

#[test]
fn when_a_past_due_automation_asks_for_a_retry_should_refuse_it_naming_the_action() {
    let errors = |cfg: Value| -> Vec<String> {
        AutomationsFile::from_json(&cfg)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    let mut short = default_config();
    short["automations"][0]["actions"] = json!([{"type": "notify", "channel": "finance"},
                                                {"type": "retry_payment"}]);
    assert_eq!(errors(short), ["automations[0].actions[1].type"]);
    let mut named = standard();
    named["automations"][0]["trigger"] = json!({"type": "past_due"});
    assert_eq!(
        errors(named),
        [
            "automations[0].steps[0].actions[0].type",
            "automations[0].steps[1].actions[0].type"
        ]
    );
}

#[test]
fn when_a_payment_arrives_before_the_failure_it_settles_should_still_stop_its_clock() {
    // Learned in this order: the success first, then the failure it answered, reported late.
    let events = [
        received(
            paid("p1", "c1", "in_1", "2026-11-01T12:00:00Z"),
            "2026-11-01T12:00:00Z",
        ),
        received(
            failed(
                "f1",
                "c1",
                "in_1",
                "2026-11-01T10:00:00Z",
                Some("insufficient_funds"),
            ),
            "2026-11-01T13:00:00Z",
        ),
    ];
    let run = run(&events, &standard(), "2026-11-01", "2026-11-06");
    assert!(fired(&run).is_empty(), "{:?}", run.rows());
    let state = block_on(shared::ports::CustomerStore::load_customer(
        &run.store,
        &"t1".into(),
        &"c1".into(),
    ))
    .unwrap()
    .unwrap()
    .value;
    let invoice = state.invoices.as_ref().unwrap().get("in_1").unwrap();
    assert_eq!(invoice.clock, None);
    assert_eq!(
        invoice.stopped.as_ref().unwrap().reason,
        shared::domain::invoice::PaymentStop::Paid
    );
}
