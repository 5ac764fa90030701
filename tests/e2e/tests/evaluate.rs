//! The scheduled run's handler against DynamoDB and SNS on the local emulator: concurrent and
//! repeated invocations record each firing once, and a guardrail hold sends one alert, read
//! from an SQS queue subscribed to the alerts topic.

use e2e::{Env, event_fixture};
use evaluate::handler::{Deps, ScheduledEvent, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::adapters::DynamoStore;
use shared::domain::{CustomerId, TenantId};
use shared::ports::{DecisionStore, RunCheckpoints};
use synthetic::PastDueTenant;

fn scheduler_event() -> ScheduledEvent {
    event_fixture("evaluate", "scheduler-event.json")
}

/// Tenant t1 (New York, 06:00), automation a1, and `customers` customers who all become
/// past due on 11-01, so they cross 14 days on 11-15, the fixture's run; the last completed
/// run is 11-14.
async fn prepare(env: &Env, customers: usize) -> DynamoStore {
    let tenant = PastDueTenant::new(customers, "2026-11-01T17:00:00Z")
        .settings(json!({"timezone": "America/New_York", "evaluation_hour": 6}));
    prepare_with(env, &tenant, "2026-11-14").await
}

/// `tenant` seeded on the emulator, with its last completed run on `checkpoint`.
async fn prepare_with(env: &Env, tenant: &PastDueTenant, checkpoint: &str) -> DynamoStore {
    let store = env.store();
    tenant.seed(&store).await;
    store
        .complete(&PastDueTenant::tenant(), checkpoint.parse().unwrap())
        .await
        .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_runs_were_skipped_for_3_days_then_one_run_should_fire_every_crossed_threshold_once_flagged_late()
 {
    let env = Env::new("evaluate-skipped").await;
    // Crossing 14 days on 11-12, 11-13, 11-14 (missed runs) and 11-15 (this run).
    let store = prepare_with(&env, &PastDueTenant::missed_runs(), "2026-11-11").await;
    let summary = handle(
        &deps(&env, store.clone()),
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!((summary.dates_evaluated, summary.firings), (4, 4));
    let mut fired: Vec<(String, bool)> = store
        .pending_firings(100)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.decision.customer_id.to_string(), r.decision.late))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        vec![
            ("c000".to_owned(), true),
            ("c001".to_owned(), true),
            ("c002".to_owned(), true),
            ("c003".to_owned(), false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_firing_is_recorded_but_the_answer_is_lost_should_count_it_fired_once() {
    // The SDK sends the PutItem again; the retry finds the firing this run wrote, and the run
    // must still report it (not take it for another run's).
    let env = Env::new("evaluate-own-retry").await;
    prepare(&env, 1).await;
    let faults = e2e::proxy::Faults {
        fail_first_after_forward: Some("PutItem"),
        ..Default::default()
    };
    let proxy = e2e::proxy::start(&e2e::emulator_endpoint(), faults).await;
    let summary = handle(
        &deps(&env, env.store_via(&proxy.endpoint)),
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(proxy.stats.injected(), 1);
    assert_eq!(summary.firings, 1);
    let fired = env.store().pending_firings(100).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].decision.customer_id, CustomerId::new("c000"));
}

fn deps(env: &Env, store: DynamoStore) -> Deps<DynamoStore, shared::adapters::SnsPublisher> {
    Deps {
        store,
        topics: env.publisher(),
        lookback_days: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_scheduled_run_is_invoked_twice_concurrently_and_again_should_record_each_firing_once()
 {
    let env = Env::new("evaluate-repeat").await;
    let store = prepare(&env, 5).await;
    let deps = deps(&env, store.clone());
    let (a, b) = tokio::join!(
        handle(
            &deps,
            LambdaEvent::new(scheduler_event(), Context::default())
        ),
        handle(
            &deps,
            LambdaEvent::new(scheduler_event(), Context::default())
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.firings + b.firings,
        5,
        "each firing reported by exactly one invocation"
    );
    for _ in 0..3 {
        let again = handle(
            &deps,
            LambdaEvent::new(scheduler_event(), Context::default()),
        )
        .await
        .unwrap();
        assert_eq!(again.firings, 0);
    }
    let tenant = TenantId::new("t1");
    let automation = shared::domain::AutomationId::new("a1");
    for n in 0..5 {
        let settled = store
            .settled(&tenant, &automation, &CustomerId::new(format!("c{n:03}")))
            .await
            .unwrap();
        assert_eq!(settled.len(), 1, "c{n:03} fired once");
    }
    assert_eq!(store.pending_firings(100).await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_run_would_fire_for_too_many_customers_should_hold_them_and_send_one_alert() {
    let env = Env::new("evaluate-guardrail").await;
    let store = prepare(&env, 60).await;

    // A queue subscribed to the alerts topic, to read what was delivered.
    let alerts = env.subscribed_queue("alerts", &env.topics.alerts).await;

    let summary = handle(
        &deps(&env, store.clone()),
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!((summary.firings, summary.held, summary.alerts), (0, 60, 1));
    assert!(
        store.pending_firings(100).await.unwrap().is_empty(),
        "nothing to carry out"
    );

    let delivered = env.drain(&alerts).await;
    assert_eq!(delivered.len(), 1, "one alert for the whole hold");
    let alert = &delivered[0];
    assert_eq!(alert["type"], "guardrail.held");
    assert_eq!(alert["firings"], 60);
    assert_eq!(alert["automation_id"], "a1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_tenants_run_fails_should_finish_the_others_announce_their_holds_and_fail() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let env = Env::new("evaluate-one-fails").await;
    let store = prepare(&env, 60).await;
    let alerts = env.subscribed_queue("alerts", &env.topics.alerts).await;
    // Tenant t2, listed after t1, whose settings do not read.
    let dynamodb = aws_sdk_dynamodb::Client::new(&env.sdk);
    for (pk, sk, attribute, value) in [
        ("TENANTS", "T#t2", "t", "t2"),
        ("T#t2", "SETTINGS", "doc", "{not json"),
    ] {
        dynamodb
            .put_item()
            .table_name(&env.names.table)
            .item("pk", AttributeValue::S(pk.to_owned()))
            .item("sk", AttributeValue::S(sk.to_owned()))
            .item(attribute, AttributeValue::S(value.to_owned()))
            .item("v", AttributeValue::N("1".to_owned()))
            .send()
            .await
            .unwrap();
    }

    let first = handle(
        &deps(&env, store.clone()),
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await;
    assert!(first.is_err(), "the scheduler is told, and retries");
    assert_eq!(
        store.last_completed(&TenantId::new("t1")).await.unwrap(),
        Some("2026-11-15".parse().unwrap()),
        "t1's run is done"
    );
    let delivered = env.drain(&alerts).await;
    assert_eq!(delivered.len(), 1, "t1's hold announced: {delivered:?}");
    assert_eq!(delivered[0]["tenant_id"], "t1");

    // The retry runs only what is still due: t2, which fails again; t1 is not announced twice.
    let again = handle(
        &deps(&env, store.clone()),
        LambdaEvent::new(scheduler_event(), Context::default()),
    )
    .await;
    assert!(again.is_err());
    assert!(env.drain(&alerts).await.is_empty());
}
