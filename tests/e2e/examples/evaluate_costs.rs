//! The daily run's DynamoDB reads: they grow with the customers at a threshold, not with all
//! customers (BENCHMARKS.md). Seeds two populations with about 1% crossing a threshold on the
//! evaluated day, evaluates that day through a counting proxy, and compares with reading the
//! same table by Scan; then the same for payment clocks (SPEC §8.1): 1% of the customers with
//! an invoice whose payment failed the day before (its day-1 step due), a fifth with older
//! failures no step window covers. Run with the emulator up:
//!
//! ```sh
//! scripts/with-emulator cargo run --release -p e2e --example evaluate_costs
//! ```

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use e2e::{Env, emulator_endpoint, proxy};
use serde_json::json;
use shared::adapters::dynamodb::items::{CustomerItem, StartedItem};
use shared::app::evaluate::{DayReport, evaluate_tenant_day};
use shared::domain::customer::{BalancePoint, Episode, SubscriptionState};
use shared::domain::event::{PaymentFailure, SubscriptionStatus};
use shared::domain::{
    Automation, Currency, CustomerId, CustomerState, EventId, EventKey, Money, Outcome, TenantId,
    TenantSettings,
};
use shared::ports::AutomationAdmin;

fn key(at: chrono::DateTime<Utc>, id: String) -> EventKey {
    EventKey {
        occurred_at: at,
        event_id: EventId::new(id),
    }
}

/// Customer `n`: one in a hundred became past due exactly 14 days before `day`; the others
/// are either paid up or past due since a date no threshold window covers.
fn customer(n: usize, day: NaiveDate) -> CustomerState {
    let tenant = TenantId::new("bench");
    let mut s = CustomerState::new(tenant, CustomerId::new(format!("cus_{n:06}")));
    let noon = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap());
    let start = match n % 100 {
        0 => Some(day - Duration::days(14)),
        1..=19 => Some(day - Duration::days(40 + (n % 300) as i64)),
        _ => None,
    };
    let usd = Currency::parse("USD").unwrap();
    let at = start.map_or(noon(day - Duration::days(3)), noon);
    s.balance = Some(BalancePoint {
        key: key(at, format!("b{n}")),
        balance: Money::new(if start.is_some() { -4900 } else { 0 }, usd),
    });
    if start.is_some() {
        s.past_due = Some(Episode {
            start: key(at, format!("b{n}")),
        });
        s.clock = s.past_due.clone();
    }
    std::sync::Arc::make_mut(&mut s.subscriptions).push(SubscriptionState {
        id: "sub_1".into(),
        status: SubscriptionStatus::Active,
        updated: key(noon(day - Duration::days(400)), format!("s{n}")),
    });
    s
}

/// Customer `n` of the payment population: one in a hundred had an invoice fail the day
/// before `day`; a fifth had one fail long before; the others none.
fn payer(n: usize, day: NaiveDate) -> CustomerState {
    let mut s = CustomerState::new(
        TenantId::new("bench"),
        CustomerId::new(format!("cus_{n:06}")),
    );
    let noon = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap());
    let failed = match n % 100 {
        0 => Some(day - Duration::days(1)),
        1..=19 => Some(day - Duration::days(40 + (n % 300) as i64)),
        _ => None,
    };
    if let Some(d) = failed {
        let failure = std::sync::Arc::new(PaymentFailure {
            invoice_id: format!("in_{n}"),
            amount: Money::new(4900, Currency::parse("USD").unwrap()),
            attempt: Some(1),
            failure_code: Some("insufficient_funds".into()),
            advice_code: None,
        });
        let event = shared::domain::Event {
            tenant_id: s.tenant_id.clone(),
            customer_id: s.customer_id.clone(),
            key: key(noon(d), format!("p{n}")),
            received_at: noon(d),
            body: shared::domain::EventBody::PaymentFailed(failure),
        };
        s.apply(&event).unwrap();
    }
    s
}

async fn seed(env: &Env, customers: usize, day: NaiveDate) {
    seed_states(env, (0..customers).map(|n| customer(n, day))).await;
}

/// Puts each state's item, and its payment-clock index entries, as ingest would have.
async fn seed_states(env: &Env, states: impl Iterator<Item = CustomerState>) {
    let client = aws_sdk_dynamodb::Client::new(&env.sdk);
    let shards = env.names.index_shards;
    let put = |item| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
            .build()
    };
    let items: Vec<WriteRequest> = states
        .flat_map(|state| {
            let mut items = vec![put(serde_dynamo::to_item(CustomerItem::from_state(
                &state, 1, shards,
            ))
            .unwrap())];
            for start in state.payment_clock_starts() {
                items.push(put(serde_dynamo::to_item(StartedItem::new(
                    &state, 0, start, shards,
                ))
                .unwrap()));
            }
            items
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(&env.names.table, pending)
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&env.names.table))
                .unwrap_or_default();
        }
    }
}

/// Tenant `bench`'s run of `day` through a proxy counting its requests: the proxy, the
/// report and how many fired.
async fn counted_run(env: &Env, day: NaiveDate) -> (proxy::Proxy, DayReport, usize) {
    let counting = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let report = evaluate_tenant_day(
        &env.store_via(&counting.endpoint),
        &TenantId::new("bench"),
        day,
        None,
    )
    .await
    .unwrap();
    let fired = report
        .decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Fired)
        .count();
    (counting, report, fired)
}

async fn measure(customers: usize) -> serde_json::Value {
    let env = Env::new(&format!("eval-costs-{customers}")).await;
    let day: NaiveDate = "2026-11-15".parse().unwrap();
    let store = env.store();
    let mut settings = TenantSettings::defaults(TenantId::new("bench"));
    settings.guardrail.min_count = 1_000_000_000;
    store.put_settings(&settings).await.unwrap();
    let automation = Automation::from_json(&json!({"id": "a1", "tenant_id": "bench",
        "name": "14/30", "active_from": "2026-01-01", "trigger": {"type": "past_due"},
        "actions": [{"type": "notify", "channel": "finance"}]}))
    .unwrap();
    store.put_automation(&automation).await.unwrap();
    seed(&env, customers, day).await;

    let (counting, report, fired) = counted_run(&env, day).await;
    let index_reads = counting.stats.requests();

    // The same day by Scan: every item of the table is read.
    counting.stats.reset();
    let scan_client = {
        // A Scan page of the whole table can take longer on the emulator than the bounds
        // RuleKit's own calls have: this comparison is not one of them.
        let config = aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .endpoint_url(&counting.endpoint)
            .timeout_config(aws_config::timeout::TimeoutConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    };
    let scanned: usize = scan_client
        .scan()
        .table_name(&env.names.table)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|page| page.scanned_count() as usize)
        .sum();
    json!({
        "customers": customers,
        "fired": fired,
        "index_run": {
            "requests": index_reads,
            "items_read": report.candidates_read,
        },
        "scan": {
            "requests": counting.stats.requests(),
            "items_read": scanned,
        },
    })
}

async fn measure_payments(customers: usize) -> serde_json::Value {
    let env = Env::new(&format!("eval-pay-costs-{customers}")).await;
    let day: NaiveDate = "2026-11-15".parse().unwrap();
    let store = env.store();
    let mut settings = TenantSettings::defaults(TenantId::new("bench"));
    settings.guardrail.min_count = 1_000_000_000;
    store.put_settings(&settings).await.unwrap();
    let automation = Automation::from_json(&json!({"id": "dun", "tenant_id": "bench",
        "name": "dunning", "active_from": "2026-01-01",
        "trigger": {"type": "payment_failed", "catch_up_days": 1},
        "segments": [
            {"name": "hard", "when": [{"field": "payment.failure_category", "op": "eq", "value": "hard"}],
             "steps": [{"name": "update-card", "day": 0,
                        "actions": [{"type": "message", "template_id": "update-card"}]}]},
            {"name": "standard",
             "steps": [{"name": "retry-1", "day": 1, "actions": [{"type": "retry_payment"}]},
                       {"name": "retry-2", "day": 4, "actions": [{"type": "retry_payment"}]}]}]}))
    .unwrap();
    store.put_automation(&automation).await.unwrap();
    seed_states(&env, (0..customers).map(|n| payer(n, day))).await;

    let (counting, report, fired) = counted_run(&env, day).await;
    json!({
        "customers": customers,
        "payment_clocks_running": customers / 100 + customers * 19 / 100,
        "fired": fired,
        "index_run": {
            "requests": counting.stats.requests(),
            "items_read": report.candidates_read,
        },
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("population sizes"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let mut results = Vec::new();
    for &n in &sizes {
        results.push(measure(n).await);
    }
    for &n in &sizes {
        results.push(measure_payments(n).await);
    }
    println!("{:#}", serde_json::Value::Array(results));
}
