//! The executor on the in-memory store: concurrent executors, full batches, and the
//! customer-message re-check. (Recovery after an executor stops between publishing and
//! recording is tested against the local AWS emulator, in tests/e2e.)

mod common;

use chrono::{DateTime, Utc};
use common::block_on;
use serde_json::json;
use shared::adapters::{MemoryDeadLetters, MemoryPublisher, MemoryStore};
use shared::app::execute::{ExecuteReport, MAX_ATTEMPTS, execute_pending};
use shared::app::ingest::ingest_event;
use shared::domain::automation::Action;
use shared::domain::{
    Automation, AutomationId, CustomerId, CustomerState, Event, EventId, Settled, TenantId,
    TenantSettings,
};
use shared::ports::{
    ActionPublisher, AutomationAdmin, AutomationStore, CommitOutcome, CustomerStore, DecisionStore,
    Destination, FailedFirings, FiringRecord, FiringStatus, OutgoingMessage, PublishError,
    RecordOutcome, StateCommit, StoreError, StoreOnly, Versioned,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use synthetic::PastDueTenant;

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

/// `customers` customers past due since 11-01 and an automation that carries out `actions`;
/// evaluated on 11-15, so each has one pending firing.
fn pending_firings(actions: serde_json::Value, customers: usize) -> MemoryStore {
    let store = MemoryStore::new();
    // A generous guardrail: these tests are about the executor.
    let tenant = PastDueTenant::new(customers, "2026-11-01T10:00:00Z")
        .settings(json!({"guardrail": {"min_count": 1_000_000}}))
        .actions(actions);
    block_on(tenant.seed_and_evaluate(&store, "2026-11-15"));
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

/// The store, except that every call first yields to the runtime: two executors joined on
/// one thread then take turns at every store call (the in-memory store never waits, so
/// without this one pass would run to its end before the other began). It counts the
/// replacements refused because the firing had changed: lost claims.
struct Yielding(MemoryStore, AtomicUsize);

impl CustomerStore for Yielding {
    async fn load_customer(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Option<Versioned<CustomerState>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.load_customer(t, c).await
    }
    async fn stored_events(&self, t: &TenantId, ids: &[EventId]) -> Result<Vec<Event>, StoreError> {
        tokio::task::yield_now().await;
        self.0.stored_events(t, ids).await
    }
    async fn customer_events(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<Event>, StoreError> {
        tokio::task::yield_now().await;
        self.0.customer_events(t, c).await
    }
    async fn commit(&self, commit: StateCommit<'_>) -> Result<CommitOutcome, StoreError> {
        tokio::task::yield_now().await;
        self.0.commit(commit).await
    }
}

impl AutomationStore for Yielding {
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.0.tenants().await
    }
    async fn tenant_settings(&self, t: &TenantId) -> Result<TenantSettings, StoreError> {
        tokio::task::yield_now().await;
        self.0.tenant_settings(t).await
    }
    async fn tenant_automations(&self, t: &TenantId) -> Result<Vec<Automation>, StoreError> {
        self.0.tenant_automations(t).await
    }
}

impl DecisionStore for Yielding {
    async fn settled(
        &self,
        t: &TenantId,
        a: &AutomationId,
        c: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        tokio::task::yield_now().await;
        self.0.settled(t, a, c).await
    }
    async fn customer_firings(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        tokio::task::yield_now().await;
        self.0.customer_firings(t, c).await
    }
    async fn record(&self, r: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        tokio::task::yield_now().await;
        self.0.record(r).await
    }
    async fn awaiting_approval(&self, t: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        tokio::task::yield_now().await;
        self.0.awaiting_approval(t).await
    }
    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        tokio::task::yield_now().await;
        self.0.pending_firings(limit).await
    }
    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        let replaced = self.0.replace_firing(current, next).await?;
        if !replaced {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
        Ok(replaced)
    }
}

#[test]
fn when_two_executors_run_at_once_should_carry_out_each_firing_once() {
    let store = Yielding(pending_firings(both_actions(), 30), AtomicUsize::new(0));
    let publisher = MemoryPublisher::new();
    let now = at("2026-11-15T07:00:00Z");
    let (a, b) = block_on(async {
        let (a, b) = tokio::join!(
            execute_pending(&store, &publisher, &StoreOnly, now, usize::MAX),
            execute_pending(&store, &publisher, &StoreOnly, now, usize::MAX)
        );
        (a.unwrap(), b.unwrap())
    });
    // Both read the same 30 pending firings and both tried to claim each, taking turns: the
    // claim's compare-and-set let one through and refused the other, every time.
    assert_eq!(store.1.load(Ordering::Relaxed), 30, "lost claims");
    assert_eq!(a.sent + b.sent, 30);
    assert_eq!(
        publisher.published().len(),
        60,
        "one finance and one customer message each"
    );
}

#[test]
fn when_the_automation_is_replaced_after_the_decision_should_carry_out_what_was_decided() {
    let store = pending_firings(json!([{"type": "notify", "channel": "finance"}]), 3);
    // Between the run and the executor, the automation now messages customers instead.
    let mut replaced = block_on(store.tenant_automations(&PastDueTenant::tenant()))
        .unwrap()
        .remove(0);
    for step in &mut replaced.steps {
        step.actions = vec![Action::Message {
            template_id: "reminder-1".to_owned(),
            variables: Default::default(),
        }];
    }
    block_on(store.put_automation(&replaced)).unwrap();
    let publisher = MemoryPublisher::new();
    let report = block_on(execute_pending(
        &store,
        &publisher,
        &StoreOnly,
        at("2026-11-15T07:00:00Z"),
        usize::MAX,
    ))
    .unwrap();
    assert_eq!(report.sent, 3);
    let destinations: Vec<Destination> = publisher
        .published()
        .iter()
        .map(|(_, m)| m.destination)
        .collect();
    assert_eq!(destinations, [Destination::Finance; 3], "what was decided");
}

#[test]
fn when_the_automation_is_archived_after_the_decision_should_still_carry_out_its_firings() {
    let store = pending_firings(json!([{"type": "notify", "channel": "finance"}]), 2);
    let tenant = PastDueTenant::tenant();
    block_on(common::archive(
        &store,
        &tenant,
        "a1",
        "2026-11-15T06:59:00Z",
    ));
    let publisher = MemoryPublisher::new();
    let report = block_on(execute_pending(
        &store,
        &publisher,
        &StoreOnly,
        at("2026-11-15T07:00:00Z"),
        usize::MAX,
    ))
    .unwrap();
    assert_eq!((report.sent, report.cancelled), (2, 0));
    assert_eq!(publisher.published().len(), 2);
}

#[test]
fn when_the_customer_pays_after_the_firing_was_queued_should_send_no_customer_message() {
    let store = pending_firings(json!([{"type": "message", "template_id": "reminder-1"}]), 2);
    let publisher = MemoryPublisher::new();
    block_on(async {
        ingest_event(&store, &balance("paid", "c000", "2026-11-15T08:00:00Z", 0))
            .await
            .unwrap();
        let report = execute_pending(
            &store,
            &publisher,
            &StoreOnly,
            at("2026-11-15T09:00:00Z"),
            usize::MAX,
        )
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
        &StoreOnly,
        at("2026-11-15T07:00:00Z"),
        usize::MAX,
    ))
    .unwrap();
    assert_eq!((report.messages, report.publish_calls), (20, 2));
}

/// A publisher whose topic rejects every message (a deleted topic, a revoked key policy).
#[derive(Default)]
struct RejectingPublisher {
    calls: AtomicUsize,
}

impl ActionPublisher for RejectingPublisher {
    async fn publish_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<Result<String, String>>, PublishError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(batch
            .iter()
            .map(|_| Err("AuthorizationError".to_owned()))
            .collect())
    }
}

/// Runs the executor at each instant (minutes after 07:00 on 11-15) and returns the reports.
fn execute_at<F: FailedFirings>(
    store: &MemoryStore,
    publisher: &impl ActionPublisher,
    failed: &F,
    minutes: &[i64],
) -> Vec<ExecuteReport> {
    let start = at("2026-11-15T07:00:00Z");
    block_on(async {
        let mut reports = Vec::new();
        for m in minutes {
            let now = start + chrono::Duration::minutes(*m);
            reports.push(
                execute_pending(store, publisher, failed, now, usize::MAX)
                    .await
                    .unwrap(),
            );
        }
        reports
    })
}

#[test]
fn when_publishing_keeps_failing_should_back_off_then_send_the_firing_to_the_failed_queue() {
    let store = pending_firings(json!([{"type": "notify", "channel": "finance"}]), 1);
    let publisher = RejectingPublisher::default();
    let dead_letters = MemoryDeadLetters::new();
    // Attempts at 0, 1, 3, 7 and 15 minutes (backoff 1, 2, 4, 8); the runs in between find
    // the firing not yet due and leave it alone.
    let reports = execute_at(
        &store,
        &publisher,
        &dead_letters,
        &[0, 0, 1, 2, 3, 6, 7, 14, 15, 60],
    );
    let attempted: Vec<bool> = reports.iter().map(|r| r.publish_calls == 1).collect();
    assert_eq!(
        attempted,
        [
            true, false, true, false, true, false, true, false, true, false
        ]
    );
    assert_eq!(
        publisher.calls.load(Ordering::Relaxed),
        MAX_ATTEMPTS as usize
    );
    assert_eq!(reports[1].waiting, 1);
    assert_eq!(
        reports.iter().map(|r| r.failed).collect::<Vec<_>>(),
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    );

    let letters = dead_letters.failed_firings();
    assert_eq!(letters.len(), 1, "one dead letter for the firing");
    let (record, error) = &letters[0];
    assert_eq!(record.decision.customer_id.as_str(), "c000");
    assert_eq!(
        (record.status, record.attempts),
        (FiringStatus::Failed, MAX_ATTEMPTS)
    );
    assert_eq!(error, "AuthorizationError");
    let stored = store.firing_records();
    assert_eq!(stored[0].status, FiringStatus::Failed);
    assert_eq!(record.to_json()["status"], "failed");
}

/// A failed-firings queue that is down for the first `outage` sends.
struct FlakyQueue {
    outage: usize,
    sends: AtomicUsize,
    received: MemoryDeadLetters,
}

impl FailedFirings for FlakyQueue {
    async fn send(&self, record: &FiringRecord, last_error: &str) -> Result<(), StoreError> {
        if self.sends.fetch_add(1, Ordering::Relaxed) < self.outage {
            return Err(StoreError::Failed("queue down".to_owned()));
        }
        self.received.send(record, last_error).await
    }
}

#[test]
fn when_the_failed_queue_is_down_should_keep_the_firing_pending_until_its_letter_is_out() {
    let store = pending_firings(json!([{"type": "notify", "channel": "finance"}]), 1);
    let queue = FlakyQueue {
        outage: 1,
        sends: AtomicUsize::new(0),
        received: MemoryDeadLetters::new(),
    };
    let reports = execute_at(
        &store,
        &RejectingPublisher::default(),
        &queue,
        &[0, 1, 3, 7, 15, 31],
    );
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.retrying, r.failed))
            .collect::<Vec<_>>(),
        [(1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (0, 1)],
        "the fifth attempt could not reach the queue, so a sixth ends it"
    );
    assert_eq!(queue.received.failed_firings().len(), 1);
    assert_eq!(store.firing_records()[0].status, FiringStatus::Failed);
}
