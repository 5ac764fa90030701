//! The scheduled run's handler with the real Scheduler event fixture, on the in-memory
//! adapters. (The same runs go against the local AWS emulator in tests/e2e.)

use evaluate::config::Config;
use evaluate::handler::{Deps, Job, ScheduledEvent, handle};
use lambda_runtime::{Context, LambdaEvent};
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::domain::TenantId;
use shared::ports::{ReportRecords, RunCheckpoints};
use synthetic::PastDueTenant;

fn scheduler_event() -> ScheduledEvent {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scheduler-event.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The missed-runs scenario (customers crossing 14 days on 11-12 to 11-15), with the runs of
/// 11-12 to 11-14 missed: the last completed date is 11-11.
async fn missed_runs_store() -> MemoryStore {
    let store = MemoryStore::new();
    PastDueTenant::missed_runs().seed(&store).await;
    store
        .complete(&PastDueTenant::tenant(), "2026-11-11".parse().unwrap())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn when_runs_were_skipped_for_3_days_should_fire_every_crossed_threshold_once_flagged_late() {
    let deps = Deps {
        store: missed_runs_store().await,
        topics: MemoryPublisher::new(),
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
            (d.customer_id.to_string(), d.date.to_string(), d.late)
        })
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        vec![
            ("c000".into(), "2026-11-12".into(), true),
            ("c001".into(), "2026-11-13".into(), true),
            ("c002".into(), "2026-11-14".into(), true),
            ("c003".into(), "2026-11-15".into(), false),
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
        topics: MemoryPublisher::new(),
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
        topics: MemoryPublisher::new(),
        lookback_days: 2,
    };
    let summary = handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(summary.dates_evaluated, 2, "11-14 and 11-15");
    // c000 and c001 crossed on dates given up; their windows are still open on 11-14, so they fire
    // there, late.
    assert_eq!(summary.firings, 4);
}

#[test]
fn when_a_topic_is_missing_or_the_lookback_is_out_of_range_should_name_the_variable() {
    assert_eq!(
        Config::from_lookup(|_| None).unwrap_err().variable,
        "RULEKIT_ALERTS_TOPIC_ARN"
    );
    let err = Config::from_lookup(|k| match k {
        "RULEKIT_ALERTS_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:a".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_FINANCE_TOPIC_ARN");
    let err = Config::from_lookup(|k| match k {
        "RULEKIT_ALERTS_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:a".into()),
        "RULEKIT_FINANCE_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:f".into()),
        "RULEKIT_LOOKBACK_DAYS" => Some("0".into()),
        _ => None,
    })
    .unwrap_err();
    assert_eq!(err.variable, "RULEKIT_LOOKBACK_DAYS");
}

#[tokio::test]
async fn when_a_step_asks_for_approvals_should_count_them_in_the_summary_and_expire_them_later() {
    use shared::ports::{AutomationAdmin, AutomationStore};
    let store = missed_runs_store().await;
    // The tenant's automation, its day-14 step now asking an admin for every firing.
    let current = store
        .tenant_automations(&PastDueTenant::tenant())
        .await
        .unwrap()
        .remove(0);
    let mut doc = current.to_json();
    let actions = doc["actions"].clone();
    doc.as_object_mut().unwrap().remove("actions");
    doc["trigger"]
        .as_object_mut()
        .unwrap()
        .remove("thresholds_days");
    doc["steps"] = serde_json::json!([{"name": "escalation", "day": 14,
        "approval": {"expires_after_days": 1}, "actions": actions}]);
    let stepped = shared::domain::Automation::from_json(&doc).unwrap();
    store.put_automation(&stepped).await.unwrap();
    let deps = Deps {
        store,
        topics: MemoryPublisher::new(),
        lookback_days: 7,
    };
    let event = |at: &str| ScheduledEvent {
        scheduled_time: at.parse().unwrap(),
        job: Job::Daily,
    };
    let first = handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    // The runs of 11-12 to 11-14, caught up on 11-15, ask on 11-15: none has expired yet.
    assert_eq!(
        (
            first.firings,
            first.awaiting_approval,
            first.approvals_expired
        ),
        (0, 4, 0)
    );
    let expiry: Vec<String> = deps
        .store
        .firing_records()
        .iter()
        .filter_map(|r| r.decision.approval_expires_on())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(expiry, ["2026-11-16"; 4], "a day from the asking run");
    let later = handle(
        &deps,
        LambdaEvent::new(event("2026-11-17T12:00:00Z"), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(later.approvals_expired, 4, "{later:?}");
}

#[tokio::test]
async fn when_the_weekly_schedule_runs_should_send_each_tenant_its_last_weeks_review_to_finance() {
    let deps = Deps {
        store: missed_runs_store().await,
        topics: MemoryPublisher::new(),
        lookback_days: 7,
    };
    // The daily run of 11-15 decides the firings of 11-12 to 11-15 (week 2026-W46).
    let daily = handle(
        &deps,
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert!(daily.firings > 0);
    let alerts_before = deps.topics.published().len();

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/weekly-review-event.json"
    );
    let weekly: ScheduledEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(weekly.job, Job::WeeklyReview);
    let summary = handle(&deps, LambdaEvent::new(weekly, Context::default()))
        .await
        .unwrap();
    assert_eq!((summary.reviews_published, summary.firings), (1, 0));

    let sent = deps.topics.published();
    assert_eq!(sent.len(), alerts_before + 1, "one review, nothing else");
    let (_, message) = sent.last().unwrap();
    assert_eq!(message.destination, shared::ports::Destination::Finance);
    // Monday 2026-11-16 noon UTC: the week that just ended, in the tenant's zone.
    assert_eq!(message.body["week"], "2026-W46");
    assert_eq!(message.body["type"], "report.weekly");
    let expected = shared::app::report::weekly_review(
        &deps.store,
        &PastDueTenant::tenant(),
        shared::app::report::IsoWeek::parse("2026-W46").unwrap(),
    )
    .await
    .unwrap();
    let mut body = message.body.clone();
    body.as_object_mut().unwrap().remove("type");
    assert_eq!(body, expected.to_json(), "the API's review, as JSON");
    let went_on: u64 = expected.groups.iter().map(|g| g.this_week.went_on).sum();
    assert_eq!(
        went_on,
        (daily.firings + daily.held + daily.awaiting_approval) as u64
    );
    assert!(message.summary.contains("2026-W46"), "{}", message.summary);
    // The week's closing aging table is recorded under the Monday after it, and sent.
    let recorded = deps
        .store
        .aging_on(&PastDueTenant::tenant(), "2026-11-16".parse().unwrap())
        .await
        .unwrap()
        .expect("recorded by the weekly job");
    assert!(!recorded.currencies.is_empty(), "past-due customers owe");
    assert_eq!(
        body["aging"]["end"],
        shared::app::report::aging::to_json(&recorded)
    );
    assert!(
        message.summary.contains("Owed on 2026-11-16"),
        "{}",
        message.summary
    );
    // Routing facts only: no customer id in the attributes.
    let names: Vec<&str> = message.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["tenant_id", "report_type"]);
}
