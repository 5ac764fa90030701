//! The store contract: what every adapter of the ports must do, written once as cases generic
//! over the store and run against each adapter (`tests/store_contract.rs`: the in-memory
//! store, the file store, whose file is then opened again and must give back the same store,
//! and DynamoDB on the emulator; a new adapter joins that list). Each case starts from
//! an empty store and says, in its assertions, what the ports' documentation promises.

use crate::call_api;
use serde_json::{Value, json};
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::domain::aging::AgingTable;
use shared::domain::clock::ClockKind;
use shared::ports::SkipCount;

const PAST_DUE: ClockKind = ClockKind::PastDue(shared::domain::Continuity::NegativeBalance);
use shared::domain::decision::Settled;
use shared::domain::normalize::{Cause, ChangeRecord};
use shared::domain::outcome::{ClockStop, How, StopKind};
use shared::domain::{
    Automation, AutomationId, Continuity, CustomerId, Event, EventId, TenantId, TenantSettings,
};
use shared::ports::{
    AdminStore, AuditEntry, AutomationAdmin, AutomationStore, CandidateSource, CommitOutcome,
    CustomerStore, DecisionStore, FiringRecord, FiringStatus, NormalizationStore, OutcomeStore,
    RESOLVE_CHUNK, RecordOutcome, ReportRecords, RunCheckpoints, ScanPage, Segment,
    SegmentProgress, StateCommit, StoreError, StoreOnly, StoredAutomation, Versioned, WriteOutcome,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// Every port, as the contract exercises them.
pub trait Store:
    CustomerStore
    + CandidateSource
    + AutomationStore
    + AutomationAdmin
    + AdminStore
    + DecisionStore
    + RunCheckpoints
    + NormalizationStore
    + OutcomeStore
    + ReportRecords
    + Clone
    + 'static
{
}

impl<T> Store for T where
    T: CustomerStore
        + CandidateSource
        + AutomationStore
        + AutomationAdmin
        + AdminStore
        + DecisionStore
        + RunCheckpoints
        + NormalizationStore
        + OutcomeStore
        + ReportRecords
        + Clone
        + 'static
{
}

fn t(id: &str) -> TenantId {
    TenantId::new(id)
}

fn c(id: &str) -> CustomerId {
    CustomerId::new(id)
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 instant")
        .with_timezone(&chrono::Utc)
}

/// A balance event of tenant `tenant`.
pub fn balance(tenant: &str, id: &str, customer: &str, occurred_at: &str, amount: i64) -> Event {
    Event::from_json(
        &json!({"event_id": id, "tenant_id": tenant, "customer_id": customer,
        "type": "balance.changed", "occurred_at": occurred_at,
        "balance": {"amount_minor": amount, "currency": "USD"}}),
    )
    .expect("a valid balance event")
}

fn automation(tenant: &str, id: &str, continuity: &str) -> Automation {
    Automation::from_json(
        &json!({"id": id, "tenant_id": tenant, "name": format!("Automation {id}"),
        "active_from": "2026-10-01",
        "trigger": {"type": "past_due", "require_active_subscription": false,
                    "continuity": continuity},
        "actions": [{"type": "notify", "channel": "finance"}]}),
    )
    .expect("a valid automation")
}

fn audit(tenant: &str, id: &str, action: &str) -> AuditEntry {
    AuditEntry {
        tenant_id: t(tenant),
        id: id.to_owned(),
        at: at("2026-11-15T07:00:00Z"),
        actor: "contract".to_owned(),
        action: action.to_owned(),
        resource: "automations/a1".to_owned(),
        before: None,
        after: Some(json!({"n": 1})),
    }
}

async fn ingest_all<S: Store>(store: &S, events: &[Event]) {
    for e in events {
        ingest_event(store, e).await.expect("the event is ingested");
    }
}

/// A first commit needs no state; a commit at a stale version is a conflict, and one of an
/// event id already stored (any customer of the tenant) returns the stored event.
pub async fn when_events_are_committed_should_apply_each_once_at_the_version_read<S: Store>(
    store: S,
) {
    let e1 = balance("t1", "e1", "c1", "2026-11-01T10:00:00Z", -5000);
    assert_eq!(store.load_customer(&t("t1"), &c("c1")).await.unwrap(), None);
    ingest_event(&store, &e1).await.unwrap();
    let loaded = store
        .load_customer(&t("t1"), &c("c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, 1);
    let stale = StateCommit {
        event: &balance("t1", "e2", "c1", "2026-11-02T10:00:00Z", -6000),
        state: loaded.value.clone(),
        was_past_due: true,
        started_before: Default::default(),
        expected_version: None,
        normalization: None,
        stops: Vec::new(),
    };
    assert_eq!(
        store.commit(stale).await.unwrap(),
        CommitOutcome::VersionConflict
    );
    let again = StateCommit {
        event: &balance("t1", "e1", "c2", "2026-11-01T10:00:00Z", -1),
        state: shared::domain::CustomerState::new(t("t1"), c("c2")),
        was_past_due: false,
        started_before: Default::default(),
        expected_version: None,
        normalization: None,
        stops: Vec::new(),
    };
    match store.commit(again).await.unwrap() {
        CommitOutcome::EventExists(existing) => assert_eq!(*existing, e1),
        other => panic!("a reused id must find the stored event, got {other:?}"),
    }
    // Another tenant's id space is its own.
    ingest_event(
        &store,
        &balance("t2", "e1", "c1", "2026-11-01T10:00:00Z", -1),
    )
    .await
    .unwrap();
    let mut stored = store
        .stored_events(&t("t1"), &[EventId::new("e1"), EventId::new("nope")])
        .await
        .unwrap();
    assert_eq!(stored.pop(), Some(e1.clone()));
    assert!(stored.is_empty());
    assert_eq!(
        store.customer_events(&t("t1"), &c("c1")).await.unwrap(),
        vec![e1]
    );
}

/// Episodes are found by the instant they started, in `[from, to)` windows, under each
/// continuity policy, sorted by customer; the past-due count follows the transitions.
pub async fn when_episodes_start_should_be_found_by_window_and_counted<S: Store>(store: S) {
    ingest_all(
        &store,
        &[
            balance("t1", "a", "c3", "2026-11-01T10:00:00Z", -100),
            balance("t1", "b", "c1", "2026-11-02T10:00:00Z", -100),
            balance("t1", "c", "c2", "2026-11-03T10:00:00Z", -100),
            // c2 pays half: the strict clock restarts, the episode does not.
            balance("t1", "d", "c2", "2026-11-04T10:00:00Z", -50),
            // c4 was past due and paid.
            balance("t1", "e", "c4", "2026-11-01T09:00:00Z", -100),
            balance("t1", "f", "c4", "2026-11-05T09:00:00Z", 0),
            balance("t2", "g", "c9", "2026-11-02T10:00:00Z", -100),
        ],
    )
    .await;
    let ids = |states: Vec<shared::domain::CustomerState>| -> Vec<String> {
        states.iter().map(|s| s.customer_id.to_string()).collect()
    };
    let windows = [(at("2026-11-01T00:00:00Z"), at("2026-11-03T10:00:00Z"))];
    assert_eq!(
        ids(store
            .clocks_started(
                &t("t1"),
                ClockKind::PastDue(Continuity::NegativeBalance),
                &windows
            )
            .await
            .unwrap()),
        ["c1", "c3"],
        "c2 started at the window's exclusive end; c4 is no longer past due"
    );
    let later = [(at("2026-11-03T00:00:00Z"), at("2026-11-05T00:00:00Z"))];
    assert_eq!(
        ids(store
            .clocks_started(
                &t("t1"),
                ClockKind::PastDue(Continuity::NoImprovement),
                &later
            )
            .await
            .unwrap()),
        ["c2"],
        "restarted on 11-04"
    );
    assert_eq!(store.clock_count(&t("t1"), PAST_DUE).await.unwrap(), 3);
    assert_eq!(store.clock_count(&t("t2"), PAST_DUE).await.unwrap(), 1);
}

/// A window of years (the aging table's read) finds every episode started in it, however
/// far apart the months and whatever lies outside it: a store that reads such a window in
/// rounds from its newest month must read on while customers remain unfound.
pub async fn when_a_window_spans_years_should_find_every_episode_started_in_it<S: Store>(store: S) {
    ingest_all(
        &store,
        &[
            balance("t1", "a", "c1", "2021-12-15T10:00:00Z", -100),
            balance("t1", "b", "c2", "2024-06-01T10:00:00Z", -100),
            balance("t1", "c", "c3", "2026-11-20T10:00:00Z", -100),
            balance("t1", "d", "c4", "2026-11-21T10:00:00Z", -100),
            // Past due once, paid since: no longer in any window.
            balance("t1", "e", "c5", "2023-03-01T10:00:00Z", -100),
            balance("t1", "f", "c5", "2023-04-01T10:00:00Z", 0),
            // Before the windows below begin.
            balance("t1", "g", "c6", "2021-10-01T10:00:00Z", -100),
            balance("t2", "h", "c9", "2025-01-01T10:00:00Z", -100),
        ],
    )
    .await;
    let found = |from: &str, to: &str| {
        let store = &store;
        let windows = [(at(from), at(to))];
        async move {
            store
                .clocks_started(&t("t1"), PAST_DUE, &windows)
                .await
                .unwrap()
                .iter()
                .map(|s| s.customer_id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found("2021-11-01T00:00:00Z", "2026-12-01T00:00:00Z").await,
        ["c1", "c2", "c3", "c4"],
        "sixty months, episodes years apart"
    );
    assert_eq!(
        found("2024-01-01T00:00:00Z", "2026-12-01T00:00:00Z").await,
        ["c2", "c3", "c4"],
        "two of the tenant's five past-due customers started before this window"
    );
    assert_eq!(
        found("2021-01-01T00:00:00Z", "2026-11-01T00:00:00Z").await,
        ["c1", "c2", "c6"],
        "the newest episodes are after this window"
    );
    assert_eq!(store.clock_count(&t("t1"), PAST_DUE).await.unwrap(), 5);
}

fn payment(id: &str, customer: &str, kind: &str, invoice: &str, occurred_at: &str) -> Event {
    let payload = match kind {
        "invoice.voided" => json!({"invoice": {"id": invoice}}),
        _ => json!({"payment": {"invoice_id": invoice, "amount_minor": 4900, "currency": "USD"}}),
    };
    let mut v = json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
        "type": kind, "occurred_at": occurred_at});
    for (k, x) in payload.as_object().unwrap() {
        v[k] = x.clone();
    }
    Event::from_json(&v).expect("a valid payment event")
}

/// Payment clocks (SPEC §8.1) are found by the instant they started, one entry per customer
/// however many of its invoices started in the window; a clock stopped by a payment or a void
/// is no longer found, and a late failure that moves a clock's start earlier moves its entry.
pub async fn when_payment_clocks_start_and_stop_should_be_found_by_window<S: Store>(store: S) {
    ingest_all(
        &store,
        &[
            payment("p1", "c1", "payment.failed", "in_1", "2026-11-02T10:00:00Z"),
            payment("p2", "c1", "payment.failed", "in_2", "2026-11-02T11:00:00Z"),
            payment("p3", "c2", "payment.failed", "in_3", "2026-11-02T12:00:00Z"),
            payment(
                "p4",
                "c2",
                "payment.succeeded",
                "in_3",
                "2026-11-03T12:00:00Z",
            ),
            payment("p5", "c3", "payment.failed", "in_4", "2026-11-02T13:00:00Z"),
            payment("p6", "c3", "invoice.voided", "in_4", "2026-11-03T13:00:00Z"),
            payment("p7", "c4", "payment.failed", "in_5", "2026-11-04T10:00:00Z"),
            // Reported late: c4's invoice had already failed on 11-02.
            payment("p8", "c4", "payment.failed", "in_5", "2026-11-02T09:00:00Z"),
        ],
    )
    .await;
    let found = |windows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>| {
        started(&store, ClockKind::PaymentFailed, windows)
    };
    assert_eq!(
        found(vec![(
            at("2026-11-02T00:00:00Z"),
            at("2026-11-03T00:00:00Z")
        )])
        .await,
        ["c1", "c4"],
        "c1 once for its two invoices; c2 paid and c3 voided; c4's start moved to 11-02"
    );
    assert!(
        found(vec![(
            at("2026-11-04T00:00:00Z"),
            at("2026-11-05T00:00:00Z")
        )])
        .await
        .is_empty(),
        "c4's clock no longer starts on 11-04"
    );
    // Paying one of c1's two invoices leaves the other's clock found.
    ingest_all(
        &store,
        &[payment(
            "p9",
            "c1",
            "payment.succeeded",
            "in_1",
            "2026-11-05T10:00:00Z",
        )],
    )
    .await;
    assert_eq!(
        found(vec![(
            at("2026-11-02T10:30:00Z"),
            at("2026-11-03T00:00:00Z")
        )])
        .await,
        ["c1"],
        "in_2 still fails"
    );
    assert_eq!(
        found(vec![(
            at("2026-11-02T09:30:00Z"),
            at("2026-11-02T10:30:00Z")
        )])
        .await,
        Vec::<String>::new(),
        "in_1's entry went with its clock"
    );
    assert_eq!(
        store.clock_count(&t("t1"), PAST_DUE).await.unwrap(),
        0,
        "no balance moved"
    );
    assert_eq!(
        store
            .clock_count(&t("t1"), ClockKind::PaymentFailed)
            .await
            .unwrap(),
        2,
        "c1 (in_2) and c4 have a failed payment outstanding; c2 and c3 no longer"
    );
}

/// The customers of t1 with a clock of `kind` started in `windows`, as the daily run reads them.
async fn started<S: Store>(
    store: &S,
    kind: ClockKind,
    windows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
) -> Vec<String> {
    store
        .clocks_started(&t("t1"), kind, &windows)
        .await
        .unwrap()
        .iter()
        .map(|s| s.customer_id.to_string())
        .collect()
}

fn cancellation(id: &str, customer: &str, kind: &str, occurred_at: &str, extra: Value) -> Event {
    let mut c = json!({"subscription_id": format!("s-{customer}")});
    for (k, x) in extra.as_object().cloned().unwrap_or_default() {
        c[k] = x;
    }
    Event::from_json(
        &json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
        "type": kind, "occurred_at": occurred_at, "cancellation": c}),
    )
    .expect("a valid cancellation event")
}

/// Each clock that stops is kept under its customer with how and when (SPEC §8.9), for every
/// clock kind and in any arrival order: a request learned of after its answer stops as it
/// would have, a duplicate adds nothing, and a late balance that moves an episode's start
/// earlier keeps a stop for the new start.
/// What reports read back (SPEC §8.9): charges are paid oldest first, a late balance
/// reorders them, the state keeps them across a read, and a table or a run's skip counts
/// recorded for a date are read back as they were.
pub async fn when_charges_age_should_pay_the_oldest_first_and_keep_each_dated_table<S: Store>(
    store: S,
) {
    let eur = |id: &str, customer: &str, occurred_at: &str, amount: i64| {
        Event::from_json(
            &json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
            "type": "balance.changed", "occurred_at": occurred_at,
            "balance": {"amount_minor": amount, "currency": "EUR"}}),
        )
        .expect("a valid balance event")
    };
    ingest_all(
        &store,
        &[
            balance("t1", "a1", "c1", "2026-09-01T10:00:00Z", -5000),
            balance("t1", "a2", "c1", "2026-10-15T10:00:00Z", -8000),
            balance("t1", "a3", "c1", "2026-11-20T10:00:00Z", -6000),
            // Late: owed since August, so the payment of November 20 settles it first.
            balance("t1", "a0", "c1", "2026-08-01T10:00:00Z", -1000),
            eur("b1", "c2", "2026-11-25T10:00:00Z", -2500),
            balance("t1", "d1", "c3", "2026-11-02T10:00:00Z", -100),
            balance("t1", "d2", "c3", "2026-11-03T10:00:00Z", 0),
            balance("t2", "x1", "c1", "2026-11-03T10:00:00Z", -700),
        ],
    )
    .await;
    let state = store
        .load_customer(&t("t1"), &c("c1"))
        .await
        .unwrap()
        .expect("stored")
        .value;
    let unpaid: Vec<_> = state
        .unpaid_charges()
        .iter()
        .map(|ch| (ch.at, ch.unpaid_minor))
        .collect();
    assert_eq!(
        unpaid,
        [
            (at("2026-09-01T10:00:00Z"), 3000),
            (at("2026-10-15T10:00:00Z"), 3000)
        ]
    );

    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let table = shared::app::report::aging::record_aging(&store, &t("t1"), date)
        .await
        .unwrap();
    let rows: Vec<_> = table
        .currencies
        .iter()
        .map(|c| {
            let b = c.buckets.map(|b| (b.amount_minor, b.customers));
            (c.currency.code(), b)
        })
        .collect();
    // September 1 is 91 days before December 1; October 15, 47.
    assert_eq!(
        rows,
        [
            ("EUR", [(2500, 1), (0, 0), (0, 0), (0, 0)]),
            ("USD", [(0, 0), (3000, 0), (0, 0), (3000, 1)]),
        ]
    );
    assert_eq!(
        store.aging_on(&t("t1"), date).await.unwrap().as_ref(),
        Some(&table)
    );
    assert_eq!(
        store
            .aging_on(&t("t1"), date.pred_opt().unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.aging_on(&t("t2"), date).await.unwrap(),
        None,
        "per tenant"
    );
    // Recording a date again replaces its table.
    ingest_all(
        &store,
        &[balance("t1", "a4", "c1", "2026-11-30T10:00:00Z", 0)],
    )
    .await;
    shared::app::report::aging::record_aging(&store, &t("t1"), date)
        .await
        .unwrap();
    let again = store.aging_on(&t("t1"), date).await.unwrap().unwrap();
    assert_eq!(again.currencies.len(), 1);
    assert_eq!(again.currencies[0].currency.code(), "EUR");

    // A run's skip counts: kept per date and tenant, replaced when the run is recorded again.
    let skip = |condition: &str, customers| SkipCount {
        automation_id: "a1".to_owned(),
        step: "day 14".to_owned(),
        condition: condition.to_owned(),
        customers,
    };
    let counts = [
        skip("conditions[0] (x) is false", 3),
        skip("conditions[1] (y) is false", 1),
    ];
    store.record_skips(&t("t1"), date, &counts).await.unwrap();
    assert_eq!(store.skips_on(&t("t1"), date).await.unwrap(), counts);
    assert_eq!(store.skips_on(&t("t2"), date).await.unwrap(), []);
    store
        .record_skips(&t("t1"), date, &counts[1..])
        .await
        .unwrap();
    assert_eq!(store.skips_on(&t("t1"), date).await.unwrap(), counts[1..]);
}

pub async fn when_clocks_stop_should_keep_each_stop_under_its_clock<S: Store>(store: S) {
    let period_end = json!({"effective": "period_end"});
    let events = [
        balance("t1", "e1", "c1", "2026-11-01T10:00:00Z", -5000),
        balance("t1", "e2", "c1", "2026-11-10T10:00:00Z", 0),
        payment("p1", "c1", "payment.failed", "in_1", "2026-11-02T10:00:00Z"),
        payment(
            "p2",
            "c1",
            "payment.succeeded",
            "in_1",
            "2026-11-05T10:00:00Z",
        ),
        cancellation(
            "w1",
            "c1",
            "cancellation.withdrawn",
            "2026-11-06T10:00:00Z",
            json!({"offer_id": "half-price"}),
        ),
        // Learned of after its answer.
        cancellation(
            "r1",
            "c1",
            "cancellation.requested",
            "2026-11-03T10:00:00Z",
            period_end.clone(),
        ),
        payment("p3", "c2", "payment.failed", "in_2", "2026-11-04T10:00:00Z"),
        payment("p4", "c2", "invoice.voided", "in_2", "2026-11-07T10:00:00Z"),
        cancellation(
            "r2",
            "c2",
            "cancellation.requested",
            "2026-11-03T10:00:00Z",
            period_end,
        ),
        // A duplicate, then a late balance that starts c1's episode earlier.
        balance("t1", "e2", "c1", "2026-11-10T10:00:00Z", 0),
        balance("t1", "e0", "c1", "2026-10-30T10:00:00Z", -3000),
    ];
    for e in &events {
        ingest_event(&store, e).await.expect("ingested");
    }
    let key = |id: &str, at_: &str| shared::domain::EventKey {
        occurred_at: at(at_),
        event_id: EventId::new(id),
    };
    let stop = |kind, id: Option<&str>, start, end, how, offer: Option<&str>| ClockStop {
        kind,
        clock_id: id.map(str::to_owned),
        start,
        end,
        how,
        offer_id: offer.map(str::to_owned),
    };
    let sorted = |mut v: Vec<ClockStop>| {
        v.sort_by(|a, b| (a.kind, &a.clock_id, &a.start).cmp(&(b.kind, &b.clock_id, &b.start)));
        v
    };
    let ended = key("e2", "2026-11-10T10:00:00Z");
    assert_eq!(
        sorted(store.customer_stops(&t("t1"), &c("c1")).await.unwrap()),
        [
            // The stop first written for e1 stays; the late e0 adds the stop for the start
            // it moved the episode to, with the same end: a decision on either finds one.
            stop(
                StopKind::PastDue,
                None,
                key("e0", "2026-10-30T10:00:00Z"),
                ended.clone(),
                How::Paid,
                None
            ),
            stop(
                StopKind::PastDue,
                None,
                key("e1", "2026-11-01T10:00:00Z"),
                ended,
                How::Paid,
                None
            ),
            stop(
                StopKind::Payment,
                Some("in_1"),
                key("p1", "2026-11-02T10:00:00Z"),
                key("p2", "2026-11-05T10:00:00Z"),
                How::Paid,
                None
            ),
            stop(
                StopKind::Cancellation,
                Some("s-c1"),
                key("r1", "2026-11-03T10:00:00Z"),
                key("w1", "2026-11-06T10:00:00Z"),
                How::OfferAccepted,
                Some("half-price")
            ),
        ]
    );
    // c2's request has no answer: only its voided invoice stopped.
    assert_eq!(
        store.customer_stops(&t("t1"), &c("c2")).await.unwrap(),
        [stop(
            StopKind::Payment,
            Some("in_2"),
            key("p3", "2026-11-04T10:00:00Z"),
            key("p4", "2026-11-07T10:00:00Z"),
            How::Voided,
            None
        )]
    );
    assert!(
        store
            .customer_stops(&t("t2"), &c("c1"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Requests to cancel are indexed by instant (every one that takes effect at period end,
/// kept in the state, whatever became of it: the rule derives the clocks), in any arrival
/// order; the guardrail counts the customers whose request has no answer.
pub async fn when_cancellations_are_requested_should_be_found_by_window_and_counted<S: Store>(
    store: S,
) {
    let period_end = json!({"effective": "period_end"});
    ingest_all(
        &store,
        &[
            cancellation(
                "r1",
                "c1",
                "cancellation.requested",
                "2026-11-02T10:00:00Z",
                period_end.clone(),
            ),
            cancellation(
                "r2",
                "c2",
                "cancellation.requested",
                "2026-11-02T11:00:00Z",
                period_end.clone(),
            ),
            cancellation(
                "r3",
                "c3",
                "cancellation.requested",
                "2026-11-02T12:00:00Z",
                json!({"effective": "immediate"}),
            ),
            // Learned of before the request it answers.
            cancellation(
                "w2",
                "c2",
                "cancellation.withdrawn",
                "2026-11-03T10:00:00Z",
                json!({}),
            ),
            cancellation(
                "r4",
                "c4",
                "cancellation.requested",
                "2026-11-04T10:00:00Z",
                period_end.clone(),
            ),
            cancellation(
                "r5",
                "c4",
                "cancellation.requested",
                "2026-11-02T09:00:00Z",
                period_end,
            ),
        ],
    )
    .await;
    let found = |from: &str, to: &str| {
        started(
            &store,
            ClockKind::CancellationRequested,
            vec![(at(from), at(to))],
        )
    };
    assert_eq!(
        found("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z").await,
        ["c1", "c2", "c4"],
        "an immediate request holds nothing; c2's answered request is still read"
    );
    assert_eq!(
        found("2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z").await,
        ["c4"]
    );
    assert_eq!(
        store
            .clock_count(&t("t1"), ClockKind::CancellationRequested)
            .await
            .unwrap(),
        2,
        "c1 and c4 wait for an answer; c2 withdrew"
    );
    let state = store
        .load_customer(&t("t1"), &c("c4"))
        .await
        .unwrap()
        .unwrap()
        .value;
    let facts = state.cancellations.as_ref().unwrap();
    assert_eq!(
        facts.entries.len(),
        2,
        "both of c4's requests, in key order"
    );
    assert!(facts.entries[0].key < facts.entries[1].key);
}

/// The daily run visits every tenant with settings or automations stored (archived ones
/// included: only an archived hold's proceed runs there), and no other.
pub async fn when_tenants_store_settings_or_automations_should_be_the_ones_visited<S: Store>(
    store: S,
) {
    store
        .put_settings(&TenantSettings::defaults(t("settings-only")))
        .await
        .unwrap();
    store
        .put_automation(&automation("with-automation", "a1", "negative_balance"))
        .await
        .unwrap();
    let a1 = automation("archived", "a1", "negative_balance");
    let stored = StoredAutomation {
        automation: a1,
        version: 1,
        archived: false,
    };
    let entry = audit(
        "archived",
        "20261115T070000.000000Z-0001",
        "automation.created",
    );
    store.write_automation(&stored, None, &entry).await.unwrap();
    let archived = StoredAutomation {
        archived: true,
        version: 2,
        ..stored
    };
    let entry = audit(
        "archived",
        "20261115T070000.000000Z-0002",
        "automation.archived",
    );
    store
        .write_automation(&archived, Some(1), &entry)
        .await
        .unwrap();
    ingest_event(
        &store,
        &balance("events-only", "e1", "c1", "2026-11-01T10:00:00Z", -1),
    )
    .await
    .unwrap();
    let mut tenants: Vec<String> = store
        .tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["archived", "settings-only", "with-automation"]);
    // An archived automation runs no more; an archived hold is read, flagged, for the holds
    // it began to proceed.
    assert!(
        store
            .tenant_automations(&t("archived"))
            .await
            .unwrap()
            .is_empty()
    );
    let hold = Automation::from_json(&json!({"id": "hold", "tenant_id": "archived",
        "name": "Hold", "trigger": {"type": "cancellation_requested", "hold_days": 7}}))
    .unwrap();
    let created = StoredAutomation {
        automation: hold,
        version: 1,
        archived: false,
    };
    let entry = audit(
        "archived",
        "20261115T070000.000000Z-0003",
        "automation.created",
    );
    store
        .write_automation(&created, None, &entry)
        .await
        .unwrap();
    let archived = StoredAutomation {
        archived: true,
        version: 2,
        ..created
    };
    let entry = audit(
        "archived",
        "20261115T070000.000000Z-0004",
        "automation.archived",
    );
    store
        .write_automation(&archived, Some(1), &entry)
        .await
        .unwrap();
    let read = store.tenant_automations(&t("archived")).await.unwrap();
    assert_eq!(read.len(), 1);
    assert!(read[0].archived && read[0].holds());
    let live = store
        .tenant_automations(&t("with-automation"))
        .await
        .unwrap();
    assert!(live.iter().all(|a| !a.archived));
}

/// Versioned writes go through only at the version expected, each with its audit entry;
/// lists skip archived automations and page by id; the audit log is newest first.
pub async fn when_documents_are_written_should_check_versions_and_audit_each_change<S: Store>(
    store: S,
) {
    let write = |id: &str, version: u64, expected: Option<u64>, archived: bool, n: u32| {
        let stored = StoredAutomation {
            automation: automation("t1", id, "negative_balance"),
            version,
            archived,
        };
        let entry = audit(
            "t1",
            &format!("20261115T07000{n}.000000Z-x"),
            "automation.created",
        );
        let store = store.clone();
        async move {
            store
                .write_automation(&stored, expected, &entry)
                .await
                .unwrap()
        }
    };
    assert_eq!(write("a1", 1, None, false, 1).await, WriteOutcome::Written);
    assert_eq!(write("a1", 1, None, false, 2).await, WriteOutcome::Conflict);
    assert_eq!(
        write("a1", 2, Some(7), false, 3).await,
        WriteOutcome::Conflict
    );
    assert_eq!(write("a2", 1, None, false, 4).await, WriteOutcome::Written);
    assert_eq!(write("a3", 1, None, false, 5).await, WriteOutcome::Written);
    assert_eq!(
        write("a2", 2, Some(1), true, 6).await,
        WriteOutcome::Written
    );
    let page = |after: Option<&str>| {
        let store = store.clone();
        let after = after.map(AutomationId::new);
        async move {
            store
                .list_automations(&t("t1"), after.as_ref(), 1)
                .await
                .unwrap()
                .iter()
                .map(|a| a.automation.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None).await, ["a1"]);
    assert_eq!(page(Some("a1")).await, ["a3"], "a2 is archived");
    assert!(page(Some("a3")).await.is_empty());
    let archived = store
        .automation(&t("t1"), &AutomationId::new("a2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((archived.version, archived.archived), (2, true));

    let settings = Versioned {
        value: TenantSettings::defaults(t("t1")),
        version: 1,
    };
    let entry = audit("t1", "20261115T070007.000000Z-x", "settings.replaced");
    assert_eq!(
        store.write_settings(&settings, &entry).await.unwrap(),
        WriteOutcome::Written
    );
    let entry = audit("t1", "20261115T070008.000000Z-x", "settings.replaced");
    assert_eq!(
        store.write_settings(&settings, &entry).await.unwrap(),
        WriteOutcome::Conflict,
        "version 1 exists: the next write is version 2"
    );
    assert_eq!(store.settings(&t("t1")).await.unwrap().version, 1);
    assert_eq!(store.settings(&t("t2")).await.unwrap().version, 0);

    let log = store.audit_log(&t("t1"), None, 3).await.unwrap();
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "20261115T070007.000000Z-x",
            "20261115T070006.000000Z-x",
            "20261115T070005.000000Z-x"
        ],
        "only written changes are audited, newest first"
    );
    let older = store
        .audit_log(&t("t1"), Some("20261115T070005.000000Z-x"), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = older.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["20261115T070004.000000Z-x", "20261115T070001.000000Z-x"]
    );
    assert!(
        store
            .audit_log(&t("t2"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A tenant with `customers` customers past due since 11-01 (UTC) and automation a1, run
/// on 11-15 with a generous guardrail: one pending firing each.
async fn pending_firings<S: Store>(store: &S, customers: usize, guardrail: Value) {
    synthetic::PastDueTenant::new(customers, "2026-11-01T10:00:00Z")
        .settings(json!({"guardrail": guardrail}))
        .seed_and_evaluate(store, "2026-11-15")
        .await;
}

/// A decision is recorded once per key; what is recorded is settled for the automation and
/// customer, listed for the customer and the date, and pending firings wait in the outbox,
/// oldest date first, until a compare-and-set moves them.
pub async fn when_decisions_are_recorded_should_be_kept_once_and_claimed_by_compare_and_set<
    S: Store,
>(
    store: S,
) {
    pending_firings(&store, 3, json!({"min_count": 1000})).await;
    // 12-01: the 30-day threshold for everyone.
    evaluate_tenant_day(&store, &t("t1"), "2026-12-01".parse().unwrap(), None)
        .await
        .unwrap();
    let pending = store.pending_firings(100).await.unwrap();
    let order: Vec<(String, String, u16)> = pending
        .iter()
        .map(|r| {
            (
                r.decision.date.to_string(),
                r.decision.customer_id.to_string(),
                r.decision.threshold_days,
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("2026-11-15".to_owned(), "c000".to_owned(), 14),
            ("2026-11-15".to_owned(), "c001".to_owned(), 14),
            ("2026-11-15".to_owned(), "c002".to_owned(), 14),
            ("2026-12-01".to_owned(), "c000".to_owned(), 30),
            ("2026-12-01".to_owned(), "c001".to_owned(), 30),
            ("2026-12-01".to_owned(), "c002".to_owned(), 30),
        ],
        "oldest run date first, then by customer"
    );
    assert_eq!(store.pending_firings(2).await.unwrap().len(), 2);

    let first = pending[0].clone();
    assert_eq!(
        store.record(&first).await.unwrap(),
        RecordOutcome::AlreadyRecorded
    );
    let settled = store
        .settled(&t("t1"), &AutomationId::new("a1"), &c("c000"))
        .await
        .unwrap();
    let mut thresholds: Vec<u16> = settled.iter().map(|s: &Settled| s.threshold_days).collect();
    thresholds.sort();
    assert_eq!(thresholds, [14, 30]);
    assert_eq!(
        store
            .customer_firings(&t("t1"), &c("c000"))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .firings_on(&t("t1"), "2026-11-15".parse().unwrap())
            .await
            .unwrap()
            .len(),
        3
    );

    let mut claimed = first.clone();
    claimed.status = FiringStatus::Sending;
    claimed.attempts = 1;
    assert!(store.replace_firing(&first, &claimed).await.unwrap());
    assert!(
        !store.replace_firing(&first, &claimed).await.unwrap(),
        "the same claim again finds the firing changed"
    );
    let mut sent = claimed.clone();
    sent.status = FiringStatus::Sent;
    assert!(store.replace_firing(&claimed, &sent).await.unwrap());
    assert_eq!(store.pending_firings(100).await.unwrap().len(), 5);
    let stored = store.customer_firings(&t("t1"), &c("c000")).await.unwrap();
    assert!(stored.iter().any(|r| r.status == FiringStatus::Sent));
}

/// Firings awaiting approval are listed per tenant from their own index (never the
/// executor's outbox) with their step, owner and plan as decided; an answer moves each once,
/// and the daily run expires what was not answered in time.
pub async fn when_firings_await_approval_should_be_listed_answered_once_and_expired<S: Store>(
    store: S,
) {
    for tenant in ["t1", "t2"] {
        let ladder = Automation::from_json(&json!({"id": "ladder", "tenant_id": tenant,
            "name": "Aging ladder", "active_from": "2026-10-01",
            "trigger": {"type": "past_due", "require_active_subscription": false},
            "steps": [{"name": "90+", "day": 31, "owner": "finance-lead", "approval": {},
                       "actions": [{"type": "notify", "channel": "finance"}]}]}))
        .expect("a valid automation");
        store.put_automation(&ladder).await.unwrap();
    }
    let mut events = vec![balance("t2", "e-t2", "c9", "2026-11-01T10:00:00Z", -9000)];
    for n in 0..3 {
        let customer = format!("c{n}");
        events.push(balance(
            "t1",
            &format!("e{n}"),
            &customer,
            "2026-11-01T10:00:00Z",
            -9000,
        ));
    }
    ingest_all(&store, &events).await;
    for tenant in ["t1", "t2"] {
        evaluate_tenant_day(&store, &t(tenant), "2026-12-02".parse().unwrap(), None)
            .await
            .unwrap();
    }
    assert!(store.pending_firings(100).await.unwrap().is_empty());
    let waiting = store.awaiting_approval(&t("t1")).await.unwrap();
    assert_eq!(waiting.len(), 3);
    assert_eq!(store.awaiting_approval(&t("t2")).await.unwrap().len(), 1);
    let first = &waiting[0];
    assert_eq!(first.status, FiringStatus::AwaitingApproval);
    assert_eq!(first.decision.step.as_deref(), Some("90+"));
    let plan = first
        .decision
        .plan
        .as_deref()
        .expect("a firing keeps its plan");
    assert_eq!(plan.owner.as_deref(), Some("finance-lead"));
    assert_eq!(
        first.decision.approval_expires_on(),
        Some("2026-12-09".parse().unwrap())
    );

    let approve = audit("t1", "20261202T090000.000000Z-approve", "firing.approved");
    let answer =
        |to| store.resolve_firings(&waiting[..1], FiringStatus::AwaitingApproval, to, &approve);
    assert_eq!(answer(FiringStatus::Pending).await.unwrap(), 1);
    assert_eq!(
        answer(FiringStatus::Rejected).await.unwrap(),
        0,
        "answered once"
    );
    let reject = audit("t1", "20261202T090001.000000Z-reject", "firing.rejected");
    let rejected = store
        .resolve_firings(
            &waiting[1..2],
            FiringStatus::AwaitingApproval,
            FiringStatus::Rejected,
            &reject,
        )
        .await
        .unwrap();
    assert_eq!(rejected, 1);
    let pending = store.pending_firings(100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].decision.customer_id,
        waiting[0].decision.customer_id
    );
    assert_eq!(store.awaiting_approval(&t("t1")).await.unwrap().len(), 1);
    let logged: Vec<String> = store
        .audit_log(&t("t1"), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(logged, ["firing.rejected", "firing.approved"]);

    // The last day to approve is 12-09: the run of 12-10 expires what is still waiting.
    let day = evaluate_tenant_day(&store, &t("t1"), "2026-12-10".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(day.approvals_expired, 1);
    assert!(store.awaiting_approval(&t("t1")).await.unwrap().is_empty());
    let third = store
        .customer_firings(&t("t1"), &waiting[2].decision.customer_id)
        .await
        .unwrap();
    assert_eq!(third[0].status, FiringStatus::Expired);
    assert_eq!(
        store.awaiting_approval(&t("t2")).await.unwrap().len(),
        1,
        "t2's own"
    );
}

/// Held firings move to pending or discarded only while held, each chunk of
/// `RESOLVE_CHUNK` with its own copy of the audit entry (ids suffixed when there are several).
pub async fn when_held_firings_are_resolved_should_move_each_once_with_an_audit_per_chunk<
    S: Store,
>(
    store: S,
) {
    let count = RESOLVE_CHUNK + 21;
    pending_firings(&store, count, json!({"min_count": 1, "max_share": 0.1})).await;
    let held: Vec<FiringRecord> = store
        .firings_on(&t("t1"), "2026-11-15".parse().unwrap())
        .await
        .unwrap();
    assert!(held.iter().all(|r| r.status == FiringStatus::Held));
    assert_eq!(held.len(), count);
    let entry = audit("t1", "20261115T080000.000000Z-release", "firings.released");
    let moved = store
        .resolve_firings(&held, FiringStatus::Held, FiringStatus::Pending, &entry)
        .await
        .unwrap();
    assert_eq!(moved, count);
    let again = store
        .resolve_firings(&held, FiringStatus::Held, FiringStatus::Discarded, &entry)
        .await
        .unwrap();
    assert_eq!(again, 0, "no longer held");
    let log = store.audit_log(&t("t1"), None, 10).await.unwrap();
    let mut ids: Vec<&str> = log
        .iter()
        .filter(|e| e.action == "firings.released")
        .map(|e| e.id.as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "20261115T080000.000000Z-release-0000",
            "20261115T080000.000000Z-release-0001"
        ]
    );
    assert_eq!(store.pending_firings(1000).await.unwrap().len(), count);
}

/// A checkpoint never moves back, whatever order runs complete in.
pub async fn when_runs_complete_out_of_order_should_keep_the_latest_checkpoint<S: Store>(store: S) {
    assert_eq!(store.last_completed(&t("t1")).await.unwrap(), None);
    for date in ["2026-11-15", "2026-11-13", "2026-11-16", "2026-11-14"] {
        store
            .complete(&t("t1"), date.parse().unwrap())
            .await
            .unwrap();
    }
    assert_eq!(
        store.last_completed(&t("t1")).await.unwrap(),
        Some("2026-11-16".parse().unwrap())
    );
    assert_eq!(store.last_completed(&t("t2")).await.unwrap(), None);
}

/// A profile event of tenant `tenant`.
pub fn profile(
    tenant: &str,
    id: &str,
    customer: &str,
    occurred_at: &str,
    metadata: Value,
) -> Event {
    Event::from_json(
        &json!({"event_id": id, "tenant_id": tenant, "customer_id": customer,
        "type": "customer.updated", "occurred_at": occurred_at,
        "customer": {"metadata": metadata}}),
    )
    .expect("a valid profile event")
}

fn settings_with(tenant: &str, normalization: Value) -> TenantSettings {
    TenantSettings::from_json(&json!({"tenant_id": tenant, "timezone": "America/New_York",
        "normalization": normalization}))
    .expect("valid settings")
}

/// Every customer of `segment`, read a few items at a time.
async fn scan_segment<S: Store>(store: &S, tenant: &str, segment: Segment) -> Vec<CustomerId> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .scan_customers(&t(tenant), segment, cursor.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.items_read >= page.customers.len() as u64);
        found.extend(page.customers.into_iter().map(|c| c.value.customer_id));
        cursor = page.next;
        if cursor.is_none() {
            return found;
        }
    }
}

/// A profile is normalized at ingest and its changes logged with it, listed by tenant-local
/// date and by customer; the scan's segments hold each of the tenant's customers once; the
/// re-normalization after a rules change, stopped after one page and resumed, writes each
/// changed profile once, conditional on its version, and its checkpoints say it is done.
pub async fn when_profiles_are_normalized_should_log_changes_and_renormalize_each_once<S: Store>(
    store: S,
) {
    use shared::app::normalize::{Budget, SEGMENTS, renormalize, status};
    let v1 = settings_with(
        "t1",
        json!({"rules": [{"type": "key_case", "case": "snake_case"},
            {"type": "lowercase_values"}]}),
    );
    store.put_settings(&v1).await.unwrap();
    let customers: Vec<String> = (0..12).map(|n| format!("c{n:02}")).collect();
    for (n, customer) in customers.iter().enumerate() {
        // 02:00 UTC is the evening before in New York: listed under 11-01.
        let e = profile(
            "t1",
            &format!("p{n}"),
            customer,
            "2026-11-02T02:00:00Z",
            json!({"Plan Name": "Gold", "region": "eu"}),
        );
        ingest_event(&store, &e).await.unwrap();
    }
    let other = profile(
        "t2",
        "p0",
        "c00",
        "2026-11-02T02:00:00Z",
        json!({"Plan Name": "x"}),
    );
    ingest_event(&store, &other).await.unwrap();

    let c00 = store
        .load_customer(&t("t1"), &c("c00"))
        .await
        .unwrap()
        .unwrap();
    let normalized: std::collections::BTreeMap<String, String> = [
        ("plan_name".to_owned(), "gold".to_owned()),
        ("region".to_owned(), "eu".to_owned()),
    ]
    .into();
    assert_eq!(c00.value.metadata(), Some(&normalized));
    assert_eq!(
        c00.value.profile().unwrap().metadata["Plan Name"],
        "Gold",
        "raw kept"
    );
    let listed = store
        .changes_on(&t("t1"), "2026-11-01".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|r| r.customer_id.to_string())
            .collect::<Vec<_>>(),
        customers,
        "by instant, then customer; the other tenant's are not listed"
    );
    assert!(
        store
            .changes_on(&t("t1"), "2026-11-02".parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    let logged = store.customer_changes(&t("t1"), &c("c00")).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].cause, Cause::Event(EventId::new("p0")));
    assert_eq!(
        logged[0]
            .changes
            .iter()
            .map(|c| (c.rule_type, c.key.as_str()))
            .collect::<Vec<_>>(),
        [("key_case", "plan_name"), ("lowercase_values", "plan_name")]
    );

    let mut scanned = Vec::new();
    for index in 0..SEGMENTS {
        scanned.extend(
            scan_segment(
                &store,
                "t1",
                Segment {
                    index,
                    total: SEGMENTS,
                },
            )
            .await,
        );
    }
    scanned.sort();
    assert_eq!(
        scanned.iter().map(ToString::to_string).collect::<Vec<_>>(),
        customers,
        "every customer of the tenant in exactly one segment"
    );

    // The rules change: `plan_name` becomes `plan`. A stale write is refused.
    let v2 = settings_with(
        "t1",
        json!({"version": 2, "rules": [{"type": "key_case", "case": "snake_case"},
            {"type": "rename_key", "from": ["plan_name"], "to": "plan"},
            {"type": "lowercase_values"}]}),
    );
    store.put_settings(&v2).await.unwrap();
    let mut stale = c00.value.clone();
    let changes = stale.normalize_profile(&v2.normalization);
    let record = |changes| ChangeRecord {
        tenant_id: t("t1"),
        customer_id: c("c00"),
        at: at("2026-11-03T12:00:00Z"),
        date: "2026-11-03".parse().unwrap(),
        rules_version: 2,
        cause: Cause::Renormalization,
        changes,
    };
    assert_eq!(
        store
            .write_normalized(&stale, c00.version + 1, &record(changes))
            .await
            .unwrap(),
        WriteOutcome::Conflict
    );
    let now = at("2026-11-03T12:00:00Z");
    let one_page = Budget {
        pages: 1,
        page_items: 1,
        deadline: None,
    };
    let first = renormalize(&store, &v2, now, one_page).await.unwrap();
    assert!(
        !first.is_done(),
        "a page of one item per segment is not all"
    );
    assert!(first.segments.iter().map(|s| s.customers).sum::<u64>() < 12);
    let done = renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    assert!(done.is_done());
    let again = renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    assert_eq!(
        again, done,
        "a finished re-normalization reads nothing more"
    );
    let progress = status(&store, &t("t1"), &v2.normalization).await.unwrap();
    assert_eq!(
        progress.segments.iter().map(|s| s.customers).sum::<u64>(),
        12
    );
    assert_eq!(progress.segments.iter().map(|s| s.changed).sum::<u64>(), 12);
    for (n, customer) in customers.iter().enumerate() {
        let state = store
            .load_customer(&t("t1"), &c(customer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state.value.metadata().unwrap()["plan"],
            "gold",
            "{customer}"
        );
        let log = store
            .customer_changes(&t("t1"), &c(customer))
            .await
            .unwrap();
        assert_eq!(
            log.iter().map(|r| r.cause.clone()).collect::<Vec<_>>(),
            [
                Cause::Event(EventId::new(format!("p{n}"))),
                Cause::Renormalization
            ],
            "{customer}: normalized once by the run"
        );
    }
    let t2 = store
        .load_customer(&t("t2"), &c("c00"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.value.profile().unwrap().metadata["Plan Name"], "x");
    assert_eq!(
        t2.value.normalized, None,
        "another tenant's customers are not touched"
    );
}

/// The store, except that the first automation write is preceded by another caller's
/// archive of the same automation: the race of two concurrent DELETEs, made certain.
#[derive(Clone)]
pub struct ArchivedMeanwhile<S> {
    pub inner: S,
    raced: std::sync::Arc<AtomicBool>,
}

impl<S: Store> ArchivedMeanwhile<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            raced: std::sync::Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<S: Store> AdminStore for ArchivedMeanwhile<S> {
    async fn automation(
        &self,
        t: &TenantId,
        id: &AutomationId,
    ) -> Result<Option<StoredAutomation>, StoreError> {
        self.inner.automation(t, id).await
    }
    async fn list_automations(
        &self,
        t: &TenantId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Vec<StoredAutomation>, StoreError> {
        self.inner.list_automations(t, after, limit).await
    }
    async fn write_automation(
        &self,
        next: &StoredAutomation,
        expected: Option<u64>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        if next.archived && !self.raced.swap(true, Ordering::SeqCst) {
            let theirs = AuditEntry {
                id: format!("{}-theirs", audit.id),
                ..audit.clone()
            };
            assert_eq!(
                self.inner.write_automation(next, expected, &theirs).await?,
                WriteOutcome::Written
            );
        }
        self.inner.write_automation(next, expected, audit).await
    }
    async fn settings(&self, t: &TenantId) -> Result<Versioned<TenantSettings>, StoreError> {
        self.inner.settings(t).await
    }
    async fn write_settings(
        &self,
        next: &Versioned<TenantSettings>,
        audit: &AuditEntry,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner.write_settings(next, audit).await
    }
    async fn audit_log(
        &self,
        t: &TenantId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_log(t, before, limit).await
    }
    async fn firings_on(
        &self,
        t: &TenantId,
        date: chrono::NaiveDate,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.firings_on(t, date).await
    }
    async fn resolve_firings(
        &self,
        firings: &[FiringRecord],
        from: FiringStatus,
        to: FiringStatus,
        audit: &AuditEntry,
    ) -> Result<usize, StoreError> {
        self.inner.resolve_firings(firings, from, to, audit).await
    }
}

// The other ports of `ArchivedMeanwhile` are the inner store's.
impl<S: Store> CustomerStore for ArchivedMeanwhile<S> {
    async fn load_customer(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Option<Versioned<shared::domain::CustomerState>>, StoreError> {
        self.inner.load_customer(t, c).await
    }
    async fn stored_events(&self, t: &TenantId, ids: &[EventId]) -> Result<Vec<Event>, StoreError> {
        self.inner.stored_events(t, ids).await
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

impl<S: Store> CandidateSource for ArchivedMeanwhile<S> {
    async fn clocks_started(
        &self,
        t: &TenantId,
        continuity: ClockKind,
        windows: &[(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)],
    ) -> Result<Vec<shared::domain::CustomerState>, StoreError> {
        self.inner.clocks_started(t, continuity, windows).await
    }
    async fn quiet_released(
        &self,
        t: &TenantId,
        windows: &[(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)],
    ) -> Result<Vec<shared::domain::CustomerState>, StoreError> {
        self.inner.quiet_released(t, windows).await
    }
    async fn clock_count(&self, t: &TenantId, kind: ClockKind) -> Result<u64, StoreError> {
        self.inner.clock_count(t, kind).await
    }
}

impl<S: Store> AutomationStore for ArchivedMeanwhile<S> {
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

impl<S: Store> OutcomeStore for ArchivedMeanwhile<S> {
    async fn customer_stops(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<shared::domain::outcome::ClockStop>, StoreError> {
        self.inner.customer_stops(t, c).await
    }
}

impl<S: Store> ReportRecords for ArchivedMeanwhile<S> {
    async fn record_aging(&self, t: &TenantId, table: &AgingTable) -> Result<(), StoreError> {
        self.inner.record_aging(t, table).await
    }
    async fn aging_on(
        &self,
        t: &TenantId,
        date: chrono::NaiveDate,
    ) -> Result<Option<AgingTable>, StoreError> {
        self.inner.aging_on(t, date).await
    }
    async fn record_skips(
        &self,
        t: &TenantId,
        date: chrono::NaiveDate,
        skips: &[SkipCount],
    ) -> Result<(), StoreError> {
        self.inner.record_skips(t, date, skips).await
    }
    async fn skips_on(
        &self,
        t: &TenantId,
        date: chrono::NaiveDate,
    ) -> Result<Vec<SkipCount>, StoreError> {
        self.inner.skips_on(t, date).await
    }
}

impl<S: Store> NormalizationStore for ArchivedMeanwhile<S> {
    async fn changes_on(
        &self,
        t: &TenantId,
        date: chrono::NaiveDate,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.changes_on(t, date).await
    }
    async fn customer_changes(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.customer_changes(t, c).await
    }
    async fn scan_customers(
        &self,
        t: &TenantId,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage, StoreError> {
        self.inner.scan_customers(t, segment, cursor, limit).await
    }
    async fn write_normalized(
        &self,
        state: &shared::domain::CustomerState,
        expected: u64,
        record: &ChangeRecord,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner.write_normalized(state, expected, record).await
    }
    async fn renormalization(&self, t: &TenantId) -> Result<Vec<SegmentProgress>, StoreError> {
        self.inner.renormalization(t).await
    }
    async fn save_progress(&self, t: &TenantId, p: &SegmentProgress) -> Result<(), StoreError> {
        self.inner.save_progress(t, p).await
    }
}

impl<S: Store> DecisionStore for ArchivedMeanwhile<S> {
    async fn settled(
        &self,
        t: &TenantId,
        a: &AutomationId,
        c: &CustomerId,
    ) -> Result<Vec<Settled>, StoreError> {
        self.inner.settled(t, a, c).await
    }
    async fn customer_firings(
        &self,
        t: &TenantId,
        c: &CustomerId,
    ) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.customer_firings(t, c).await
    }
    async fn record(&self, r: &FiringRecord) -> Result<RecordOutcome, StoreError> {
        self.inner.record(r).await
    }
    async fn awaiting_approval(&self, t: &TenantId) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.awaiting_approval(t).await
    }
    async fn pending_firings(&self, limit: usize) -> Result<Vec<FiringRecord>, StoreError> {
        self.inner.pending_firings(limit).await
    }
    async fn replace_firing(
        &self,
        current: &FiringRecord,
        next: &FiringRecord,
    ) -> Result<bool, StoreError> {
        self.inner.replace_firing(current, next).await
    }
}

/// The API over the contract's store answers a lost race the same on every store: a DELETE
/// that finds the automation archived meanwhile is a 404, with `If-Match` or without (RFC
/// 9110 §13.2.1), never depending on how the store interleaves requests.
pub async fn when_two_deletes_race_should_answer_the_same_on_every_store<S: Store>(store: S) {
    for (if_match, label) in [(None, "none"), (Some("\"1\""), "v1")] {
        let racing = ArchivedMeanwhile::new(store.clone());
        let router = api::router(racing, api::identity::IdentitySource::DevHeaders);
        let id = format!("race-{label}");
        let mut body = json!({"id": id, "name": "Race", "active_from": "2026-10-01",
            "backfill": true, "trigger": {"type": "past_due"},
            "actions": [{"type": "notify", "channel": "finance"}]});
        body["tenant_id"] = json!("t1");
        let (status, _) = call_api(&router, "POST", "/v1/automations", Some(body)).await;
        assert_eq!(status.as_u16(), 201);
        let path = format!("/v1/automations/{id}");
        let (status, problem) =
            crate::call_api_with(&router, "DELETE", &path, if_match, None).await;
        assert_eq!(status.as_u16(), 404, "If-Match {if_match:?}: {problem}");
        let (status, _) = call_api(&router, "GET", &path, None).await;
        assert_eq!(status.as_u16(), 404, "archived by the other caller");
    }
}

/// Nothing in the executor depends on the store beyond the contract: a pass over pending
/// firings sends each once.
pub async fn when_the_executor_runs_twice_should_send_each_firing_once<S: Store>(store: S) {
    pending_firings(&store, 4, json!({"min_count": 1000})).await;
    let publisher = shared::adapters::MemoryPublisher::new();
    let now = at("2026-11-15T07:00:00Z");
    let first = execute_pending(&store, &publisher, &StoreOnly, now, 100)
        .await
        .unwrap();
    let second = execute_pending(&store, &publisher, &StoreOnly, now, 100)
        .await
        .unwrap();
    assert_eq!((first.sent, second.sent), (4, 0));
    assert_eq!(publisher.published().len(), 4);
}
