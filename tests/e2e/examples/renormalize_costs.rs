//! The re-normalization's DynamoDB requests and items read per customer after a rules change
//! (SPEC §8.7), measured through a counting proxy in front of the local AWS emulator
//! (BENCHMARKS.md). Run with the emulator up; the argument is the customers (default 2,000):
//!
//! ```sh
//! scripts/with-emulator cargo run -p e2e --example renormalize_costs -- 2000
//! ```

use e2e::contract::{balance, profile};
use e2e::{Env, emulator_endpoint, proxy};
use serde_json::json;
use shared::app::ingest::ingest_batch;
use shared::app::normalize::{Budget, renormalize};
use shared::domain::{Event, TenantSettings};
use shared::ports::AutomationAdmin;
use std::time::Instant;

fn settings(normalization: serde_json::Value) -> TenantSettings {
    TenantSettings::from_json(&json!({"tenant_id": "t1", "normalization": normalization})).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let customers: usize = std::env::args()
        .nth(1)
        .map_or(2_000, |n| n.parse().expect("a number of customers"));
    let env = Env::new("renorm-costs").await;
    let seeding = env.store();
    seeding
        .put_settings(&settings(
            json!({"rules": [{"type": "key_case", "case": "snake_case"}]}),
        ))
        .await
        .unwrap();
    // Each customer: a profile under rules v1 (so a change-log entry), and two balance
    // events: six items beside the state, as a real customer's table has more.
    let plans = ["Premium ", "gold", " Silver", "basic"];
    let mut events: Vec<Event> = Vec::new();
    for n in 0..customers {
        let c = format!("c{n:06}");
        events.push(profile(
            "t1",
            &format!("p{n}"),
            &c,
            "2026-11-01T10:00:00Z",
            json!({"Plan Name": plans[n % 4], "Region": "EU"}),
        ));
        events.push(balance(
            "t1",
            &format!("b{n}"),
            &c,
            "2026-11-02T10:00:00Z",
            -5000,
        ));
        events.push(balance(
            "t1",
            &format!("r{n}"),
            &c,
            "2026-11-09T10:00:00Z",
            0,
        ));
    }
    for chunk in events.chunks(100) {
        assert!(
            ingest_batch(&seeding, chunk)
                .await
                .iter()
                .all(Result::is_ok)
        );
    }
    // Ingest of a profile event under rules: what the rules cost it, measured on a fresh
    // batch of 100 profile events (new ids, the same customers).
    let proxy = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let store = env.store_via(&proxy.endpoint);
    let again: Vec<Event> = (0..100)
        .map(|n| {
            profile(
                "t1",
                &format!("u{n}"),
                &format!("c{n:06}"),
                "2026-11-10T10:00:00Z",
                json!({"PlanName": "gold"}),
            )
        })
        .collect();
    assert!(ingest_batch(&store, &again).await.iter().all(Result::is_ok));
    let ingest = proxy.stats.requests();
    proxy.stats.reset();

    let v2 = settings(json!({"version": 2, "rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values"},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold"}}]}));
    seeding.put_settings(&v2).await.unwrap();
    let now = "2026-11-20T12:00:00Z".parse().unwrap();
    let timer = Instant::now();
    let done = renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    let seconds = timer.elapsed().as_secs_f64();
    assert!(done.is_done());
    let run = proxy.stats.requests();
    proxy.stats.reset();
    // Once done, a run reads only its checkpoints.
    renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    let idle = proxy.stats.requests();

    let sum = |f: fn(&shared::ports::SegmentProgress) -> u64| -> u64 {
        done.segments.iter().map(f).sum()
    };
    let per = |n: u64| (n as f64 / customers as f64 * 1000.0).round() / 1000.0;
    let report = json!({
        "customers": customers,
        "customers_read": sum(|s| s.customers),
        "profiles_written": sum(|s| s.changed),
        "items_scanned": sum(|s| s.items_read),
        "items_scanned_per_customer": per(sum(|s| s.items_read)),
        "requests": run,
        "scan_pages_per_1000_customers": per(run.get("Scan").copied().unwrap_or(0) * 1000),
        "transact_writes_per_customer": per(run.get("TransactWriteItems").copied().unwrap_or(0)),
        "seconds_against_the_emulator": (seconds * 10.0).round() / 10.0,
        "requests_when_done": idle,
        "ingest_of_100_profile_events": ingest,
    });
    println!("{report:#}");
}
