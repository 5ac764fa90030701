//! The executor on the in-memory store: concurrent executors, full batches, and the
//! customer-message re-check. (Recovery after an executor stops between publishing and
//! recording is tested against the local AWS emulator, in tests/e2e.)

mod common;

use chrono::{DateTime, Utc};
use common::block_on;
use serde_json::json;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::domain::{Automation, Event, TenantId, TenantSettings};
use shared::ports::{AutomationAdmin, Destination, FiringStatus};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn balance(id: &str, customer: &str, occurred_at: &str, amount: i64) -> Event {
    Event::from_json(
        &json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
        "type": "balance.changed", "occurred_at": occurred_at,
        "balance": {"amount_minor": amount, "currency": "USD"}}),
    )
    .unwrap()
}

/// `customers` customers past due since 11-01 and an automation that notifies finance and
/// messages the customer; evaluated on 11-15, so each has one pending firing.
fn pending_firings(actions: serde_json::Value, customers: usize) -> MemoryStore {
    let store = MemoryStore::new();
    block_on(async {
        store
            .put_settings(&TenantSettings::defaults(TenantId::new("t1")))
            .await
            .unwrap();
        let automation = Automation::from_json(&json!({"id": "a1", "tenant_id": "t1",
            "name": "Past due", "active_from": "2026-10-01",
            "trigger": {"type": "past_due", "require_active_subscription": false},
            "actions": actions}))
        .unwrap();
        store.put_automation(&automation).await.unwrap();
        for n in 0..customers {
            let c = format!("c{n:03}");
            ingest_event(
                &store,
                &balance(&format!("e{n}"), &c, "2026-11-01T10:00:00Z", -5000),
            )
            .await
            .unwrap();
        }
        // A generous guardrail: this test is about the executor.
        let mut settings = TenantSettings::defaults(TenantId::new("t1"));
        settings.guardrail.min_count = 1_000_000;
        store.put_settings(&settings).await.unwrap();
        evaluate_tenant_day(
            &store,
            &TenantId::new("t1"),
            "2026-11-15".parse().unwrap(),
            false,
        )
        .await
        .unwrap();
    });
    store
}

fn both_actions() -> serde_json::Value {
    json!([{"type": "notify", "channel": "finance"},
           {"type": "message", "template_id": "reminder-1"}])
}

fn messages_to(publisher: &MemoryPublisher, destination: Destination, customer: &str) -> usize {
    publisher
        .published()
        .iter()
        .filter(|(_, m)| m.destination == destination && m.body["customer_id"] == customer)
        .count()
}

#[test]
fn when_two_executors_run_at_once_should_carry_out_each_firing_once() {
    let store = pending_firings(both_actions(), 30);
    let publisher = MemoryPublisher::new();
    let now = at("2026-11-15T07:00:00Z");
    block_on(async {
        let (a, b) = tokio::join!(
            execute_pending(&store, &publisher, now, usize::MAX),
            execute_pending(&store, &publisher, now, usize::MAX)
        );
        assert_eq!(a.unwrap().sent + b.unwrap().sent, 30);
    });
    assert_eq!(
        publisher.published().len(),
        60,
        "one finance and one customer message each"
    );
}

#[test]
fn when_the_customer_pays_after_the_firing_was_queued_should_send_no_customer_message() {
    let store = pending_firings(json!([{"type": "message", "template_id": "reminder-1"}]), 2);
    let publisher = MemoryPublisher::new();
    block_on(async {
        ingest_event(&store, &balance("paid", "c000", "2026-11-15T08:00:00Z", 0))
            .await
            .unwrap();
        let report = execute_pending(&store, &publisher, at("2026-11-15T09:00:00Z"), usize::MAX)
            .await
            .unwrap();
        assert_eq!((report.sent, report.cancelled), (1, 1));
    });
    assert_eq!(
        messages_to(&publisher, Destination::CustomerMessages, "c000"),
        0
    );
    assert_eq!(
        messages_to(&publisher, Destination::CustomerMessages, "c001"),
        1
    );
    let cancelled: Vec<_> = store
        .firing_records()
        .into_iter()
        .filter(|r| r.status == FiringStatus::Cancelled)
        .map(|r| r.decision.customer_id.to_string())
        .collect();
    assert_eq!(cancelled, vec!["c000"]);
}

#[test]
fn when_twenty_finance_notifications_are_pending_should_publish_them_in_two_full_batches() {
    let store = pending_firings(json!([{"type": "notify", "channel": "finance"}]), 20);
    let publisher = MemoryPublisher::new();
    let report = block_on(execute_pending(
        &store,
        &publisher,
        at("2026-11-15T07:00:00Z"),
        usize::MAX,
    ))
    .unwrap();
    assert_eq!((report.messages, report.publish_calls), (20, 2));
}
