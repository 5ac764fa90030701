//! The ingest handler against DynamoDB and SQS on the local emulator: arrival order,
//! duplicates, late data, concurrency, lost responses, batch semantics and tenant isolation.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, TimeZone, Utc};
use e2e::{Env, emulator_endpoint, event_fixture, proxy, sqs_message};
use ingest::handler::{Deps, handle};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::adapters::{DynamoStore, SqsDeadLetters};
use shared::domain::clock::ClockKind;

const PAST_DUE: ClockKind = ClockKind::PastDue(shared::domain::Continuity::NegativeBalance);
use shared::domain::{Continuity, CustomerId, CustomerState, Event, TenantId};
use shared::ports::{CandidateSource, CustomerStore, DeadLetters};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use synthetic::SplitMix64;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `count` events for `customers` customers of tenant `t1` over 60 days, each received up to
/// 30 days after it occurred.
fn random_events(count: usize, customers: usize, seed: u64) -> Vec<Value> {
    let mut rng = SplitMix64::new(seed);
    let origin = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().unwrap();
    (0..count)
        .map(|i| {
            let customer = format!("cus-{:03}", rng.below(customers as u64));
            let occurred = origin + Duration::minutes(rng.below(60 * 24 * 60) as i64);
            let received = occurred + Duration::minutes(rng.below(30 * 24 * 60) as i64);
            let mut e = json!({"event_id": format!("evt-{i:05}"), "tenant_id": "t1",
                               "customer_id": customer, "occurred_at": stamp(occurred),
                               "received_at": stamp(received)});
            match rng.below(10) {
                0..=6 => {
                    let amount = [-9000i64, -4500, -1200, -300, 0, 0, 250][rng.below(7) as usize];
                    e["type"] = json!("balance.changed");
                    e["balance"] = json!({"amount_minor": amount, "currency": "USD"});
                }
                7..=8 => {
                    let status =
                        ["active", "canceled", "past_due", "paused"][rng.below(4) as usize];
                    e["type"] = json!("subscription.updated");
                    e["subscription"] =
                        json!({"id": format!("sub-{}", rng.below(2)), "status": status});
                }
                _ => {
                    e["type"] = json!("customer.updated");
                    let plan = ["gold", "basic"][rng.below(2) as usize];
                    e["customer"] = json!({"metadata": {"plan": plan}});
                }
            }
            e
        })
        .collect()
}

/// The messages SQS would deliver: every event once, some twice, in a random order.
fn messages(events: &[Value], duplicate_percent: u64, seed: u64) -> Vec<SqsMessage> {
    let mut rng = SplitMix64::new(seed);
    let mut bodies: Vec<String> = Vec::new();
    for e in events {
        bodies.push(e.to_string());
        if rng.below(100) < duplicate_percent {
            bodies.push(e.to_string());
        }
    }
    for i in (1..bodies.len()).rev() {
        bodies.swap(i, rng.below(i as u64 + 1) as usize);
    }
    bodies
        .into_iter()
        .enumerate()
        .map(|(n, body)| sqs_message(&format!("msg-{n:06}"), &body))
        .collect()
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Delivers `messages` in batches of 10 to `workers` concurrent invocations of the handler;
/// a message reported as failed is delivered again later, as SQS does.
async fn deliver<D: DeadLetters + 'static>(
    deps: Arc<Deps<DynamoStore, D>>,
    messages: Vec<SqsMessage>,
    workers: usize,
) -> usize {
    let queue = Arc::new(Mutex::new(VecDeque::from(messages)));
    let redeliveries = Arc::new(Mutex::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (queue, deps, redeliveries) = (queue.clone(), deps.clone(), redeliveries.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let records: Vec<SqsMessage> = {
                    let mut q = queue.lock().unwrap();
                    let n = q.len().min(10);
                    q.drain(..n).collect()
                };
                if records.is_empty() {
                    return;
                }
                let by_id: BTreeMap<String, SqsMessage> = records
                    .iter()
                    .map(|m| (m.message_id.clone().unwrap(), m.clone()))
                    .collect();
                let response = handle(&deps, LambdaEvent::new(batch(records), Context::default()))
                    .await
                    .unwrap();
                let mut q = queue.lock().unwrap();
                for failure in response.batch_item_failures {
                    *redeliveries.lock().unwrap() += 1;
                    q.push_back(by_id[&failure.item_identifier].clone());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    *redeliveries.lock().unwrap()
}

/// Every customer's state in the store equals the fold of its sorted log, and the log holds
/// each event exactly once.
async fn assert_store_matches_model(store: &DynamoStore, events: &[Value]) {
    let parsed: Vec<Event> = events
        .iter()
        .map(|v| Event::from_json(v).unwrap())
        .collect();
    let mut by_customer: BTreeMap<CustomerId, Vec<&Event>> = BTreeMap::new();
    for e in &parsed {
        by_customer
            .entry(e.customer_id.clone())
            .or_default()
            .push(e);
    }
    let tenant = TenantId::new("t1");
    for (customer, log) in by_customer {
        let model =
            CustomerState::replay(tenant.clone(), customer.clone(), log.iter().copied()).unwrap();
        let stored = store
            .load_customer(&tenant, &customer)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{customer} lost"));
        assert_eq!(stored.value, model, "state of {customer}");
        let mut stored_ids: Vec<String> = store
            .customer_events(&tenant, &customer)
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_id().to_string())
            .collect();
        stored_ids.sort();
        let mut expected: Vec<String> = log.iter().map(|e| e.event_id().to_string()).collect();
        expected.sort();
        assert_eq!(
            stored_ids, expected,
            "log of {customer}: 0 lost, 0 applied twice"
        );
    }
}

struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    async fn send(
        &self,
        _: &str,
        reasons: &shared::domain::FieldErrors,
    ) -> Result<(), shared::ports::StoreError> {
        panic!("no event of this test should be rejected: {reasons}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_10000_events_arrive_shuffled_duplicated_and_late_through_concurrent_workers_should_store_exactly_the_model()
 {
    let env = Env::new("ingest-10k").await;
    let events = random_events(10_000, 500, 7);
    let deps = Arc::new(Deps {
        store: env.store(),
        dead_letters: NoDeadLetters,
    });
    deliver(deps.clone(), messages(&events, 10, 11), 4).await;
    assert_store_matches_model(&deps.store, &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_fifth_of_responses_are_lost_after_the_write_lands_should_leave_no_drift() {
    let env = Env::new("ingest-faults").await;
    let faults = proxy::Faults {
        fail_after_forward_percent: 20,
        seed: 3,
        ..Default::default()
    };
    let proxy = proxy::start(&emulator_endpoint(), faults).await;
    let events = random_events(1_000, 60, 5);
    let deps = Arc::new(Deps {
        store: env.store_via(&proxy.endpoint),
        dead_letters: NoDeadLetters,
    });
    let redelivered = deliver(deps, messages(&events, 5, 13), 3).await;
    assert!(
        proxy.stats.injected() > 100,
        "faults were injected: {}",
        proxy.stats.injected()
    );
    eprintln!(
        "{} faults injected over {:?}; {redelivered} messages redelivered",
        proxy.stats.injected(),
        proxy.stats.requests()
    );
    assert_store_matches_model(&env.store(), &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_commit_lands_but_its_answer_is_lost_should_report_the_event_accepted_not_a_duplicate()
 {
    // The SDK retries a TransactWriteItems whose answer it never got. The retry finds the
    // event written, by this very commit: the caller must hear "accepted", once.
    let env = Env::new("ingest-own-retry").await;
    let faults = proxy::Faults {
        fail_first_after_forward: Some("TransactWriteItems"),
        ..Default::default()
    };
    let proxy = proxy::start(&emulator_endpoint(), faults).await;
    let store = env.store_via(&proxy.endpoint);
    let events = random_events(1, 1, 7);
    let event = Event::from_json(&events[0]).unwrap();
    let outcome = shared::app::ingest::ingest_event(&store, &event)
        .await
        .unwrap();
    assert_eq!(proxy.stats.injected(), 1);
    assert_eq!(
        proxy.stats.count("TransactWriteItems"),
        2,
        "the SDK retried once"
    );
    assert!(
        matches!(outcome, shared::app::ingest::IngestOutcome::Accepted(_)),
        "{outcome:?}"
    );
    // The same event delivered again is the duplicate.
    let again = shared::app::ingest::ingest_event(&store, &event)
        .await
        .unwrap();
    assert_eq!(again, shared::app::ingest::IngestOutcome::Duplicate);
    assert_store_matches_model(&env.store(), &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_sqs_batch_mixes_good_duplicate_malformed_conflicting_and_throttled_events_should_report_exactly_the_retryable_one()
 {
    let env = Env::new("ingest-batch").await;
    let sqs = env.sqs();
    let queue_url = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let ingest_queue = queue_url(format!("{}-ingest", env.names.table)).await;
    let dlq = queue_url(format!("{}-ingest-dlq", env.names.table)).await;

    // Send the fixture's bodies through a real queue and receive them as Lambda would.
    let fixture: SqsEvent = event_fixture("ingest", "sqs-mixed-batch.json");
    for record in &fixture.records {
        sqs.send_message()
            .queue_url(&ingest_queue)
            .message_body(record.body.clone().unwrap())
            .send()
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    while received.len() < fixture.records.len() {
        let out = sqs
            .receive_message()
            .queue_url(&ingest_queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        received.extend(out.messages.unwrap_or_default());
    }
    let records: Vec<SqsMessage> = received
        .iter()
        .map(|m| {
            let mut msg = sqs_message(m.message_id().unwrap(), m.body().unwrap());
            if let Some(sent) = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
            {
                msg.attributes.insert("SentTimestamp".into(), sent.clone());
            }
            msg
        })
        .collect();
    let flaky_id = received
        .iter()
        .find(|m| m.body().unwrap().contains("c-flaky"))
        .and_then(|m| m.message_id())
        .unwrap()
        .to_owned();

    // DynamoDB keeps throttling requests for customer c-flaky.
    let faults = proxy::Faults {
        fail_when_body_contains: Some("c-flaky".into()),
        ..Default::default()
    };
    let proxy = proxy::start(&emulator_endpoint(), faults).await;
    let deps = Deps {
        store: env.store_via(&proxy.endpoint),
        dead_letters: SqsDeadLetters::new(sqs.clone(), dlq.clone()),
    };
    let response = handle(&deps, LambdaEvent::new(batch(records), Context::default()))
        .await
        .unwrap();
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, vec![flaky_id]);

    // Every event that can never apply is in the dead-letter queue with its reason. evt_81
    // arrives twice with one payload and once with another, in one batch handled
    // concurrently: whichever payload is stored first wins, and every copy of the other is a
    // conflict.
    let out = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let mut fields: Vec<String> = out
        .messages
        .unwrap_or_default()
        .iter()
        .map(|m| {
            m.message_attributes().unwrap()["rejected_field"]
                .string_value()
                .unwrap()
                .to_owned()
        })
        .collect();
    fields.sort();
    let conflicts = fields.iter().filter(|f| *f == "event_id").count();
    fields.retain(|f| f != "event_id");
    assert_eq!(fields, vec!["balance.amount_minor", "body"]);
    assert!((1..=2).contains(&conflicts), "{conflicts} conflicts");

    let state = env
        .store()
        .load_customer(&TenantId::new("t1"), &CustomerId::new("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.version, 2, "evt_81 and the subscription, once each");
    let winner = if conflicts == 1 { -5000 } else { -7000 };
    assert_eq!(
        state.value.balance.as_ref().unwrap().balance.amount_minor,
        winner
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_two_tenants_share_a_customer_id_should_never_share_an_item_or_a_query() {
    let env = Env::new("ingest-tenants").await;
    let store = env.store();
    let event = |tenant: &str, id: &str, amount: i64| {
        json!({"event_id": id, "tenant_id": tenant, "customer_id": "same",
               "type": "balance.changed", "occurred_at": "2026-11-01T10:00:00Z",
               "balance": {"amount_minor": amount, "currency": "USD"}})
    };
    let events = [
        event("tenant-a", "e1", -5000),
        event("tenant-b", "e1", -700),
    ];
    let deps = Arc::new(Deps {
        store: store.clone(),
        dead_letters: NoDeadLetters,
    });
    let msgs = events
        .iter()
        .enumerate()
        .map(|(i, e)| sqs_message(&format!("m{i}"), &e.to_string()))
        .collect();
    deliver(deps, msgs, 1).await;

    let (a, b) = (TenantId::new("tenant-a"), TenantId::new("tenant-b"));
    let customer = CustomerId::new("same");
    let state_a = store
        .load_customer(&a, &customer)
        .await
        .unwrap()
        .unwrap()
        .value;
    let state_b = store
        .load_customer(&b, &customer)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(state_a.balance.unwrap().balance.amount_minor, -5000);
    assert_eq!(state_b.balance.unwrap().balance.amount_minor, -700);
    assert_eq!(store.customer_events(&a, &customer).await.unwrap().len(), 1);

    // Both are past due from the same instant; each tenant's query sees only its own.
    let all_time = [(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    )];
    for tenant in [&a, &b] {
        let found = store
            .clocks_started(
                tenant,
                ClockKind::PastDue(Continuity::NegativeBalance),
                &all_time,
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(&found[0].tenant_id, tenant);
    }
    let nobody = TenantId::new("tenant-c");
    assert!(
        store
            .clocks_started(
                &nobody,
                ClockKind::PastDue(Continuity::NegativeBalance),
                &all_time
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.clock_count(&a, PAST_DUE).await.unwrap(), 1);
    assert_eq!(store.clock_count(&nobody, PAST_DUE).await.unwrap(), 0);
}
