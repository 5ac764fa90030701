//! Rollout by cohort with a holdout (SPEC §8.8): each clock's arm follows its customer's
//! bucket, is decided at the first run that sees the clock and kept for the clock's life,
//! holdout steps are recorded and carry nothing out, and a promotion only adds customers.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::app::simulate::store_config;
use shared::domain::rollout::{Arm, Rollout, bucket};
use shared::domain::{AutomationId, AutomationsFile, CustomerId, Decision, TenantId};
use shared::ports::{AutomationAdmin, StoreOnly};
use std::collections::BTreeMap;

/// Thresholds 14 and 30 with a rollout, and a guardrail that holds nothing.
fn rolled_out(cohort: u8, holdout: u8) -> Value {
    let mut cfg = config(
        "UTC",
        6,
        json!({}),
        json!({"rollout": {"cohort_percent": cohort, "holdout_percent": holdout}}),
    );
    cfg["tenants"][0]["guardrail"] = json!({"min_count": 1_000_000});
    cfg
}

fn arm_of(customer: &str, cohort: u8, holdout: u8) -> Arm {
    let b = bucket(
        &TenantId::new("t1"),
        &AutomationId::new("a1"),
        &CustomerId::new(customer),
    );
    Rollout {
        cohort_percent: cohort,
        holdout_percent: holdout,
    }
    .arm(b)
}

/// Customers `prefix0..prefixN`, each with a subscription and past due from `at`.
fn past_due(prefix: &str, n: usize, at: &str) -> Vec<Value> {
    (0..n)
        .flat_map(|i| {
            let c = format!("{prefix}{i}");
            [
                subscription(&format!("s-{c}"), &c, "2026-01-01T00:00:00Z", "active"),
                balance(&format!("b-{c}"), &c, at, -5_000),
            ]
        })
        .collect()
}

/// What each step decision says, by customer and threshold.
fn by_step(decisions: &[Decision]) -> BTreeMap<(String, u16), Value> {
    decisions
        .iter()
        .filter(|d| !d.is_assignment())
        .map(|d| {
            let row = serde_json::to_value(d.row()).unwrap();
            ((d.customer_id.to_string(), d.threshold_days), row)
        })
        .collect()
}

fn expected_decision(arm: Arm) -> &'static str {
    match arm {
        Arm::Treated => "fired",
        Arm::Holdout => "holdout",
        Arm::NotInCohort => "skipped",
    }
}

#[test]
fn when_an_automation_has_a_rollout_should_treat_hold_out_and_skip_by_bucket() {
    let events = past_due("c", 300, "2026-11-01T05:00:00Z");
    let run = run(&events, &rolled_out(40, 20), "2026-11-01", "2026-11-20");
    let steps = by_step(&run.decisions);
    let mut arms = BTreeMap::new();
    for i in 0..300 {
        let c = format!("c{i}");
        let arm = arm_of(&c, 40, 20);
        *arms.entry(arm).or_insert(0) += 1;
        let row = &steps[&(c.clone(), 14)];
        assert_eq!(row["decision"], expected_decision(arm), "{c}: {row}");
        assert_eq!(row["arm"], arm.as_str(), "{c}");
        if arm == Arm::NotInCohort {
            assert_eq!(row["reason"], "not_in_cohort");
            assert!(row["detail"].as_str().unwrap().contains("bucket"), "{row}");
        }
        if arm != Arm::Treated {
            assert_eq!(row["actions"], Value::Null, "nothing is carried out: {row}");
        }
    }
    // Every arm is there: the test sees all three behaviours.
    assert!(arms.values().all(|n| *n > 30), "{arms:?}");
    // Each clock's assignment is recorded once, at the first run (day 0), with its arm.
    let assigned: Vec<&Decision> = run.decisions.iter().filter(|d| d.is_assignment()).collect();
    assert_eq!(assigned.len(), 300);
    assert!(assigned.iter().all(|d| d.date.to_string() == "2026-11-01"));
    let row = serde_json::to_value(assigned[0].row()).unwrap();
    assert_eq!(row["decision"], "assigned");
    // Only the treated are messaged: holdout rows print, but carry nothing out.
    let treated = arms[&Arm::Treated];
    assert_eq!(run.report.fired, treated);
    assert_eq!(run.publisher.published().len(), treated);
    assert!(
        run.decisions
            .iter()
            .filter(|d| d.arm == Some(Arm::Holdout) && !d.is_assignment())
            .all(|d| d.prints_without_explain())
    );
}

#[test]
fn when_the_cohort_is_promoted_mid_clock_should_keep_each_running_clock_in_its_arm() {
    block_on(async {
        let store = MemoryStore::new();
        let publisher = MemoryPublisher::new();
        let file = AutomationsFile::from_json(&rolled_out(10, 10)).unwrap();
        store_config(&store, &file, "2026-11-01".parse().unwrap())
            .await
            .unwrap();
        let tenant = TenantId::new("t1");
        let mut decisions = Vec::new();
        let evaluate = async |from: &str, to: &str, decisions: &mut Vec<Decision>| {
            let (from, to): (chrono::NaiveDate, chrono::NaiveDate) =
                (from.parse().unwrap(), to.parse().unwrap());
            for date in from.iter_days().take_while(|d| *d <= to) {
                let day = evaluate_tenant_day(&store, &tenant, date, None)
                    .await
                    .unwrap();
                decisions.extend(day.decisions);
                let at = file.tenants[0].calendar.run_instant(date);
                execute_pending(&store, &publisher, &StoreOnly, at, usize::MAX)
                    .await
                    .unwrap();
            }
        };
        for e in parse_events(&past_due("old", 200, "2026-11-01T05:00:00Z")) {
            ingest_event(&store, &e).await.unwrap();
        }
        evaluate("2026-11-01", "2026-11-20", &mut decisions).await;
        // Promoted between day 14 and day 30 of the old clocks: the cohort grows to 60%.
        let mut promoted = file.automations[0].clone();
        promoted.rollout = Some(Rollout {
            cohort_percent: 60,
            holdout_percent: 10,
        });
        store.put_automation(&promoted).await.unwrap();
        for e in parse_events(&past_due("new", 200, "2026-11-21T05:00:00Z")) {
            ingest_event(&store, &e).await.unwrap();
        }
        evaluate("2026-11-21", "2026-12-25", &mut decisions).await;

        let steps = by_step(&decisions);
        let mut moved_by_the_promotion = 0;
        for i in 0..200 {
            let old = format!("old{i}");
            let arm = arm_of(&old, 10, 10);
            for day in [14, 30] {
                let row = &steps[&(old.clone(), day)];
                assert_eq!(
                    row["decision"],
                    expected_decision(arm),
                    "{old} {day}: {row}"
                );
            }
            if arm_of(&old, 60, 10) != arm {
                moved_by_the_promotion += 1;
            }
            let new = format!("new{i}");
            let arm = arm_of(&new, 60, 10);
            for day in [14, 30] {
                let row = &steps[&(new.clone(), day)];
                assert_eq!(
                    row["decision"],
                    expected_decision(arm),
                    "{new} {day}: {row}"
                );
            }
            // The holdout is the same customers before and after.
            assert_eq!(
                arm_of(&old, 10, 10) == Arm::Holdout,
                arm_of(&old, 60, 10) == Arm::Holdout
            );
        }
        // Had the arm been taken again at day 30, these clocks would have switched.
        assert!(moved_by_the_promotion > 50, "{moved_by_the_promotion}");
        let treated_firings = decisions
            .iter()
            .filter(|d| d.outcome == shared::domain::Outcome::Fired)
            .count();
        assert_eq!(publisher.published().len(), treated_firings);
    });
}

#[test]
fn when_a_rollout_is_invalid_should_name_each_field() {
    let cfg = rolled_out(60, 50);
    let err = AutomationsFile::from_json(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("automations[0].rollout.cohort_percent")
            && err.contains("at most 100, got 60 + 50"),
        "{err}"
    );
    let mut cfg = rolled_out(10, 10);
    cfg["automations"][0]["rollout"] = json!({"holdout_percent": 60, "cohort": 10});
    let err = AutomationsFile::from_json(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("rollout.holdout_percent: must be between 0 and 50"),
        "{err}"
    );
    assert!(err.contains("rollout.cohort: unknown field"), "{err}");
}

/// The bucket is a contract a tenant's data team recomputes: 2,000 ids, the tenant and
/// automation ids with `:` and `.` among them, against Python's hashlib.
#[test]
fn when_python_computes_the_buckets_should_agree_on_every_customer() {
    use std::io::Write;
    let ids: Vec<(String, String, String)> = (0..2_000)
        .map(|i| {
            (
                format!("tenant-{}", i % 7),
                format!("auto:{}.v{}", i % 3, i % 5),
                format!("cus_{i:05}-{}", i * 7919 % 1000),
            )
        })
        .collect();
    let script = "import hashlib, sys\n\
        for line in sys.stdin.read().splitlines():\n\
        \x20   h = hashlib.sha256(line.encode()).digest()\n\
        \x20   print(int.from_bytes(h[:8], 'big') % 10000)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the test command installs it)");
    let input: String = ids
        .iter()
        .map(|(t, a, c)| format!("{t}:{a}:{c}\n"))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let python: Vec<u16> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let ours: Vec<u16> = ids
        .iter()
        .map(|(t, a, c)| {
            bucket(
                &TenantId::new(t.as_str()),
                &AutomationId::new(a.as_str()),
                &CustomerId::new(c.as_str()),
            )
        })
        .collect();
    assert_eq!(ours, python);
}
