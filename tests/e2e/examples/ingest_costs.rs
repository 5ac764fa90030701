//! Ingest's DynamoDB request costs and item sizes, measured through a counting proxy in front
//! of the local AWS emulator (BENCHMARKS.md). Run with the emulator up:
//!
//! ```sh
//! scripts/with-emulator cargo run --release -p e2e --example ingest_costs
//! ```

use chrono::{Duration, TimeZone, Utc};
use e2e::{Env, emulator_endpoint, proxy};
use serde_json::json;
use shared::adapters::dynamodb::items::CustomerItem;
use shared::app::ingest::{IngestOutcome, ingest_event};
use shared::domain::{CustomerId, Event, TenantId};
use shared::ports::CustomerStore;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

const CUSTOMERS: usize = 200;
const EVENTS_PER_CUSTOMER: usize = 10;

fn event(id: String, customer: usize, minutes: i64, body: serde_json::Value) -> Event {
    let at = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes);
    let mut v = json!({"event_id": id, "tenant_id": "bench", "customer_id": format!("cus_{customer:04}"),
                       "occurred_at": at.to_rfc3339()});
    for (k, x) in body.as_object().unwrap() {
        v[k] = x.clone();
    }
    Event::from_json(&v).unwrap()
}

/// DynamoDB's size of an attribute value, by its documented rules (names and strings are
/// their UTF-8 bytes; numbers about one byte per two digits plus one; maps and lists three
/// bytes plus one per element).
fn value_size(v: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        A::S(s) => s.len(),
        A::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        A::Bool(_) | A::Null(_) => 1,
        A::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        A::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        A::Ss(s) => s.iter().map(String::len).sum(),
        _ => 0,
    }
}

fn item_size(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn per_event(stats: &BTreeMap<String, u64>, events: usize) -> serde_json::Value {
    stats
        .iter()
        .map(|(op, n)| {
            (
                op.clone(),
                json!((*n as f64 / events as f64 * 1000.0).round() / 1000.0),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = Env::new("costs").await;
    let proxy = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let store = env.store_via(&proxy.endpoint);

    // Each customer: a subscription, a profile, then balance changes in time order (charges,
    // partial payments, full payments), one customer after another per step.
    let mut in_order = Vec::new();
    for c in 0..CUSTOMERS {
        in_order.push(event(
            format!("s{c}"),
            c,
            0,
            json!({"type": "subscription.updated",
            "subscription": {"id": "sub_1", "status": "active"}}),
        ));
        in_order.push(event(format!("p{c}"), c, 1, json!({"type": "customer.updated",
            "customer": {"created_at": "2024-03-01T00:00:00Z", "metadata": {"plan": "gold", "region": "us-east"}, "tags": ["gym-a"]}})));
    }
    // Every transition occurs: a start, a further charge, a partial payment, a payment, ...
    let amounts: [i64; EVENTS_PER_CUSTOMER] =
        [-4900, -4900, -2400, -7300, 0, -4900, -9800, -4900, 0, -4900];
    for (step, amount) in amounts.iter().enumerate() {
        for c in 0..CUSTOMERS {
            in_order.push(event(format!("b{c}-{step}"), c, 60 * 24 * (step as i64 + 1),
                json!({"type": "balance.changed", "balance": {"amount_minor": amount, "currency": "USD"}})));
        }
    }

    let started = Instant::now();
    let mut transitions = 0usize;
    for e in &in_order {
        match ingest_event(&store, e).await.unwrap() {
            IngestOutcome::Accepted(change) => {
                transitions += usize::from(change.moves_an_episode())
            }
            IngestOutcome::Duplicate => panic!("no duplicate expected"),
        }
    }
    let elapsed = started.elapsed();
    let in_order_stats = proxy.stats.requests();
    proxy.stats.reset();

    for e in &in_order {
        assert_eq!(
            ingest_event(&store, e).await.unwrap(),
            IngestOutcome::Duplicate
        );
    }
    let duplicate_stats = proxy.stats.requests();
    proxy.stats.reset();

    // One backdated balance event per customer, before its latest balance.
    let late: Vec<Event> = (0..CUSTOMERS)
        .map(|c| event(format!("late{c}"), c, 60 * 24 * 5 + 30,
            json!({"type": "balance.changed", "balance": {"amount_minor": -100, "currency": "USD"}})))
        .collect();
    for e in &late {
        ingest_event(&store, e).await.unwrap();
    }
    let late_stats = proxy.stats.requests();

    let typical = store
        .load_customer(&TenantId::new("bench"), &CustomerId::new("cus_0001"))
        .await
        .unwrap()
        .unwrap();
    let item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = serde_dynamo::to_item(
        CustomerItem::from_state(&typical.value, typical.version, env.names.index_shards),
    )
    .unwrap();

    // The same customer with two invoices failing, three attempts each, with their codes:
    // the state item a dunning customer has (SPEC §8.1's payment clocks).
    let mut dunning = typical.value.clone();
    for attempt in 0..3 {
        for invoice in 0..2 {
            let e = event(
                format!("pay{invoice}-{attempt}"),
                1,
                60 * 24 * (20 + attempt) + invoice,
                json!({"type": "payment.failed", "payment": {
                    "invoice_id": format!("in_2026110{invoice}_ABCDEFGH"),
                    "amount_minor": 14900, "currency": "USD", "attempt": attempt + 1,
                    "failure_code": "insufficient_funds", "advice_code": "try_again_later"}}),
            );
            dunning.apply(&e).unwrap();
        }
    }
    let dunning_item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(CustomerItem::from_state(
            &dunning,
            typical.version,
            env.names.index_shards,
        ))
        .unwrap();

    // The same customer after a year of asking to cancel: four requests, each answered (an
    // offer accepted, a withdrawal, a confirmation, a cancellation by the billing system).
    let mut holding = typical.value.clone();
    let answers = [
        (
            "cancellation.withdrawn",
            json!({"offer_id": "downgrade-basic"}),
        ),
        ("cancellation.withdrawn", json!({})),
        ("cancellation.confirmed", json!({})),
        ("cancellation.withdrawn", json!({})),
    ];
    for (n, (kind, extra)) in answers.into_iter().enumerate() {
        let sub = json!("sub_2026_ABCDEFGH");
        let asked = event(
            format!("cx{n}"),
            1,
            60 * 24 * (30 + 60 * n as i64),
            json!({"type": "cancellation.requested", "cancellation": {
                "subscription_id": sub, "reason": "too_expensive", "effective": "period_end",
                "period_end": "2026-12-01T00:00:00Z"}}),
        );
        let mut answer = json!({"subscription_id": sub});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            answer[k] = v;
        }
        let answered = event(
            format!("cx{n}-answer"),
            1,
            60 * 24 * (32 + 60 * n as i64),
            json!({"type": kind, "cancellation": answer}),
        );
        holding.apply(&asked).unwrap();
        holding.apply(&answered).unwrap();
    }
    let holding_item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(CustomerItem::from_state(
            &holding,
            typical.version,
            env.names.index_shards,
        ))
        .unwrap();

    let balance_events = CUSTOMERS * EVENTS_PER_CUSTOMER;
    let report = json!({
        "events_in_order": in_order.len(),
        "requests_per_in_order_event": per_event(&in_order_stats, in_order.len()),
        "requests_per_duplicate": per_event(&duplicate_stats, in_order.len()),
        "requests_per_late_event": per_event(&late_stats, late.len()),
        "balance_events": balance_events,
        "episode_transitions (index writes)": transitions,
        "index_writes_per_balance_event": (transitions as f64 / balance_events as f64 * 1000.0).round() / 1000.0,
        "typical_customer_item_bytes": item_size(&item),
        "typical_customer_past_due": typical.value.is_past_due(),
        "customer_with_two_failing_invoices_item_bytes": item_size(&dunning_item),
        "customer_with_four_answered_cancellations_item_bytes": item_size(&holding_item),
        "ingest_events_per_sec_against_moto": (in_order.len() as f64 / elapsed.as_secs_f64()).round(),
    });
    println!("{report:#}");
}
