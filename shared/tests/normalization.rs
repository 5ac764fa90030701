//! Metadata normalization (SPEC §8.7) through ingest, the daily run and the re-normalization,
//! on the in-memory store: conditions read the normalized profile, never the raw one and never
//! one normalized by older rules; the change log has one entry per profile that won.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::adapters::MemoryStore;
use shared::app::evaluate::evaluate_tenant_day;
use shared::app::ingest::{IngestOutcome, ingest_event};
use shared::app::normalize::{Budget, renormalize};
use shared::app::simulate::store_config;
use shared::domain::normalize::{Cause, Outcome};
use shared::domain::{AutomationsFile, CustomerId, EventId, TenantId, TenantSettings};
use shared::ports::{AutomationAdmin, CustomerStore, NormalizationStore};

fn profile(id: &str, customer: &str, at: &str, metadata: Value) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "customer.updated", "occurred_at": at,
           "customer": {"metadata": metadata}})
}

/// The rules of SPEC §8.7's example.
fn spec_rules() -> Value {
    json!({"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name", "tier"], "to": "plan"},
        {"type": "trim_values"},
        {"type": "lowercase_values", "keys": ["plan", "region"]},
        {"type": "map_values", "key": "plan", "map": {"premium": "gold", "prem": "gold"}},
        {"type": "allowed_values", "key": "plan", "values": ["basic", "silver", "gold"],
         "otherwise": "unknown"},
        {"type": "default", "key": "segment", "value": "standard"}]})
}

/// Tenant t1 (UTC) with `normalization` (or none) and one automation that notifies finance
/// at 14 days past due, for gold customers only.
fn gold_only(normalization: Option<Value>) -> Value {
    let mut tenant = json!({"tenant_id": "t1", "timezone": "UTC", "evaluation_hour": 6});
    if let Some(n) = normalization {
        tenant["normalization"] = n;
    }
    json!({"tenants": [tenant], "automations": [{
        "id": "gold", "tenant_id": "t1", "name": "Gold past due",
        "trigger": {"type": "past_due", "thresholds_days": [14],
                    "require_active_subscription": false},
        "conditions": [{"field": "customer.metadata.plan", "op": "eq", "value": "gold"}],
        "actions": [{"type": "notify", "channel": "finance"}]}]})
}

fn messy_customers() -> Vec<Value> {
    vec![
        balance("b1", "c1", "2026-11-01T10:00:00Z", -5000),
        profile(
            "p1",
            "c1",
            "2026-10-01T10:00:00Z",
            json!({"Plan Name": " Premium"}),
        ),
        balance("b2", "c2", "2026-11-01T10:00:00Z", -5000),
        profile("p2", "c2", "2026-10-01T10:00:00Z", json!({"tier": "GOLD "})),
        balance("b3", "c3", "2026-11-01T10:00:00Z", -5000),
        profile(
            "p3",
            "c3",
            "2026-10-01T10:00:00Z",
            json!({"plan": "silver"}),
        ),
    ]
}

#[test]
fn when_a_segment_reads_a_messy_profile_should_match_only_after_normalization() {
    let events = messy_customers();
    let raw = run(&events, &gold_only(None), "2026-11-15", "2026-11-15");
    assert!(
        raw.fired().is_empty(),
        "raw: no key is `plan` with value `gold`"
    );
    let clean = run(
        &events,
        &gold_only(Some(spec_rules())),
        "2026-11-15",
        "2026-11-15",
    );
    let fired: Vec<String> = clean.fired().into_iter().map(|f| f.1).collect();
    assert_eq!(fired, ["c1", "c2"], "c3 is silver");
    // The raw profile is kept beside the normalized one.
    let c1 = block_on(
        clean
            .store
            .load_customer(&TenantId::new("t1"), &CustomerId::new("c1")),
    )
    .unwrap()
    .unwrap()
    .value;
    assert_eq!(c1.profile().unwrap().metadata["Plan Name"], " Premium");
    assert_eq!(
        c1.metadata().unwrap().iter().collect::<Vec<_>>(),
        [
            (&"plan".to_owned(), &"gold".to_owned()),
            (&"segment".to_owned(), &"standard".to_owned())
        ]
    );
}

#[tokio::test]
async fn when_rules_change_should_evaluate_by_the_new_rules_before_and_after_the_renormalization() {
    let store = MemoryStore::new();
    let tenant = TenantId::new("t1");
    let config = AutomationsFile::from_json(&gold_only(Some(
        json!({"rules": [{"type": "trim_values"}]}),
    )))
    .unwrap();
    store_config(&store, &config, "2026-11-15".parse().unwrap())
        .await
        .unwrap();
    for e in parse_events(&messy_customers()) {
        ingest_event(&store, &e).await.unwrap();
    }
    let date = "2026-11-15".parse().unwrap();
    // The new rules are saved; nothing has re-normalized the stored profiles yet.
    let mut v2: TenantSettings = config.settings(&tenant);
    let mut r = shared::domain::fields::Reader::new();
    v2.normalization =
        shared::domain::normalize::parse_normalization(&mut r, "", &spec_rules()).unwrap();
    v2.normalization.version = 2;
    store.put_settings(&v2).await.unwrap();
    let stale = store
        .load_customer(&tenant, &CustomerId::new("c1"))
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(!stale.is_normalized_under(&v2.normalization));
    let day = evaluate_tenant_day(&store, &tenant, date, None)
        .await
        .unwrap();
    let fired: Vec<&str> = day
        .decisions
        .iter()
        .filter(|d| d.outcome == shared::domain::Outcome::Fired)
        .map(|d| d.customer_id.as_str())
        .collect();
    assert_eq!(
        fired,
        ["c1", "c2"],
        "the run normalized the stale profiles itself"
    );

    let now = "2026-11-15T07:00:00Z".parse().unwrap();
    let done = renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    assert!(done.is_done());
    assert_eq!(done.segments.iter().map(|s| s.changed).sum::<u64>(), 3);
    let c2 = store
        .load_customer(&tenant, &CustomerId::new("c2"))
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(c2.is_normalized_under(&v2.normalization));
    assert_eq!(c2.metadata().unwrap()["plan"], "gold");
    let log = store
        .customer_changes(&tenant, &CustomerId::new("c2"))
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .map(|r| (r.cause.clone(), r.rules_version))
            .collect::<Vec<_>>(),
        [
            (Cause::Event(EventId::new("p2")), 1),
            (Cause::Renormalization, 2)
        ]
    );
    // The run's entry names every change the new rules make from the raw profile.
    let renormalized = &log[1].changes;
    assert_eq!(
        renormalized
            .iter()
            .map(|c| (c.rule_type, c.key.as_str(), c.after.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("rename_key", "plan", Some("GOLD ")),
            ("trim_values", "plan", Some("GOLD")),
            ("lowercase_values", "plan", Some("gold")),
            ("default", "segment", Some("standard")),
        ]
    );
    // Again: nothing left to do, nothing logged twice.
    renormalize(&store, &v2, now, Budget::UNBOUNDED)
        .await
        .unwrap();
    assert_eq!(
        store
            .customer_changes(&tenant, &CustomerId::new("c2"))
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn when_profile_events_arrive_late_or_twice_should_log_only_the_profile_that_wins() {
    let store = MemoryStore::new();
    let tenant = TenantId::new("t1");
    let config = AutomationsFile::from_json(&gold_only(Some(json!({"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "lowercase_values", "enforce": false}]}))))
    .unwrap();
    store_config(&store, &config, "2026-11-15".parse().unwrap())
        .await
        .unwrap();
    let newer = profile(
        "p2",
        "c1",
        "2026-11-02T10:00:00Z",
        json!({"PlanName": "Gold"}),
    );
    let older = profile("p1", "c1", "2026-11-01T10:00:00Z", json!({"Tier": "Basic"}));
    let mut outcomes = Vec::new();
    for e in parse_events(&[newer.clone(), older, newer]) {
        outcomes.push(ingest_event(&store, &e).await.unwrap() == IngestOutcome::Duplicate);
    }
    assert_eq!(outcomes, [false, false, true]);
    let state = store
        .load_customer(&tenant, &CustomerId::new("c1"))
        .await
        .unwrap()
        .unwrap()
        .value;
    // A report-only rule leaves the value as it was.
    assert_eq!(state.metadata().unwrap()["plan_name"], "Gold");
    let log = store
        .customer_changes(&tenant, &CustomerId::new("c1"))
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "the older profile did not win: not logged");
    assert_eq!(
        log[0]
            .changes
            .iter()
            .map(|c| (c.rule_type, c.outcome))
            .collect::<Vec<_>>(),
        [
            ("key_case", Outcome::Changed),
            ("lowercase_values", Outcome::WouldChange)
        ]
    );
    let listed = store
        .changes_on(&tenant, "2026-11-02".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(listed, log);
}

#[tokio::test]
async fn when_a_report_only_rule_is_added_should_log_what_it_would_change_on_stored_customers_once()
{
    let store = MemoryStore::new();
    let tenant = TenantId::new("t1");
    let config = AutomationsFile::from_json(&gold_only(Some(
        json!({"rules": [{"type": "key_case", "case": "snake_case"}]}),
    )))
    .unwrap();
    store_config(&store, &config, "2026-11-15".parse().unwrap())
        .await
        .unwrap();
    let event = profile("p1", "c1", "2026-11-01T10:00:00Z", json!({"plan": "Gold"}));
    ingest_event(&store, &parse_events(&[event])[0])
        .await
        .unwrap();
    let mut v2: TenantSettings = config.settings(&tenant);
    let mut r = shared::domain::fields::Reader::new();
    v2.normalization = shared::domain::normalize::parse_normalization(
        &mut r,
        "",
        &json!({"version": 2, "rules": [{"type": "key_case", "case": "snake_case"},
            {"type": "lowercase_values", "enforce": false}]}),
    )
    .unwrap();
    store.put_settings(&v2).await.unwrap();
    let now = "2026-11-15T07:00:00Z".parse().unwrap();
    for _ in 0..2 {
        renormalize(&store, &v2, now, Budget::UNBOUNDED)
            .await
            .unwrap();
    }
    let log = store
        .customer_changes(&tenant, &CustomerId::new("c1"))
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "the profile was clean: only the run's report");
    assert_eq!(
        log[0].changes.iter().map(|c| c.outcome).collect::<Vec<_>>(),
        [Outcome::WouldChange]
    );
    let state = store
        .load_customer(&tenant, &CustomerId::new("c1"))
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(
        state.metadata().unwrap()["plan"],
        "Gold",
        "reported, not changed"
    );
    // Rules numbered 0 would read as no rules at all.
    let mut r = shared::domain::fields::Reader::new();
    let zero = shared::domain::normalize::parse_normalization(
        &mut r,
        "normalization",
        &json!({"version": 0, "rules": [{"type": "trim_values"}]}),
    );
    let err = r.finish(zero).unwrap_err();
    assert_eq!(err.0[0].field, "normalization.version");
}
