//! The executor against DynamoDB and SNS on the local emulator, with an SQS queue subscribed
//! to each topic to read what was delivered.

use e2e::{Env, emulator_endpoint, event_fixture, fixture, proxy};
use execute::handler::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::adapters::SqsDeadLetters;
use shared::app::ingest::ingest_event;
use shared::app::simulate::{SimulationPlan, in_arrival_order, simulate, store_config};
use shared::domain::{AutomationsFile, Event, Mode, Outcome, TenantId};
use shared::ports::{DecisionStore, FiringStatus, StoreOnly};
use synthetic::PastDueTenant;

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
        config: &config,
        from,
        to: "2026-12-05".parse().unwrap(),
        arrivals: in_arrival_order(&events),
    };
    let mut decisions: Vec<shared::domain::Decision> = Vec::new();
    simulate(&store, &env.publisher(), plan, &mut decisions)
        .await
        .unwrap();

    let mut expected: Vec<(String, u64)> = decisions
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
    let store = pending(&env, 25, json!([{"type": "notify", "channel": "finance"}])).await;

    let counting = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let deps = Deps {
        store: store.clone(),
        publisher: env.publisher_via(&counting.endpoint),
        failed: StoreOnly,
        batch: 500,
    };
    let stream_event: serde_json::Value = event_fixture("execute", "dynamodb-stream-event.json");
    let now = chrono::Utc::now();
    let first = handle(
        &deps,
        LambdaEvent::new(stream_event.clone(), Context::default()),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            first.report.sent,
            first.report.messages,
            first.report.publish_calls
        ),
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
    assert_eq!(again.report.messages, 0);
    assert_eq!(env.drain(&finance).await.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_two_executors_run_at_once_on_dynamodb_should_deliver_each_action_once() {
    let env = Env::new("execute-race").await;
    let finance = env.subscribed_queue("finance", &env.topics.finance).await;
    let messages = env
        .subscribed_queue("messages", &env.topics.customer_messages)
        .await;
    let store = pending(&env, 40, both_actions()).await;
    let now = chrono::Utc::now();
    // Two executors, each with its own clients, on their own tasks: both read the outbox
    // while the other claims from it.
    let run = |env: &Env| {
        let (store, publisher) = (store.clone(), env.publisher());
        tokio::spawn(async move {
            shared::app::execute::execute_pending(&store, &publisher, &StoreOnly, now, 500)
                .await
                .unwrap()
        })
    };
    let (a, b) = (run(&env), run(&env));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a.sent + b.sent, 40, "{a:?} {b:?}");
    let finance = per_customer(&env.drain(&finance).await);
    let messages = per_customer(&env.drain(&messages).await);
    assert_eq!(finance.len(), 40);
    assert!(finance.values().all(|n| *n == 1), "{finance:?}");
    assert_eq!(messages.len(), 40);
    assert!(messages.values().all(|n| *n == 1), "{messages:?}");
}

/// Tenant t1 (UTC) with an automation that carries out `actions`, and `customers` customers
/// past due since 11-01, evaluated on 11-15: one pending firing each.
async fn pending(
    env: &Env,
    customers: usize,
    actions: serde_json::Value,
) -> shared::adapters::DynamoStore {
    let store = env.store();
    PastDueTenant::new(customers, "2026-11-01T10:00:00Z")
        .settings(json!({"guardrail": {"min_count": 1_000}}))
        .actions(actions)
        .seed_and_evaluate(&store, "2026-11-15")
        .await;
    store
}

fn both_actions() -> serde_json::Value {
    json!([{"type": "notify", "channel": "finance"},
           {"type": "message", "template_id": "reminder-1"}])
}

fn per_customer(messages: &[serde_json::Value]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for m in messages {
        *counts
            .entry(m["customer_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_executor_stops_after_publishing_100_times_should_lose_nothing_and_never_message_a_customer_twice()
 {
    let env = Env::new("execute-stops").await;
    let finance = env.subscribed_queue("finance", &env.topics.finance).await;
    let customer = env
        .subscribed_queue("customer", &env.topics.customer_messages)
        .await;
    let store = e2e::failpoint::StopsAfterPublishing::new(pending(&env, 100, both_actions()).await);
    let publisher = env.publisher();
    e2e::failpoint::stop_and_recover(&store, &publisher, 100).await;
    let finance = per_customer(&env.drain(&finance).await);
    let customer = per_customer(&env.drain(&customer).await);
    assert_eq!(finance.len(), 100, "every firing reached finance: 0 lost");
    assert!(
        finance.values().all(|n| *n <= 2),
        "at most one duplicate per stop"
    );
    assert_eq!(customer.len(), 100);
    assert!(
        customer.values().all(|n| *n == 1),
        "no customer messaged twice"
    );
    let records = store.inner.pending_firings(1000).await.unwrap();
    assert!(records.is_empty(), "nothing left waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_customer_pays_after_the_firing_was_queued_should_get_no_customer_message() {
    use shared::app::execute::execute_pending;
    let env = Env::new("execute-paid").await;
    let customer = env
        .subscribed_queue("customer", &env.topics.customer_messages)
        .await;
    let store = pending(&env, 2, both_actions()).await;
    let paid = Event::from_json(&json!({"event_id": "paid", "tenant_id": "t1",
        "customer_id": "c000", "type": "balance.changed", "occurred_at": "2026-11-15T08:00:00Z",
        "balance": {"amount_minor": 0, "currency": "USD"}}))
    .unwrap();
    ingest_event(&store, &paid).await.unwrap();
    execute_pending(
        &store,
        &env.publisher(),
        &StoreOnly,
        chrono::Utc::now(),
        100,
    )
    .await
    .unwrap();
    let delivered = per_customer(&env.drain(&customer).await);
    assert_eq!(delivered.get("c000"), None);
    assert_eq!(delivered.get("c001"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_claim_has_not_expired_should_leave_it_to_its_executor() {
    use shared::app::execute::execute_pending;
    let env = Env::new("execute-lease").await;
    let customer = env
        .subscribed_queue("customer", &env.topics.customer_messages)
        .await;
    let store = e2e::failpoint::StopsAfterPublishing::new(pending(&env, 1, both_actions()).await);
    let publisher = env.publisher();
    let now = chrono::Utc::now();
    store.arm(true);
    assert!(
        execute_pending(&store, &publisher, &StoreOnly, now, 1)
            .await
            .is_err()
    );
    store.arm(false);
    let within_lease = execute_pending(
        &store,
        &publisher,
        &StoreOnly,
        now + chrono::Duration::minutes(1),
        1,
    )
    .await
    .unwrap();
    assert_eq!(within_lease.recovered + within_lease.sent, 0);
    assert_eq!(
        env.drain(&customer).await.len(),
        1,
        "published once, within the lease"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_finance_topic_keeps_rejecting_should_retry_with_backoff_then_dead_letter_the_firing()
 {
    use shared::app::execute::{MAX_ATTEMPTS, backoff};
    let env = Env::new("execute-failed").await;
    let store = pending(&env, 2, json!([{"type": "notify", "channel": "finance"}])).await;
    let (failed_queue, _) = env.queue("failed-firings").await;
    // The finance topic is gone (deleted by hand, say): every publish to it fails.
    env.sns()
        .delete_topic()
        .topic_arn(&env.topics.finance)
        .send()
        .await
        .unwrap();
    let deps = Deps {
        store: store.clone(),
        publisher: env.publisher(),
        failed: SqsDeadLetters::new(env.sqs(), failed_queue.clone()),
        batch: 500,
    };
    let sweep = || LambdaEvent::new(json!({"sweep": true}), Context::default());
    let mut now = chrono::Utc::now();
    for attempt in 1..=MAX_ATTEMPTS {
        let summary = handle(&deps, sweep(), now).await.unwrap();
        if attempt < MAX_ATTEMPTS {
            assert_eq!((summary.report.retrying, summary.report.failed), (2, 0));
            // Too early for the next attempt: nothing is published.
            let early = handle(&deps, sweep(), now + chrono::Duration::seconds(30))
                .await
                .unwrap();
            assert_eq!((early.report.waiting, early.report.publish_calls), (2, 0));
        } else {
            assert_eq!((summary.report.retrying, summary.report.failed), (0, 2));
        }
        now += backoff(attempt);
    }

    let letters = env.receive_all(&failed_queue).await;
    assert_eq!(letters.len(), 2, "one dead letter per firing");
    let mut customers = Vec::new();
    for (body, attributes) in &letters {
        let letter: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(letter["type"], "firing.failed");
        assert_eq!(letter["firing"]["status"], "failed");
        assert_eq!(letter["firing"]["attempts"], MAX_ATTEMPTS);
        assert!(
            letter["last_error"].as_str().unwrap().contains("NotFound"),
            "{letter}"
        );
        customers.push(letter["firing"]["customer_id"].as_str().unwrap().to_owned());
        // Attributes route; they carry no customer data.
        assert_eq!(
            attributes.keys().collect::<Vec<_>>(),
            ["automation_id", "tenant_id"]
        );
    }
    customers.sort();
    assert_eq!(customers, ["c000", "c001"]);
    assert!(store.pending_firings(100).await.unwrap().is_empty());
    let stored = store
        .customer_firings(
            &TenantId::new("t1"),
            &shared::domain::CustomerId::new("c000"),
        )
        .await
        .unwrap();
    assert_eq!(
        stored.iter().map(|r| r.status).collect::<Vec<_>>(),
        [FiringStatus::Failed],
        "the firing stays on record, marked failed"
    );
}
