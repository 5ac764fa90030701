//! Commands to the billing system (SPEC §8.5) against DynamoDB and SNS on the local emulator,
//! read back from an SQS queue subscribed to the commands topic: one `retry_payment` per
//! carried-out firing, none for an invoice paid meanwhile, none after a hard decline or one
//! the customer must act on, and none twice, even when the executor stops mid-way.

use e2e::Env;
use serde_json::{Value, json};
use shared::adapters::DynamoStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::app::simulate::store_config;
use shared::domain::{AutomationsFile, Event, TenantId};
use shared::ports::{DecisionStore, FiringStatus, StoreOnly};
use std::collections::BTreeMap;

fn event(v: Value) -> Event {
    Event::from_json(&v).unwrap()
}

fn failed(id: &str, customer: &str, invoice: &str, at: &str, code: &str) -> Event {
    event(
        json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
        "type": "payment.failed", "occurred_at": at,
        "payment": {"invoice_id": invoice, "amount_minor": 4900, "currency": "USD",
                    "failure_code": code}}),
    )
}

/// Tenant t1 (UTC, 06:00) with a dunning automation that retries each failed invoice on day
/// 1 and notifies finance.
async fn dunning(store: &DynamoStore) {
    let config = AutomationsFile::from_json(&json!({
        "tenants": [{"tenant_id": "t1", "guardrail": {"min_count": 1000}}],
        "automations": [{"id": "dun", "tenant_id": "t1", "name": "Retry",
            "trigger": {"type": "payment_failed", "catch_up_days": 0},
            "steps": [{"name": "retry-1", "day": 1,
                       "actions": [{"type": "retry_payment"},
                                   {"type": "notify", "channel": "finance"}]}]}]}))
    .unwrap();
    store_config(store, &config, "2026-11-01".parse().unwrap())
        .await
        .unwrap();
}

fn commands_by_invoice(messages: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        assert_eq!(m["command"], "retry_payment", "{m}");
        *counts
            .entry(m["invoice_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_retries_are_carried_out_should_send_one_command_each_and_none_when_it_no_longer_applies()
 {
    let env = Env::new("commands").await;
    let queue = env.subscribed_queue("commands", &env.topics.commands).await;
    let store = env.store();
    dunning(&store).await;
    for e in [
        failed(
            "f1",
            "c1",
            "in_1",
            "2026-11-01T10:00:00Z",
            "insufficient_funds",
        ),
        failed("f2", "c2", "in_2", "2026-11-01T10:00:00Z", "stolen_card"),
        failed(
            "f3",
            "c3",
            "in_3",
            "2026-11-01T10:00:00Z",
            "insufficient_funds",
        ),
        failed(
            "f4",
            "c4",
            "in_4",
            "2026-11-01T10:00:00Z",
            "insufficient_funds",
        ),
    ] {
        ingest_event(&store, &e).await.unwrap();
    }
    let t1 = TenantId::new("t1");
    let day = evaluate_tenant_day(&store, &t1, "2026-11-02".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(day.decisions.len(), 4, "every clock fires on day 1");

    // Before the executor runs: c3 pays, and c4's card fails again, now expired.
    let paid = event(
        json!({"event_id": "p3", "tenant_id": "t1", "customer_id": "c3",
        "type": "payment.succeeded", "occurred_at": "2026-11-02T06:30:00Z",
        "payment": {"invoice_id": "in_3", "amount_minor": 4900, "currency": "USD"}}),
    );
    ingest_event(&store, &paid).await.unwrap();
    let expired = failed("f4b", "c4", "in_4", "2026-11-02T06:40:00Z", "expired_card");
    ingest_event(&store, &expired).await.unwrap();

    let now = chrono::Utc::now();
    execute_pending(&store, &env.publisher(), &StoreOnly, now, 100)
        .await
        .unwrap();
    // A second pass finds nothing more to send.
    execute_pending(&store, &env.publisher(), &StoreOnly, now, 100)
        .await
        .unwrap();

    let envelopes: Vec<Value> = env
        .receive_all(&queue)
        .await
        .iter()
        .map(|(body, _)| serde_json::from_str(body).unwrap())
        .collect();
    let bodies: Vec<Value> = envelopes
        .iter()
        .map(|e| serde_json::from_str(e["Message"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        commands_by_invoice(&bodies),
        BTreeMap::from([("in_1".to_owned(), 1)]),
        "one command, for the invoice still failing softly"
    );
    let command = &bodies[0];
    let firings = store.customer_firings(&t1, &"c1".into()).await.unwrap();
    assert_eq!(
        command["firing_id"],
        firings[0].decision.key().firing_id(),
        "the consumer de-duplicates on the firing's stable id"
    );
    assert_eq!(command["customer_id"], "c1");
    let attributes = envelopes[0]["MessageAttributes"].as_object().unwrap();
    assert_eq!(attributes["action"]["Value"], "retry_payment");
    assert_eq!(attributes["tenant_id"]["Value"], "t1");
    assert!(
        attributes
            .values()
            .all(|v| v["Value"] != "c1" && v["Value"] != "in_1"),
        "no customer data in attributes: {attributes:?}"
    );

    for (customer, reason) in [
        ("c2", "hard_decline"),
        ("c3", "clock_stopped"),
        ("c4", "action_required"),
    ] {
        let record = &store.customer_firings(&t1, &customer.into()).await.unwrap()[0];
        assert_eq!(
            record
                .cancelled
                .iter()
                .map(|c| c.reason.as_str())
                .collect::<Vec<_>>(),
            [reason],
            "{customer}"
        );
        // Finance still hears of it: only the command no longer applies.
        assert_eq!(record.status, FiringStatus::Sent, "{customer}");
        assert_eq!(record.deliveries.len(), 1, "{customer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_executor_stops_after_publishing_commands_should_never_send_one_twice() {
    let env = Env::new("commands-stops").await;
    let queue = env.subscribed_queue("commands", &env.topics.commands).await;
    let store = env.store();
    dunning(&store).await;
    for n in 0..20 {
        let c = format!("c{n:02}");
        let e = failed(
            &format!("f{n}"),
            &c,
            &format!("in_{n:02}"),
            "2026-11-01T10:00:00Z",
            "insufficient_funds",
        );
        ingest_event(&store, &e).await.unwrap();
    }
    evaluate_tenant_day(
        &store,
        &TenantId::new("t1"),
        "2026-11-02".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let store = e2e::failpoint::StopsAfterPublishing::new(store);
    let publisher = env.publisher();
    e2e::failpoint::stop_and_recover(&store, &publisher, 20).await;
    let commands = commands_by_invoice(&env.drain(&queue).await);
    assert_eq!(commands.len(), 20, "every command went out: none lost");
    assert!(
        commands.values().all(|n| *n == 1),
        "no command sent twice: {commands:?}"
    );
    assert!(store.inner.pending_firings(100).await.unwrap().is_empty());
}
