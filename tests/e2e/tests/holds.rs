//! Cancellation holds (SPEC §8.6) against DynamoDB and SNS on the local emulator, read back
//! from SQS queues subscribed to the commands and customer-messages topics: one
//! `hold_cancellation` and at most one `proceed_cancellation` per hold, never a proceed after
//! a withdrawal, whatever reruns, concurrent runs and executor stops happen.

use e2e::Env;
use serde_json::{Value, json};
use shared::adapters::DynamoStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::execute::execute_pending;
use shared::app::ingest::ingest_event;
use shared::app::simulate::store_config;
use shared::domain::{AutomationsFile, Event, TenantId};
use shared::ports::{DecisionStore, StoreOnly};
use std::collections::BTreeMap;

/// The tenant's daily run (UTC, 06:00).
fn run_instant(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(6, 0, 0).unwrap().and_utc()
}

fn event(v: Value) -> Event {
    Event::from_json(&v).unwrap()
}

fn cancellation(id: &str, customer: &str, kind: &str, at: &str, fields: Value) -> Event {
    let mut c = json!({"subscription_id": format!("s-{customer}")});
    for (k, v) in fields.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    event(
        json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
                 "type": kind, "occurred_at": at, "cancellation": c}),
    )
}

/// Tenant t1 (UTC, 06:00) holding cancellations for 7 days with an offer at the hold.
async fn holds(store: &DynamoStore) {
    let config = AutomationsFile::from_json(&json!({
        "tenants": [{"tenant_id": "t1", "guardrail": {"min_count": 1000}}],
        "automations": [{"id": "hold", "tenant_id": "t1", "name": "Hold",
            "trigger": {"type": "cancellation_requested", "hold_days": 7, "catch_up_days": 1},
            "steps": [{"name": "hold", "day": 0, "actions": [
                {"type": "offer", "offer_id": "downgrade-basic", "kind": "downgrade",
                 "template_id": "offer-downgrade"}]}]}]}))
    .unwrap();
    store_config(store, &config, "2026-11-01".parse().unwrap())
        .await
        .unwrap();
}

/// `(command, subscription) -> count` of the commands received.
fn counted(bodies: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for b in bodies {
        let key = (
            b["command"].as_str().unwrap().to_owned(),
            b["subscription_id"].as_str().unwrap().to_owned(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_holds_run_through_reruns_concurrent_runs_and_executor_stops_should_send_each_command_once()
 {
    let env = Env::new("holds").await;
    let commands = env.subscribed_queue("commands", &env.topics.commands).await;
    let messages = env
        .subscribed_queue("messages", &env.topics.customer_messages)
        .await;
    let stops = e2e::failpoint::StopsAfterPublishing::new(env.store());
    let store = &stops.inner;
    holds(store).await;
    let t1 = TenantId::new("t1");
    let customers: Vec<String> = (0..8).map(|n| format!("c{n}")).collect();
    for c in &customers {
        let e = cancellation(
            &format!("r-{c}"),
            c,
            "cancellation.requested",
            "2026-11-02T05:00:00Z",
            json!({"reason": "too_expensive", "effective": "period_end"}),
        );
        ingest_event(store, &e).await.unwrap();
    }
    // c0 takes the offer and c1 withdraws on 11-04; c2 insists on 11-05.
    let answers = [
        cancellation(
            "w-c0",
            "c0",
            "cancellation.withdrawn",
            "2026-11-04T10:00:00Z",
            json!({"offer_id": "downgrade-basic"}),
        ),
        cancellation(
            "w-c1",
            "c1",
            "cancellation.withdrawn",
            "2026-11-04T11:00:00Z",
            json!({}),
        ),
        cancellation(
            "x-c2",
            "c2",
            "cancellation.confirmed",
            "2026-11-05T10:00:00Z",
            json!({}),
        ),
    ];
    let publisher = env.publisher();
    for d in 2..=12 {
        let day: chrono::NaiveDate = format!("2026-11-{d:02}").parse().unwrap();
        if d == 4 {
            for e in &answers[..2] {
                ingest_event(store, e).await.unwrap();
            }
        }
        if d == 5 {
            ingest_event(store, &answers[2]).await.unwrap();
        }
        // Two runs of the day at once, then a rerun: each decision is recorded once.
        let (a, b) = tokio::join!(
            evaluate_tenant_day(store, &t1, day, None),
            evaluate_tenant_day(store, &t1, day, None)
        );
        let decided = a.unwrap().decisions.len() + b.unwrap().decisions.len();
        let rerun = evaluate_tenant_day(store, &t1, day, None).await.unwrap();
        assert!(
            rerun.decisions.is_empty(),
            "{day}: a rerun decides nothing new"
        );
        // The executor runs minutes after the day's run.
        let now = run_instant(day) + chrono::Duration::minutes(5);
        if d == 2 {
            assert_eq!(decided, 8, "one hold per request");
            // The executor stops after publishing, twice, and is recovered.
            e2e::failpoint::stop_and_recover_at(&stops, &publisher, 2, now).await;
        }
        if d == 9 {
            assert_eq!(decided, 5, "a proceed for each hold not answered");
            e2e::failpoint::stop_and_recover_at(&stops, &publisher, 1, now).await;
        }
        let now = now + chrono::Duration::minutes(20);
        execute_pending(store, &publisher, &StoreOnly, now, 100)
            .await
            .unwrap();
    }
    assert!(store.pending_firings(100).await.unwrap().is_empty());

    let commands = counted(&env.drain(&commands).await);
    let mut expected = BTreeMap::new();
    for c in &customers {
        expected.insert(("hold_cancellation".to_owned(), format!("s-{c}")), 1);
    }
    for c in &customers[3..] {
        expected.insert(("proceed_cancellation".to_owned(), format!("s-{c}")), 1);
    }
    assert_eq!(
        commands, expected,
        "one hold each; a proceed only where nobody answered"
    );
    // The offers, one per hold, none twice through the stops.
    let offers = env.drain(&messages).await;
    let mut to: Vec<String> = offers
        .iter()
        .map(|o| {
            assert_eq!(o["type"], "cancellation.offer");
            assert_eq!(o["offer_id"], "downgrade-basic");
            o["customer_id"].as_str().unwrap().to_owned()
        })
        .collect();
    to.sort();
    assert_eq!(to, customers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_customer_withdraws_after_the_proceed_was_decided_should_not_send_it() {
    let env = Env::new("holds-withdrawn").await;
    let commands = env.subscribed_queue("commands", &env.topics.commands).await;
    let store = env.store();
    holds(&store).await;
    let t1 = TenantId::new("t1");
    let request = cancellation(
        "r1",
        "c1",
        "cancellation.requested",
        "2026-11-02T05:00:00Z",
        json!({"effective": "period_end"}),
    );
    ingest_event(&store, &request).await.unwrap();
    let publisher = env.publisher();
    for d in 2..=9 {
        let day = format!("2026-11-{d:02}").parse().unwrap();
        evaluate_tenant_day(&store, &t1, day, None).await.unwrap();
        if d < 9 {
            let now = run_instant(day) + chrono::Duration::minutes(5);
            execute_pending(&store, &publisher, &StoreOnly, now, 100)
                .await
                .unwrap();
        }
    }
    let now = "2026-11-09T06:05:00Z".parse().unwrap();
    // The proceed of 11-09 is decided at 06:00; the customer withdraws at 06:00:10, before
    // the executor gets to it.
    let withdrawn = cancellation(
        "w1",
        "c1",
        "cancellation.withdrawn",
        "2026-11-09T06:00:10Z",
        json!({}),
    );
    ingest_event(&store, &withdrawn).await.unwrap();
    execute_pending(&store, &publisher, &StoreOnly, now, 100)
        .await
        .unwrap();
    let commands = counted(&env.drain(&commands).await);
    assert_eq!(
        commands,
        BTreeMap::from([(("hold_cancellation".to_owned(), "s-c1".to_owned()), 1)])
    );
    let firings = store.customer_firings(&t1, &"c1".into()).await.unwrap();
    let proceed = firings
        .iter()
        .find(|r| r.decision.step.as_deref() == Some("proceed"))
        .unwrap();
    assert_eq!(proceed.cancelled[0].reason, "clock_stopped");
}
