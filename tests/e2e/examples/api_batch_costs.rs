//! A 500-event `POST /v1/events` (the documented limit) through the API's router on the local
//! AWS emulator, behind a counting proxy (BENCHMARKS.md): the time and the DynamoDB requests
//! of a mixed batch (new events for 100 customers, in and out of order, some repeated within
//! the batch), then of the same batch again (all duplicates). Run with the emulator up:
//!
//! ```sh
//! scripts/with-emulator cargo run -p e2e --example api_batch_costs
//! ```

use e2e::{Env, call_api, emulator_endpoint, proxy};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// 500 events: per customer (100), a subscription, three balance events out of order, and
/// the second balance again (a repeat within the batch).
fn batch() -> Value {
    let mut events = Vec::new();
    for c in 0..100 {
        let customer = format!("cus_{c:04}");
        let balance = |n: usize, day: u32, amount: i64| {
            json!({"event_id": format!("e{c}-{n}"), "tenant_id": "t1", "customer_id": customer,
                   "type": "balance.changed", "occurred_at": format!("2026-11-{day:02}T10:00:00Z"),
                   "balance": {"amount_minor": amount, "currency": "USD"}})
        };
        events.push(json!({"event_id": format!("s{c}"), "tenant_id": "t1",
            "customer_id": customer, "type": "subscription.updated",
            "occurred_at": "2026-10-01T00:00:00Z",
            "subscription": {"id": format!("sub-{c}"), "status": "active"}}));
        events.push(balance(3, 9, -7000));
        events.push(balance(1, 1, -5000));
        events.push(balance(2, 5, -2500));
        events.push(balance(2, 5, -2500));
    }
    json!({ "events": events })
}

#[tokio::main]
async fn main() {
    let env = Env::new("api-batch-costs").await;
    let counting = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let api = api::router(
        env.store_via(&counting.endpoint),
        api::identity::IdentitySource::DevHeaders,
    );
    let body = batch();
    let mut report = BTreeMap::new();
    for run in ["mixed", "all duplicates"] {
        counting.stats.reset();
        let started = Instant::now();
        let (status, answer) = call_api(&api, "POST", "/v1/events", Some(body.clone())).await;
        let seconds = started.elapsed().as_secs_f64();
        assert!(status.is_success(), "{status}: {answer}");
        let mut results: BTreeMap<String, usize> = BTreeMap::new();
        for r in answer["results"].as_array().unwrap() {
            *results
                .entry(r["result"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        report.insert(
            run,
            json!({"seconds": (seconds * 100.0).round() / 100.0, "results": results,
                   "requests": counting.stats.requests()}),
        );
    }
    println!("{:#}", json!(report));
}
