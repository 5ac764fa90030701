//! The rules of SPEC §3 (past-due episodes and the clock) and §4 (the firing rule), one test
//! per rule, each replayed through the simulation on the in-memory store.

mod common;

use common::*;
use serde_json::json;
use shared::app::evaluate::evaluate_tenant_day;
use shared::domain::customer::EndReason;
use shared::domain::{CustomerId, Outcome, TenantId};
use shared::ports::{CustomerStore, Destination};

fn fired(
    date: &str,
    customer: &str,
    threshold: u64,
    dpd: i64,
    late: bool,
) -> (String, String, u64, i64, bool) {
    (date.to_owned(), customer.to_owned(), threshold, dpd, late)
}

fn skip(date: &str, customer: &str, threshold: u64, reason: &str) -> (String, String, u64, String) {
    (
        date.to_owned(),
        customer.to_owned(),
        threshold,
        reason.to_owned(),
    )
}

fn active(customer: &str) -> serde_json::Value {
    subscription(
        &format!("sub-evt-{customer}"),
        customer,
        "2026-01-01T00:00:00Z",
        "active",
    )
}

// ---- §3 past-due episodes ----

#[test]
fn when_the_balance_stays_negative_should_fire_on_day_14_and_day_30_exactly_once() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(
        run.fired(),
        vec![
            fired("2026-11-15", "c1", 14, 14, false),
            fired("2026-12-01", "c1", 30, 30, false)
        ]
    );
    let row = &run.rows()[0];
    assert_eq!(row["past_due_since"], "2026-11-01");
    assert_eq!(row["mode"], "live");
}

#[test]
fn when_the_balance_is_zero_or_credit_should_not_be_past_due() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", 0),
        active("c2"),
        balance("e2", "c2", "2026-11-01T10:00:00Z", 2500),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert!(run.rows().is_empty());
}

#[test]
fn when_a_partial_payment_leaves_the_balance_negative_under_negative_balance_should_keep_the_episode()
 {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-05T10:00:00Z", -2000),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-25");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_a_partial_payment_happens_under_no_improvement_should_restart_the_clock() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-05T10:00:00Z", -2000),
    ];
    let cfg = config("UTC", 6, json!({"continuity": "no_improvement"}), json!({}));
    let run = run(&events, &cfg, "2026-11-01", "2026-11-25");
    assert_eq!(run.fired(), vec![fired("2026-11-19", "c1", 14, 14, false)]);
    assert_eq!(run.rows()[0]["past_due_since"], "2026-11-05");
}

#[test]
fn when_a_further_charge_happens_under_no_improvement_should_not_restart_the_clock() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-05T10:00:00Z", -7000),
    ];
    let cfg = config("UTC", 6, json!({"continuity": "no_improvement"}), json!({}));
    let run = run(&events, &cfg, "2026-11-01", "2026-11-25");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_a_restart_under_no_improvement_begins_a_new_episode_should_fire_its_thresholds_again() {
    // 14 fires on 11-15; a partial payment on 11-20 restarts the clock, and the new episode
    // reaches its own 14 days on 12-04.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-20T10:00:00Z", -4000),
    ];
    let cfg = config("UTC", 6, json!({"continuity": "no_improvement"}), json!({}));
    let run = run(&events, &cfg, "2026-11-01", "2026-12-10");
    assert_eq!(
        run.fired(),
        vec![
            fired("2026-11-15", "c1", 14, 14, false),
            fired("2026-12-04", "c1", 14, 14, false)
        ]
    );
}

#[test]
fn when_the_balance_returns_to_zero_or_above_should_end_the_episode_with_its_reason() {
    let events = [
        balance("e1", "paid", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "paid", "2026-11-03T10:00:00Z", 0),
        balance("e3", "credited", "2026-11-01T10:00:00Z", -5000),
        balance("e4", "credited", "2026-11-03T10:00:00Z", 100),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-20");
    let t1 = TenantId::new("t1");
    let state = |c: &str| {
        block_on(run.store.load_customer(&t1, &CustomerId::new(c)))
            .unwrap()
            .unwrap()
            .value
    };
    let paid = state("paid");
    assert!(!paid.is_past_due());
    assert_eq!(paid.last_ended.as_ref().unwrap().reason, EndReason::Paid);
    assert_eq!(
        state("credited").last_ended.as_ref().unwrap().reason,
        EndReason::Credited
    );
    assert!(run.rows().is_empty());
}

// ---- §3 the clock: the run instant, late data, calendars ----

#[test]
fn when_a_payment_lands_at_05_00_on_the_threshold_day_should_not_fire_at_the_06_00_run() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-15T05:00:00Z", 0),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(run.fired(), vec![]);
}

#[test]
fn when_a_payment_lands_at_07_00_on_the_threshold_day_should_fire_at_the_06_00_run() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e2", "c1", "2026-11-15T07:00:00Z", 0),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    // Fired at 06:00, before the payment; the episode then ended, so 30 never fires.
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_an_event_is_received_after_the_run_instant_should_be_seen_only_by_the_next_run() {
    // The payment happened at 05:00 but was only received at 06:30: the 06:00 run saw the
    // customer still past due and fired.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        received(
            balance("e2", "c1", "2026-11-15T05:00:00Z", 0),
            "2026-11-15T06:30:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_a_late_event_moves_the_episode_start_earlier_should_count_from_the_earlier_start() {
    let events = [
        active("c1"),
        balance("e2", "c1", "2026-11-05T10:00:00Z", -5000),
        received(
            balance("e1", "c1", "2026-11-01T10:00:00Z", -3000),
            "2026-11-10T12:00:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-25");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
    assert_eq!(run.rows()[0]["past_due_since"], "2026-11-01");
}

#[test]
fn when_a_late_event_moves_the_start_earlier_after_a_firing_should_not_fire_the_threshold_again() {
    // 14 fires on 11-19 for an episode starting 11-05; a late charge then moves the start to
    // 11-03, which reopens the 14-day window (day 17 on 11-20), but 14 already fired for this
    // continuous episode. 30 counts from the earlier start.
    let events = [
        active("c1"),
        balance("e2", "c1", "2026-11-05T10:00:00Z", -5000),
        received(
            balance("e1", "c1", "2026-11-03T10:00:00Z", -3000),
            "2026-11-19T12:00:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(
        run.fired(),
        vec![
            fired("2026-11-19", "c1", 14, 14, false),
            fired("2026-12-03", "c1", 30, 30, false)
        ]
    );
}

#[test]
fn when_a_backdated_payment_ends_an_episode_after_a_firing_should_not_fire_it_again() {
    // 14 fired on 11-15; a payment dated 11-10 arrives on 11-16: the episode ended on 11-10, so
    // its 30-day threshold (12-01) never fires.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        received(
            balance("e2", "c1", "2026-11-10T10:00:00Z", 0),
            "2026-11-16T12:00:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_a_backdated_payment_splits_an_episode_should_fire_the_new_episode_on_its_own_days() {
    // Before the payment is known, 11-01..now is one episode (14 fires on 11-15). The payment
    // dated 11-10 splits it: a new episode starts with the charge of 11-12 and fires its own 14
    // on 11-26; the old episode's 30 (12-01) does not fire.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("e3", "c1", "2026-11-12T10:00:00Z", -4000),
        received(
            balance("e2", "c1", "2026-11-10T10:00:00Z", 0),
            "2026-11-16T12:00:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-05");
    assert_eq!(
        run.fired(),
        vec![
            fired("2026-11-15", "c1", 14, 14, false),
            fired("2026-11-26", "c1", 14, 14, false)
        ]
    );
    assert_eq!(run.rows()[1]["past_due_since"], "2026-11-12");
}

#[test]
fn when_dst_starts_in_new_york_should_run_at_06_00_edt_and_count_calendar_days() {
    // Clocks spring forward on 2026-03-08. Day 14 is 03-15, whose 06:00 EDT run is 10:00Z: a
    // payment at 10:30Z (06:30 EDT) comes after it, so the threshold fires.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-03-01T12:00:00-05:00", -5000),
        balance("e2", "c1", "2026-03-15T10:30:00Z", 0),
        active("c2"),
        balance("e3", "c2", "2026-03-01T12:00:00-05:00", -5000),
        balance("e4", "c2", "2026-03-15T09:30:00Z", 0),
    ];
    let cfg = config("America/New_York", 6, json!({}), json!({}));
    let run = run(&events, &cfg, "2026-03-01", "2026-04-05");
    assert_eq!(run.fired(), vec![fired("2026-03-15", "c1", 14, 14, false)]);
}

#[test]
fn when_dst_ends_in_new_york_should_run_at_06_00_est_and_count_calendar_days() {
    // Clocks fall back on 2026-11-01. Day 14 of an episode from 10-25 is 11-08, whose 06:00
    // EST run is 11:00Z: a payment at 10:30Z (05:30 EST) comes before it.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-10-25T12:00:00-04:00", -5000),
        balance("e2", "c1", "2026-11-08T10:30:00Z", 0),
        active("c2"),
        balance("e3", "c2", "2026-10-25T12:00:00-04:00", -5000),
    ];
    let cfg = config("America/New_York", 6, json!({}), json!({}));
    let run = run(&events, &cfg, "2026-10-20", "2026-11-12");
    assert_eq!(run.fired(), vec![fired("2026-11-08", "c2", 14, 14, false)]);
}

#[test]
fn when_dst_ends_in_berlin_should_date_the_episode_by_the_local_calendar() {
    // 2026-10-20T23:30Z is 10-21 01:30 CEST: the episode starts on the local 10-21, and 14 days
    // later (across the 10-25 change) is 11-04, not 11-03.
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-10-20T23:30:00Z", -5000),
    ];
    let cfg = config("Europe/Berlin", 6, json!({}), json!({}));
    let run = run(&events, &cfg, "2026-10-15", "2026-11-10");
    assert_eq!(run.fired(), vec![fired("2026-11-04", "c1", 14, 14, false)]);
    assert_eq!(run.rows()[0]["past_due_since"], "2026-10-21");
}

#[test]
fn when_the_zone_is_ahead_of_utc_should_use_the_local_date_in_auckland() {
    // 2026-11-01T12:00Z is 11-02 01:00 NZDT. Day 14 is 11-16 local, run at 06:00 NZDT
    // (11-15T17:00Z).
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T12:00:00Z", -5000),
        // Paid at 11-15T18:00Z: after the 11-16 run in Auckland, though still 11-15 in UTC.
        balance("e2", "c1", "2026-11-15T18:00:00Z", 0),
    ];
    let cfg = config("Pacific/Auckland", 6, json!({}), json!({}));
    let run = run(&events, &cfg, "2026-11-01", "2026-12-10");
    assert_eq!(run.fired(), vec![fired("2026-11-16", "c1", 14, 14, false)]);
    assert_eq!(run.rows()[0]["past_due_since"], "2026-11-02");
}

#[test]
fn when_day_14_is_29_february_should_fire_on_the_leap_day() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2028-02-15T10:00:00Z", -5000),
    ];
    let run = run(&events, &default_config(), "2028-02-15", "2028-03-20");
    assert_eq!(
        run.fired(),
        vec![
            fired("2028-02-29", "c1", 14, 14, false),
            fired("2028-03-16", "c1", 30, 30, false)
        ]
    );
}

// ---- §4 the firing rule ----

#[test]
fn when_a_customer_is_at_day_31_on_first_sight_should_fire_30_late_and_miss_14() {
    let events = [
        active("c1"),
        received(
            balance("e1", "c1", "2026-10-01T10:00:00Z", -5000),
            "2026-11-01T05:00:00Z",
        ),
    ];
    let run = run(&events, &default_config(), "2026-10-01", "2026-11-10");
    assert_eq!(run.fired(), vec![fired("2026-11-01", "c1", 30, 31, true)]);
    assert_eq!(
        run.skipped(),
        vec![skip("2026-11-01", "c1", 14, "missed_window")]
    );
}

#[test]
fn when_two_thresholds_are_due_in_one_run_should_fire_only_the_highest_and_supersede_the_other() {
    let events = [
        active("c1"),
        received(
            balance("e1", "c1", "2026-10-01T10:00:00Z", -5000),
            "2026-10-17T05:00:00Z",
        ),
    ];
    let cfg = config(
        "UTC",
        6,
        json!({"thresholds_days": [14, 16], "catch_up_days": 2}),
        json!({}),
    );
    let run = run(&events, &cfg, "2026-10-01", "2026-11-10");
    assert_eq!(run.fired(), vec![fired("2026-10-17", "c1", 16, 16, false)]);
    assert_eq!(
        run.skipped(),
        vec![skip("2026-10-17", "c1", 14, "superseded")]
    );
}

#[test]
fn when_a_threshold_was_reached_before_the_automation_was_active_should_not_fire_retroactively() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-10-25T10:00:00Z", -5000),
    ];
    let cfg = config("UTC", 6, json!({}), json!({"active_from": "2026-11-10"}));
    let run = run(&events, &cfg, "2026-11-01", "2026-12-10");
    // 14 was reached on 11-08, before 11-10; 30 is reached on 11-24, after.
    assert_eq!(
        run.skipped(),
        vec![skip("2026-11-08", "c1", 14, "before_active_from")]
    );
    assert_eq!(run.fired(), vec![fired("2026-11-24", "c1", 30, 30, false)]);
}

#[test]
fn when_a_due_threshold_fails_its_conditions_should_recheck_them_within_the_catch_up_window() {
    // No active subscription until 11-17: 14 is due on 11-15 and 11-16 but blocked, then fires
    // late on 11-17.
    let events = [
        subscription("s0", "c1", "2026-10-01T00:00:00Z", "canceled"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        subscription("s1", "c1", "2026-11-17T03:00:00Z", "active"),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-20");
    assert_eq!(run.fired(), vec![fired("2026-11-17", "c1", 14, 16, true)]);
    assert_eq!(
        run.skipped(),
        vec![
            skip("2026-11-15", "c1", 14, "no_active_subscription"),
            skip("2026-11-16", "c1", 14, "no_active_subscription")
        ]
    );
}

#[test]
fn when_conditions_stay_false_through_the_window_should_never_fire_that_threshold() {
    // Reactivated on 11-19, after the 14-day window (11-15..11-18) closed: 14 never fires and
    // is recorded as missed when 30 fires.
    let events = [
        subscription("s0", "c1", "2026-10-01T00:00:00Z", "paused"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
        subscription("s1", "c1", "2026-11-19T03:00:00Z", "trialing"),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-12-05");
    assert_eq!(run.fired(), vec![fired("2026-12-01", "c1", 30, 30, false)]);
    let skipped = run.skipped();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    assert!(
        skipped[..4]
            .iter()
            .all(|s| s.3 == "no_active_subscription" && s.2 == 14)
    );
    assert_eq!(skipped[4], skip("2026-12-01", "c1", 14, "missed_window"));
}

#[test]
fn when_a_condition_is_false_should_skip_with_the_condition_named() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -500),
    ];
    let cfg = config(
        "UTC",
        6,
        json!({}),
        json!({"conditions": [{"field": "balance.amount_minor", "op": "lte", "value": -1000}]}),
    );
    let run = run(&events, &cfg, "2026-11-01", "2026-11-16");
    assert_eq!(run.fired(), vec![]);
    let rows = run.rows();
    assert_eq!(rows[0]["reason"], "condition_not_met");
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("balance.amount_minor lte -1000"),
        "{}",
        rows[0]
    );
}

#[test]
fn when_subscription_is_not_required_should_fire_without_one() {
    let events = [balance("e1", "c1", "2026-11-01T10:00:00Z", -5000)];
    let cfg = config(
        "UTC",
        6,
        json!({"require_active_subscription": false}),
        json!({}),
    );
    let run = run(&events, &cfg, "2026-11-01", "2026-11-16");
    assert_eq!(run.fired(), vec![fired("2026-11-15", "c1", 14, 14, false)]);
}

#[test]
fn when_the_automation_is_disabled_should_decide_nothing() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let cfg = config("UTC", 6, json!({}), json!({"enabled": false}));
    assert!(
        run(&events, &cfg, "2026-11-01", "2026-12-10")
            .rows()
            .is_empty()
    );
}

#[test]
fn when_the_automation_is_a_dry_run_should_report_fired_and_carry_out_nothing() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let cfg = config("UTC", 6, json!({}), json!({"mode": "dry_run"}));
    let run = run(&events, &cfg, "2026-11-01", "2026-12-10");
    assert_eq!(run.fired().len(), 2);
    assert!(run.rows().iter().all(|r| r["mode"] == "dry_run"));
    assert!(run.publisher.published().is_empty());
}

#[test]
fn when_a_live_firing_is_executed_should_publish_one_finance_message_without_customer_data_in_attributes()
 {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-20");
    let published = run.publisher.published();
    assert_eq!(published.len(), 1);
    let message = &published[0].1;
    assert_eq!(message.destination, Destination::Finance);
    assert_eq!(message.body["customer_id"], "c1");
    assert_eq!(message.body["balance"]["amount_minor"], -5000);
    assert!(message.summary.contains("50.00 USD"), "{}", message.summary);
    for (name, value) in &message.attributes {
        assert!(
            !value.contains("c1") && !value.contains("5000"),
            "{name}={value}"
        );
    }
}

#[test]
fn when_the_same_day_is_evaluated_again_should_not_fire_twice() {
    let events = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-15");
    assert_eq!(run.fired().len(), 1);
    let t1 = TenantId::new("t1");
    for _ in 0..3 {
        let again = block_on(evaluate_tenant_day(
            &run.store,
            &t1,
            "2026-11-15".parse().unwrap(),
            None,
        ))
        .unwrap();
        assert!(again.decisions.iter().all(|d| d.outcome != Outcome::Fired));
    }
    assert_eq!(run.store.firing_records().len(), 1);
}

#[test]
fn when_events_are_duplicated_should_count_them_and_decide_as_if_once() {
    let once = [
        active("c1"),
        balance("e1", "c1", "2026-11-01T10:00:00Z", -5000),
    ];
    let twice = [
        once[0].clone(),
        once[1].clone(),
        once[1].clone(),
        once[0].clone(),
    ];
    let a = run(&once, &default_config(), "2026-11-01", "2026-12-10");
    let b = run(&twice, &default_config(), "2026-11-01", "2026-12-10");
    assert_eq!(a.rows(), b.rows());
    assert_eq!(b.report.duplicates, 2);
}

#[test]
fn when_many_customers_cross_in_one_run_should_hold_them_and_send_one_alert() {
    // 60 customers cross 14 days on the same day and they are all the past-due customers:
    // 60 >= min_count 50 and 100% > 25%.
    let mut events = Vec::new();
    for n in 0..60 {
        let c = format!("c{n:02}");
        events.push(active(&c));
        events.push(balance(&format!("e{n}"), &c, "2026-11-01T10:00:00Z", -5000));
    }
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-15");
    let rows = run.rows();
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r["decision"] == "held"));
    let published = run.publisher.published();
    assert_eq!(published.len(), 1, "one alert and no finance message");
    assert_eq!(published[0].1.destination, Destination::Alerts);
    assert_eq!(published[0].1.body["firings"], 60);
}

#[test]
fn when_customers_cross_below_the_guardrail_share_should_fire_normally() {
    // 60 cross on the same day but 300 customers are past due: 20% is under the 25% share.
    let mut events = Vec::new();
    for n in 0..300 {
        let c = format!("c{n:03}");
        let day = if n < 60 { "2026-11-01" } else { "2026-10-25" };
        events.push(active(&c));
        events.push(balance(
            &format!("e{n}"),
            &c,
            &format!("{day}T10:00:00Z"),
            -5000,
        ));
    }
    let run = run(&events, &default_config(), "2026-11-15", "2026-11-15");
    assert_eq!(run.fired().len(), 60);
    assert_eq!(run.publisher.published().len(), 60);
}

#[test]
fn when_two_tenants_use_the_same_customer_id_should_keep_separate_states() {
    let mut other = balance("e1", "c1", "2026-11-01T10:00:00Z", 700);
    other["tenant_id"] = json!("t2");
    let events = [balance("e1", "c1", "2026-11-01T10:00:00Z", -5000), other];
    let run = run(&events, &default_config(), "2026-11-01", "2026-11-02");
    let t1 = run.store.customers(&TenantId::new("t1"));
    let t2 = run.store.customers(&TenantId::new("t2"));
    assert_eq!(t1.len(), 1);
    assert_eq!(t2.len(), 1);
    assert!(t1[0].is_past_due());
    assert!(!t2[0].is_past_due());
    assert_eq!(
        run.report.accepted, 2,
        "same event id in two tenants is not a duplicate"
    );
}
