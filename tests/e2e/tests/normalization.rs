//! Metadata normalization (SPEC §8.7) against DynamoDB on the local emulator: a
//! re-normalization of 5,000 stored customers after a rules change, stopped half way by its
//! budget, stopped again mid-page by a store that fails after writes landed, and resumed while
//! ingest goes on: every profile normalized by the new rules, each once, the change log
//! complete, no event lost.

use e2e::contract::profile;
use e2e::proxy::{self, Faults};
use e2e::{Env, emulator_endpoint};
use futures_util::StreamExt;
use serde_json::json;
use shared::app::ingest::{IngestOutcome, ingest_batch};
use shared::app::normalize::{Budget, SEGMENTS, renormalize, status};
use shared::domain::normalize::{Cause, ChangeRecord};
use shared::domain::{CustomerId, Event, EventId, TenantId, TenantSettings};
use shared::ports::{AutomationAdmin, CustomerStore, NormalizationStore, Segment};
use std::collections::{BTreeMap, BTreeSet};

const CUSTOMERS: usize = 5_000;

fn settings(normalization: serde_json::Value) -> TenantSettings {
    TenantSettings::from_json(&json!({"tenant_id": "t1", "normalization": normalization})).unwrap()
}

fn metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Ingests `events`, each stored: accepted, or a duplicate when the emulator, slow under the
/// concurrent run, answered too late and the SDK's retry found its own write.
async fn ingest_all(store: &shared::adapters::DynamoStore, events: &[Event]) {
    for chunk in events.chunks(100) {
        for result in ingest_batch(store, chunk).await {
            assert!(
                matches!(
                    result,
                    Ok(IngestOutcome::Accepted(_) | IngestOutcome::Duplicate)
                ),
                "{result:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_renormalization_is_interrupted_and_resumed_under_ingest_should_normalize_each_once()
{
    let env = Env::new("renormalize").await;
    let store = env.store();
    let tenant = TenantId::new("t1");
    store
        .put_settings(&settings(
            json!({"rules": [{"type": "key_case", "case": "snake_case"}]}),
        ))
        .await
        .unwrap();
    let plans = ["Premium ", "gold", " Silver", "prem"];
    let first: Vec<Event> = (0..CUSTOMERS)
        .map(|n| {
            profile(
                "t1",
                &format!("p{n}"),
                &format!("c{n:05}"),
                "2026-11-01T12:00:00Z",
                json!({"Plan Name": plans[n % 4], "Region": "EU"}),
            )
        })
        .collect();
    ingest_all(&store, &first).await;

    // The rules change: `plan_name` becomes `plan`, its values cleaned and mapped.
    let v2 = settings(json!({"version": 2, "rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values"},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold", "prem": "gold"}}]}));
    store.put_settings(&v2).await.unwrap();
    let now: chrono::DateTime<chrono::Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
    let clean = |plan: &str| metadata(&[("plan", plan), ("region", "eu")]);

    // Half way: the invocation's budget ends.
    let budget = Budget {
        pages: 6,
        page_items: 500,
        deadline: None,
    };
    let half = renormalize(&store, &v2, now, budget).await.unwrap();
    assert!(!half.is_done());
    let changed_half: u64 = half.segments.iter().map(|s| s.changed).sum();
    assert!(
        (1_000..4_000).contains(&changed_half),
        "{changed_half} of {CUSTOMERS} after the first budget"
    );

    // Then a run on a store that loses one answer in ten after the write landed (each
    // retried: a conflict with itself, read again) and refuses every write of one customer
    // still to do: it stops mid-page, after writes its checkpoint does not know of.
    let mut stuck = None;
    for n in 0..CUSTOMERS {
        let id = CustomerId::new(format!("c{n:05}"));
        let state = store.load_customer(&tenant, &id).await.unwrap().unwrap();
        if !state.value.is_normalized_under(&v2.normalization) {
            stuck = Some(format!("T#t1#C#{id}\""));
            break;
        }
    }
    let faulty = proxy::start(
        &emulator_endpoint(),
        Faults {
            fail_after_forward_percent: 10,
            fail_when_body_contains: stuck,
            seed: 11,
            ..Faults::default()
        },
    )
    .await;
    let broken = renormalize(
        &env.store_via(&faulty.endpoint),
        &v2,
        now,
        Budget::UNBOUNDED,
    )
    .await;
    assert!(broken.is_err(), "the faulty store stops the run");
    assert!(faulty.stats.injected() > 0);

    // Resumed while ingest goes on: new profiles for 300 customers (some normalized by the
    // run already, some not) and 100 customers that did not exist.
    let later: Vec<Event> = (0..300)
        .map(|n| n * 16)
        .chain(CUSTOMERS..CUSTOMERS + 100)
        .map(|n| {
            profile(
                "t1",
                &format!("q{n}"),
                &format!("c{n:05}"),
                "2026-11-10T12:00:00Z",
                json!({"plan_name": "PREM", "region": "EU "}),
            )
        })
        .collect();
    let (resumed, ()) = tokio::join!(
        renormalize(&store, &v2, now, Budget::UNBOUNDED),
        ingest_all(&store, &later)
    );
    let resumed = resumed.unwrap();
    assert!(resumed.is_done());
    let done = status(&store, &tenant, &v2.normalization).await.unwrap();
    assert!(done.is_done());

    // Every profile is the new rules', read back from the table.
    let touched: BTreeSet<usize> = (0..300).map(|n| n * 16).collect();
    let mut seen = 0;
    for index in 0..SEGMENTS {
        let segment = Segment {
            index,
            total: SEGMENTS,
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .scan_customers(&tenant, segment, cursor.as_deref(), 1_000)
                .await
                .unwrap();
            for c in &page.customers {
                let n: usize = c.value.customer_id.as_str()[1..].parse().unwrap();
                let expected = if touched.contains(&n) || n >= CUSTOMERS {
                    clean("gold")
                } else {
                    clean(match plans[n % 4] {
                        "gold" | "Premium " | "prem" => "gold",
                        _ => "silver",
                    })
                };
                assert_eq!(c.value.metadata(), Some(&expected), "customer {n}");
                seen += 1;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    assert_eq!(seen, CUSTOMERS + 100);

    // The change log, customer by customer: the event that first set the profile, the
    // later event if there was one, and one entry of the run at most: exactly one for every
    // customer no later event normalized first, none for a customer created under the new
    // rules.
    let logs: Vec<(usize, Vec<ChangeRecord>)> = futures_util::stream::iter(0..CUSTOMERS + 100)
        .map(|n| {
            let store = &store;
            let tenant = &tenant;
            async move {
                let id = CustomerId::new(format!("c{n:05}"));
                (n, store.customer_changes(tenant, &id).await.unwrap())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut by_run = 0u64;
    for (n, log) in logs {
        let runs: Vec<&ChangeRecord> = log
            .iter()
            .filter(|r| r.cause == Cause::Renormalization)
            .collect();
        by_run += runs.len() as u64;
        assert!(
            runs.iter()
                .all(|r| r.rules_version == 2 && r.date == now.date_naive())
        );
        let events: Vec<String> = log
            .iter()
            .filter_map(|r| match &r.cause {
                Cause::Event(id) => Some(id.to_string()),
                Cause::Renormalization => None,
            })
            .collect();
        if n >= CUSTOMERS {
            assert_eq!(
                (runs.len(), events),
                (0, vec![format!("q{n}")]),
                "customer {n}"
            );
        } else if touched.contains(&n) {
            assert!(runs.len() <= 1, "customer {n} normalized twice by the run");
            assert_eq!(events, [format!("p{n}"), format!("q{n}")], "customer {n}");
        } else {
            assert_eq!(
                (runs.len(), events),
                (1, vec![format!("p{n}")]),
                "customer {n}"
            );
        }
    }
    // The checkpoints count the writes of the pages they completed: not those of the page the
    // failing run stopped in, which the resumed run found done.
    let changed: u64 = done.segments.iter().map(|s| s.changed).sum();
    assert!(
        changed <= by_run && by_run <= CUSTOMERS as u64,
        "{changed} {by_run}"
    );

    // Nothing lost: every later event is stored, and its profile is in the log too.
    let ids: Vec<EventId> = later.iter().map(|e| e.event_id().clone()).collect();
    assert_eq!(store.stored_events(&tenant, &ids).await.unwrap().len(), 400);
    let log = store
        .customer_changes(&tenant, &CustomerId::new("c00016"))
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|r| r.cause == Cause::Event(EventId::new("q16")) && r.rules_version == 2),
        "{log:?}"
    );
}
