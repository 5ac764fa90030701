//! Steps on the past-due clock (SPEC §8.1–§8.2): named steps at their days, the day-0 rule,
//! owners, and the clock fields of a step's rows. Each test replays events through the
//! simulation on the in-memory store.

mod common;

use common::*;
use serde_json::{Value, json};

/// The AR aging ladder: steps at days 0, 31, 61 and 91, each with its owner.
fn ladder(evaluation_hour: u32) -> Value {
    let mut cfg = config(
        "UTC",
        evaluation_hour,
        json!({}),
        json!({"steps": [
            {"name": "0-30", "day": 0, "owner": "billing",
             "actions": [{"type": "message", "template_id": "friendly-reminder"}]},
            {"name": "31-60", "day": 31, "owner": "collections",
             "actions": [{"type": "notify", "channel": "finance"}]},
            {"name": "61-90", "day": 61, "owner": "collections",
             "actions": [{"type": "message", "template_id": "firm-notice"}]},
            {"name": "90+", "day": 91, "owner": "finance-lead",
             "actions": [{"type": "notify", "channel": "finance"},
                         {"type": "message", "template_id": "final-notice"}]}]}),
    );
    let a = &mut cfg["automations"][0];
    a["trigger"]
        .as_object_mut()
        .unwrap()
        .remove("thresholds_days");
    a.as_object_mut().unwrap().remove("actions");
    cfg
}

fn active(customer: &str) -> Value {
    subscription(
        &format!("sub-evt-{customer}"),
        customer,
        "2026-01-01T00:00:00Z",
        "active",
    )
}

/// `(date, step, late)` of each fired row.
fn fired_steps(run: &Run) -> Vec<(String, String, bool)> {
    run.rows()
        .iter()
        .filter(|r| r["decision"] == "fired")
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["step"].as_str().unwrap().to_owned(),
                r["late"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn step(date: &str, name: &str, late: bool) -> (String, String, bool) {
    (date.to_owned(), name.to_owned(), late)
}

#[test]
fn when_the_balance_goes_negative_after_the_run_hour_should_fire_the_day_0_step_the_next_day_not_late()
 {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2026-11-05");
    assert_eq!(fired_steps(&run), [step("2026-11-02", "0-30", false)]);
}

#[test]
fn when_the_balance_goes_negative_before_the_run_hour_should_fire_the_day_0_step_that_day() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2026-11-05");
    assert_eq!(fired_steps(&run), [step("2026-11-01", "0-30", false)]);
    assert_eq!(run.rows()[0]["days_past_due"], 0);
}

#[test]
fn when_a_day_0_event_is_learned_of_two_days_late_should_fire_late_within_the_window() {
    let events = [
        active("c1"),
        received(
            balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
            "2026-11-03T09:00:00Z",
        ),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2026-11-08");
    // First due on the 2nd (the run after the start); the 4th's run is the first to know.
    assert_eq!(fired_steps(&run), [step("2026-11-04", "0-30", true)]);
}

#[test]
fn when_the_balance_stays_negative_should_walk_the_ladder_one_step_on_each_day() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -750_000),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2027-02-15");
    assert_eq!(
        fired_steps(&run),
        [
            step("2026-11-01", "0-30", false),
            step("2026-12-02", "31-60", false),
            step("2027-01-01", "61-90", false),
            step("2027-01-31", "90+", false),
        ]
    );
}

#[test]
fn when_an_automation_names_its_steps_should_print_the_clock_and_step_fields() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2026-12-05");
    let row = &run.rows()[1];
    assert_eq!(row["step"], "31-60");
    assert_eq!(row["owner"], "collections");
    assert_eq!(row["trigger"], "past_due");
    assert_eq!(row["segment"], Value::Null);
    assert_eq!(row["clock_id"], Value::Null);
    assert_eq!(row["clock_since"], "2026-11-01");
    assert_eq!(row["clock_days"], 31);
    assert_eq!(row["threshold_days"], 31);
    assert_eq!(row["days_past_due"], 31);
    assert_eq!(row["past_due_since"], "2026-11-01");
}

#[test]
fn when_an_automation_uses_the_short_form_should_print_rows_without_step_fields() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-20");
    let row = &run.rows()[0];
    for field in [
        "trigger",
        "step",
        "owner",
        "segment",
        "clock_id",
        "clock_since",
    ] {
        assert!(row.get(field).is_none(), "{field} in {row}");
    }
}

#[test]
fn when_a_step_has_an_owner_should_send_it_and_the_step_as_message_attributes() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
    ];
    let run = run(&events, &ladder(6), "2026-11-01", "2026-12-05");
    let published = run.publisher.published();
    assert_eq!(published.len(), 2, "the day-0 message and the 31-60 notice");
    let attributes = |i: usize| -> Vec<(String, String)> { published[i].1.attributes.clone() };
    let get = |i: usize, name: &str| {
        attributes(i)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    };
    assert_eq!(get(0, "owner").as_deref(), Some("billing"));
    assert_eq!(get(0, "step").as_deref(), Some("0-30"));
    assert_eq!(get(1, "owner").as_deref(), Some("collections"));
    assert_eq!(get(1, "step").as_deref(), Some("31-60"));
    let notice = &published[1].1;
    assert_eq!(notice.body["owner"], "collections");
    assert!(
        notice.summary.contains("step \"31-60\" (day 31)"),
        "{}",
        notice.summary
    );
}

/// `(step, reason)` of each skipped row.
fn skipped_steps(run: &Run) -> Vec<(String, String)> {
    run.rows()
        .iter()
        .filter(|r| r["decision"] == "skipped")
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn when_a_customer_is_first_seen_after_a_steps_window_should_miss_it_and_fire_the_next_late() {
    let mut cfg = ladder(6);
    cfg["automations"][0]["trigger"]["catch_up_days"] = json!(30);
    let events = [
        active("c1"),
        received(
            balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
            "2026-12-03T09:00:00Z",
        ),
    ];
    let run = run(&events, &cfg, "2026-11-01", "2026-12-10");
    assert_eq!(fired_steps(&run), [step("2026-12-04", "31-60", true)]);
    assert_eq!(
        skipped_steps(&run),
        [("0-30".to_owned(), "missed_window".to_owned())]
    );
}

#[test]
fn when_two_steps_are_due_in_one_run_should_fire_the_later_and_supersede_the_earlier() {
    let mut cfg = ladder(6);
    cfg["automations"][0]["steps"] = json!([
        {"name": "welcome-back", "day": 0,
         "actions": [{"type": "message", "template_id": "friendly-reminder"}]},
        {"name": "nudge", "day": 3, "actions": [{"type": "notify", "channel": "finance"}]}]);
    let events = [
        active("c1"),
        received(
            balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
            "2026-11-03T09:00:00Z",
        ),
    ];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-10");
    assert_eq!(fired_steps(&run), [step("2026-11-04", "nudge", false)]);
    assert_eq!(
        skipped_steps(&run),
        [("welcome-back".to_owned(), "superseded".to_owned())]
    );
    let detail = run.rows()[0]["detail"].clone();
    assert_eq!(detail, "step \"nudge\" fired instead in the same run");
}

/// The ladder with the 90+ step asking an admin's approval for balances over 5,000.00.
fn ladder_with_approval(mode: &str) -> Value {
    let mut cfg = ladder(6);
    let a = &mut cfg["automations"][0];
    a["mode"] = json!(mode);
    a["steps"][3]["approval"] = json!({
        "when": [{"field": "balance.amount_minor", "op": "lte", "value": -500_000}]});
    cfg
}

fn at_day_91(customer: &str, balance_minor: i64) -> [Value; 2] {
    [
        active(customer),
        balance(
            &format!("e-{customer}"),
            customer,
            "2026-11-01T05:00:00Z",
            balance_minor,
        ),
    ]
}

fn status_of(run: &Run, step_day: u16) -> Vec<(String, String)> {
    run.store
        .firing_records()
        .iter()
        .filter(|r| r.decision.threshold_days == step_day)
        .map(|r| {
            (
                r.decision.customer_id.to_string(),
                r.status.as_str().to_owned(),
            )
        })
        .collect()
}

#[test]
fn when_an_approval_threshold_holds_should_wait_for_approval_and_carry_out_nothing() {
    let events: Vec<Value> = [at_day_91("big", -750_000), at_day_91("small", -40_000)].concat();
    let run = run(
        &events,
        &ladder_with_approval("live"),
        "2026-11-01",
        "2027-01-31",
    );
    let on_day_91: Vec<(String, String)> = run
        .rows()
        .iter()
        .filter(|r| r["step"] == "90+")
        .map(|r| {
            (
                r["customer_id"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        on_day_91,
        [
            ("big".to_owned(), "awaiting_approval".to_owned()),
            ("small".to_owned(), "fired".to_owned())
        ]
    );
    assert_eq!(
        status_of(&run, 91),
        [
            ("big".to_owned(), "awaiting_approval".to_owned()),
            ("small".to_owned(), "sent".to_owned())
        ]
    );
    let final_notices = run
        .publisher
        .published()
        .iter()
        .filter(|(_, m)| m.body["template_id"] == "final-notice")
        .count();
    assert_eq!(final_notices, 1, "only the customer below the threshold");
    assert_eq!(run.report.awaiting_approval, 1);
}

#[test]
fn when_an_approval_is_not_given_within_its_days_should_expire() {
    let events = at_day_91("big", -750_000);
    let expiring = run(
        &events,
        &ladder_with_approval("live"),
        "2026-11-01",
        "2027-02-07",
    );
    assert_eq!(
        status_of(&expiring, 91),
        [("big".to_owned(), "awaiting_approval".to_owned())],
        "the 7th day after the firing is the last to approve it"
    );
    let expired = run(
        &events,
        &ladder_with_approval("live"),
        "2026-11-01",
        "2027-02-08",
    );
    assert_eq!(
        status_of(&expired, 91),
        [("big".to_owned(), "expired".to_owned())]
    );
}

#[test]
fn when_a_dry_run_reaches_an_approval_threshold_should_ask_nothing_and_say_it_needs_approval() {
    let events = at_day_91("big", -750_000);
    let run = run(
        &events,
        &ladder_with_approval("dry_run"),
        "2026-11-01",
        "2027-01-31",
    );
    let row = run.rows().into_iter().find(|r| r["step"] == "90+").unwrap();
    assert_eq!(
        (&row["decision"], &row["needs_approval"]),
        (&json!("fired"), &json!(true))
    );
    assert_eq!(
        status_of(&run, 91),
        [("big".to_owned(), "dry_run".to_owned())]
    );
    assert!(run.publisher.published().is_empty());
}

#[test]
fn when_a_message_step_comes_too_soon_after_the_last_message_should_wait_for_the_gap_and_fire_late()
{
    let mut cfg = ladder(6);
    cfg["tenants"][0]["min_days_between_messages"] = json!(5);
    cfg["automations"][0]["trigger"]["catch_up_days"] = json!(0);
    cfg["automations"][0]["steps"] = json!([
        {"name": "reminder", "day": 0,
         "actions": [{"type": "message", "template_id": "friendly-reminder"}]},
        {"name": "finance", "day": 2, "actions": [{"type": "notify", "channel": "finance"}]},
        {"name": "nudge", "day": 4,
         "actions": [{"type": "message", "template_id": "nudge"}]}]);
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T05:00:00Z", -5000),
    ];
    let run = run(&events, &cfg, "2026-11-01", "2026-11-12");
    assert_eq!(
        fired_steps(&run),
        [
            step("2026-11-01", "reminder", false),
            // Spacing holds back only what reaches the customer.
            step("2026-11-03", "finance", false),
            // First due on the 5th, a day under the gap: due again on the 6th, though its
            // catch-up window (none) has passed, and late.
            step("2026-11-06", "nudge", true),
        ]
    );
    let too_soon: Vec<Value> = run
        .rows()
        .into_iter()
        .filter(|r| r["reason"] == "too_soon")
        .collect();
    assert_eq!(too_soon.len(), 1, "{too_soon:?}");
    assert_eq!(too_soon[0]["date"], "2026-11-05");
    assert_eq!(
        too_soon[0]["detail"],
        "a message was sent on 2026-11-01 and min_days_between_messages is 5: not before 2026-11-06"
    );
}

// ---- Quiet periods (SPEC §8.2): tests/fixtures/quiet.*, one customer per case ----

fn quiet_run() -> Run {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let events: Vec<Value> = std::fs::read_to_string(dir.join("quiet.events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("quiet.automations.json")).unwrap())
            .unwrap();
    run(&events, &cfg, "2026-11-01", "2026-12-05")
}

/// `(date, step, late)` of each of `customer`'s fired rows, and the dates its customer-facing
/// steps were skipped `quiet`.
fn quiet_case(run: &Run, customer: &str) -> (Vec<(String, String, bool)>, Vec<String>) {
    let rows: Vec<Value> = run
        .rows()
        .into_iter()
        .filter(|r| r["customer_id"] == customer)
        .collect();
    let fired = rows
        .iter()
        .filter(|r| r["decision"] == "fired")
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["step"].as_str().unwrap().to_owned(),
                r["late"].as_bool().unwrap(),
            )
        })
        .collect();
    let quiet = rows
        .iter()
        .filter(|r| r["reason"] == "quiet")
        .map(|r| r["date"].as_str().unwrap().to_owned())
        .collect();
    (fired, quiet)
}

#[test]
fn when_a_promise_to_pay_is_kept_should_send_nothing_meanwhile_and_end_with_the_episode() {
    let (fired, quiet) = quiet_case(&quiet_run(), "c-kept");
    assert_eq!(fired, [step("2026-11-01", "reminder", false)]);
    assert_eq!(quiet, ["2026-11-11", "2026-11-12"], "paid on the 12th");
}

#[test]
fn when_a_promise_to_pay_is_broken_should_fire_the_held_step_at_the_next_run_late() {
    let run = quiet_run();
    let (fired, quiet) = quiet_case(&run, "c-broken");
    assert_eq!(
        fired,
        [
            step("2026-11-01", "reminder", false),
            // A notification to the team is not held by a quiet period.
            step("2026-11-13", "collections", false),
            // The promise ran until 2026-11-15T00:00Z: the run of the 15th is the first after.
            step("2026-11-15", "second", true),
        ]
    );
    assert_eq!(
        quiet,
        ["2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"]
    );
    let detail = run
        .rows()
        .into_iter()
        .find(|r| r["customer_id"] == "c-broken" && r["reason"] == "quiet")
        .unwrap()["detail"]
        .clone();
    assert_eq!(
        detail,
        "a promise to pay until 2026-11-15T00:00:00Z is open"
    );
}

#[test]
fn when_a_dispute_is_open_should_hold_customer_messages_until_the_run_after_it_closes() {
    let (fired, quiet) = quiet_case(&quiet_run(), "c-dispute");
    assert_eq!(
        fired,
        [
            step("2026-11-01", "reminder", false),
            step("2026-11-13", "collections", false),
            // Closed at 10:00 on the 25th, after that day's run: the 26th's run sends it,
            // twelve days past its catch-up window.
            step("2026-11-26", "second", true),
        ]
    );
    assert_eq!(
        quiet,
        ["2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"]
    );
}
