//! The executor against DynamoDB and SNS on the local emulator, with an SQS queue subscribed
//! to each topic to read what was delivered.

use e2e::{Env, emulator_endpoint, fixture, proxy};
use execute::handler::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::ingest::ingest_event;
use shared::app::simulate::{SimulationPlan, simulate, store_config};
use shared::domain::{Automation, AutomationsFile, Event, Mode, Outcome, TenantId, TenantSettings};
use shared::ports::AutomationAdmin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_fixtures_run_through_ingest_evaluate_and_execute_should_deliver_one_finance_message_per_live_firing()
 {
    let env = Env::new("execute-e2e").await;
    let finance = env.subscribed_queue("finance", &env.topics.finance).await;
    let events: Vec<Event> = std::fs::read_to_string(fixture("basic.events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| Event::from_json(&serde_json::from_str(l).unwrap()).unwrap())
        .collect();
    let config = AutomationsFile::from_json(
        &serde_json::from_str(&std::fs::read_to_string(fixture("basic.automations.json")).unwrap())
            .unwrap(),
    )
    .unwrap();
    let store = env.store();
    let from = "2026-11-01".parse().unwrap();
    store_config(&store, &config, from).await.unwrap();
    let plan = SimulationPlan {
        events: &events,
        config: &config,
        from,
        to: "2026-12-05".parse().unwrap(),
    };
    let report = simulate(&store, &env.publisher(), plan).await.unwrap();

    let mut expected: Vec<(String, u64)> = report
        .decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Fired && d.mode == Mode::Live)
        .map(|d| (d.customer_id.to_string(), u64::from(d.threshold_days)))
        .collect();
    expected.sort();
    let mut delivered: Vec<(String, u64)> = env
        .drain(&finance)
        .await
        .iter()
        .map(|m| {
            assert_ne!(m["automation_id"], "a2", "the dry run carries out nothing");
            (
                m["customer_id"].as_str().unwrap().to_owned(),
                m["threshold_days"].as_u64().unwrap(),
            )
        })
        .collect();
    delivered.sort();
    assert_eq!(delivered.len(), 5);
    assert_eq!(delivered, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_stream_triggers_the_executor_with_25_pending_should_publish_in_full_batches_once()
{
    let env = Env::new("execute-batches").await;
    let finance = env.subscribed_queue("finance", &env.topics.finance).await;
    let store = env.store();
    let mut settings = TenantSettings::defaults(TenantId::new("t1"));
    settings.guardrail.min_count = 1_000;
    store.put_settings(&settings).await.unwrap();
    let automation = Automation::from_json(&json!({"id": "a1", "tenant_id": "t1", "name": "14",
        "active_from": "2026-10-01",
        "trigger": {"type": "past_due", "require_active_subscription": false},
        "actions": [{"type": "notify", "channel": "finance"}]}))
    .unwrap();
    store.put_automation(&automation).await.unwrap();
    for n in 0..25 {
        let e = Event::from_json(&json!({"event_id": format!("e{n}"), "tenant_id": "t1",
            "customer_id": format!("c{n:03}"), "type": "balance.changed",
            "occurred_at": "2026-11-01T10:00:00Z",
            "balance": {"amount_minor": -5000, "currency": "USD"}}))
        .unwrap();
        ingest_event(&store, &e).await.unwrap();
    }
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-15".parse().unwrap(),
        false,
    )
    .await
    .unwrap();

    let counting = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let deps = Deps {
        store: store.clone(),
        publisher: env.publisher_via(&counting.endpoint),
        batch: 500,
    };
    let stream_event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../functions/execute/fixtures/dynamodb-stream-event.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now();
    let first = handle(
        &deps,
        LambdaEvent::new(stream_event.clone(), Context::default()),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (first.sent, first.messages, first.publish_calls),
        (25, 25, 3)
    );
    assert_eq!(counting.stats.count("PublishBatch"), 3, "10 + 10 + 5");

    // The same trigger again (a redelivered stream batch) finds nothing left to do.
    let again = handle(
        &deps,
        LambdaEvent::new(stream_event, Context::default()),
        now,
    )
    .await
    .unwrap();
    assert_eq!(again.messages, 0);
    assert_eq!(env.drain(&finance).await.len(), 25);
}
