//! The executor (SPEC §4, issue on exactly-once under faults): claims, batches, recovery after
//! an executor stops between publishing and recording, and the customer-message re-check.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::block_on;
use serde_json::json;
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::{LEASE, execute_pending};
use shared::app::ingest::ingest_event;
use shared::domain::{
    Automation, AutomationId, CustomerId, CustomerState, Event, EventId, TenantId, TenantSettings,
};
use shared::ports::{
    AutomationAdmin, AutomationStore, CommitOutcome, CustomerStore, DecisionStore, Destination,
    FiringRecord, FiringStatus, RecordOutcome, StateCommit, StoreError, Versioned,
};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The in-memory store, except that, while `crash` is set, recording a firing's outcome
/// fails as if the executor's process had stopped right after publishing.
struct StopsAfterPublishing {
    inner: MemoryStore,
    crash: AtomicBool,
}

impl CustomerStore for StopsAfterPublishing {
    async fn load_customer(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        self.inner.load_customer(t, c).await
    }
    async fn find_event(&self, t: &TenantId, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.inner.find_event(t, id).await
    }
    async fn customer_events(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.customer_events(t, c).await
    }
    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        self.inner.commit(commit).await
    }
}

impl AutomationStore for StopsAfterPublishing {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.inner.tenants().await
    }
    async fn tenant_settings(&self, t: &TenantId) -> Result<TenantSettings, StoreError> {
        self.inner.tenant_settings(t).await
    }
    async fn tenant_automations(&self, t: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.inner.tenant_automations(t).await
    }
}

impl DecisionStore for StopsAfterPublishing {
    async fn settled(
        &self,
        t: &TenantId,
        a: &AutomationId,
        c: &CustomerId,
    ) -> Result<Vec<shared::domain::Settled>, StoreError> {
        self.inner.settled(t, a, c).await
    }
    async fn record(&self, r: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        self.inner.record(r).await
    }
    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.pending_firings(limit).await
    }
    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        if current.status == FiringStatus::Sending && self.crash.load(Ordering::SeqCst) {
            return Err(StoreError::Failed("the executor stopped".into()));
        }
        self.inner.replace_firing(current, next).await
    }
}

fn messages_to(publisher: &MemoryPublisher, destination: Destination, customer: &str) -> usize {
    publisher
        .published()
        .iter()
        .filter(|(_, m)| m.destination == destination && m.body["customer_id"] == customer)
        .count()
}

#[test]
fn when_an_executor_stops_after_publishing_100_times_should_lose_nothing_and_never_message_a_customer_twice()
 {
    let store = StopsAfterPublishing {
        inner: pending_firings(both_actions(), 100),
        crash: AtomicBool::new(false),
    };
    let publisher = MemoryPublisher::new();
    let mut now = at("2026-11-15T07:00:00Z");
    let mut stops = 0;
    block_on(async {
        // One firing per executor run; every run stops after publishing, and the next run,
        // after the lease, recovers what it left.
        for _ in 0..100 {
            store.crash.store(true, Ordering::SeqCst);
            let result = execute_pending(&store, &publisher, now, 1).await;
            assert!(result.is_err(), "the failpoint stops the executor");
            stops += 1;
            now += LEASE + Duration::seconds(1);
            store.crash.store(false, Ordering::SeqCst);
            let report = execute_pending(&store, &publisher, now, 1).await.unwrap();
            assert_eq!(report.recovered, 1);
        }
    });
    assert_eq!(stops, 100);
    let records = store.inner.firing_records();
    assert_eq!(records.len(), 100);
    for r in &records {
        let c = r.decision.customer_id.as_str();
        assert_eq!(
            r.status,
            FiringStatus::Sent,
            "{c} carried out: nothing lost"
        );
        let finance = messages_to(&publisher, Destination::Finance, c);
        assert!(
            (1..=2).contains(&finance),
            "{c}: {finance} finance messages"
        );
        assert_eq!(
            messages_to(&publisher, Destination::CustomerMessages, c),
            1,
            "{c}"
        );
        // The possible duplicate is visible in the record: the stopped attempt's actions are
        // unconfirmed; the finance notification was delivered again, the customer message not.
        assert_eq!(r.unconfirmed, vec![0, 1]);
        assert_eq!(r.deliveries.len(), 1);
        assert_eq!(r.deliveries[0].action, 0);
        assert_eq!(r.attempts, 2);
    }
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

#[test]
fn when_a_claim_has_not_expired_should_leave_it_to_its_executor() {
    let store = StopsAfterPublishing {
        inner: pending_firings(both_actions(), 1),
        crash: AtomicBool::new(true),
    };
    let publisher = MemoryPublisher::new();
    let now = at("2026-11-15T07:00:00Z");
    block_on(async {
        assert!(execute_pending(&store, &publisher, now, 1).await.is_err());
        store.crash.store(false, Ordering::SeqCst);
        let within_lease = execute_pending(&store, &publisher, now + Duration::minutes(1), 1)
            .await
            .unwrap();
        assert_eq!(within_lease.recovered + within_lease.sent, 0);
    });
    assert_eq!(
        publisher.published().len(),
        2,
        "nothing published twice within the lease"
    );
}
