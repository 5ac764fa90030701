//! The scheduled run's handler with the real Scheduler event fixture, on the in-memory
//! adapters. (The same runs go against the local AWS emulator in tests/e2e.)

use evaluate::config::Config;
use evaluate::handler::{Deps, ScheduledEvent, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::ingest::ingest_event;
use shared::domain::{Automation, Event, TenantId, TenantSettings};
use shared::ports::{AutomationAdmin, RunCheckpoints};

fn scheduler_event() -> ScheduledEvent {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scheduler-event.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Tenant t1 (New York, 06:00) with one automation, and four customers who cross 14 days on
/// 11-12, 11-13, 11-14 and 11-15. The runs of 11-12 to 11-14 were missed.
async fn missed_runs_store() -> MemoryStore {
    let store = MemoryStore::new();
    let settings = TenantSettings::from_json(
        &json!({"tenant_id": "t1", "timezone": "America/New_York", "evaluation_hour": 6}),
    )
    .unwrap();
    store.put_settings(&settings).await.unwrap();
    let automation = Automation::from_json(&json!({"id": "a1", "tenant_id": "t1", "name": "14/30",
        "active_from": "2026-10-01",
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]}))
    .unwrap();
    store.put_automation(&automation).await.unwrap();
    for (n, day) in ["10-29", "10-30", "10-31", "11-01"].iter().enumerate() {
        let e = Event::from_json(&json!({"event_id": format!("e{n}"), "tenant_id": "t1",
            "customer_id": format!("c{n}"), "type": "balance.changed",
            "occurred_at": format!("2026-{day}T17:00:00Z"),
            "balance": {"amount_minor": -5000, "currency": "USD"}}))
        .unwrap();
        ingest_event(&store, &e).await.unwrap();
    }
    store
        .complete(&TenantId::new("t1"), "2026-11-11".parse().unwrap())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn when_runs_were_skipped_for_3_days_should_fire_every_crossed_threshold_once_flagged_late() {
    let deps = Deps {
        store: missed_runs_store().await,
        alerts: MemoryPublisher::new(),
        lookback_days: 7,
    };
    let summary = handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(summary.dates_evaluated, 4);
    assert_eq!(summary.dates_caught_up, 3);
    assert_eq!(summary.firings, 4);
    let mut fired: Vec<(String, String, bool)> = deps
        .store
        .firing_records()
        .iter()
        .map(|r| {
            let d = &r.decision;
            (d.customer_id.to_string(), d.date.to_string(), d.late())
        })
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        vec![
            ("c0".into(), "2026-11-12".into(), true),
            ("c1".into(), "2026-11-13".into(), true),
            ("c2".into(), "2026-11-14".into(), true),
            ("c3".into(), "2026-11-15".into(), false),
        ]
    );
    assert_eq!(
        deps.store
            .last_completed(&TenantId::new("t1"))
            .await
            .unwrap(),
        Some("2026-11-15".parse().unwrap())
    );
}

#[tokio::test]
async fn when_the_same_scheduled_run_is_invoked_again_should_evaluate_nothing_twice() {
    let deps = Deps {
        store: missed_runs_store().await,
        alerts: MemoryPublisher::new(),
        lookback_days: 7,
    };
    handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let again = handle(
            &deps,
            LambdaEvent::new(scheduler_event(), Context::default()),
        )
        .await
        .unwrap();
        assert_eq!((again.dates_evaluated, again.firings), (0, 0));
    }
    assert_eq!(deps.store.firing_records().len(), 4);
}

#[tokio::test]
async fn when_the_lookback_is_shorter_than_the_outage_should_catch_up_only_the_latest_dates() {
    let deps = Deps {
        store: missed_runs_store().await,
        alerts: MemoryPublisher::new(),
        lookback_days: 2,
    };
    let summary = handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(summary.dates_evaluated, 2, "11-14 and 11-15");
    // c0 and c1 crossed on dates given up; their windows are still open on 11-14, so they fire
    // there, late.
    assert_eq!(summary.firings, 4);
}

#[test]
fn when_the_alerts_topic_is_missing_or_the_lookback_is_out_of_range_should_name_the_variable() {
    assert_eq!(
        Config::from_lookup(|_| None).unwrap_err().variable,
        "RULEKIT_ALERTS_TOPIC_ARN"
    );
    let err = Config::from_lookup(|k| match k {
        "RULEKIT_ALERTS_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:a".into()),
        "RULEKIT_LOOKBACK_DAYS" => Some("0".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_LOOKBACK_DAYS");
}
