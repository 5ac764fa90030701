//! Builders for events and automations, and a runner that replays them through the same
//! simulation `rulekit simulate` uses, on the in-memory store.
#![allow(dead_code)]

use serde_json::{Value, json};
use shared::adapters::{MemoryPublisher, MemoryStore};
use shared::app::simulate::{
    SimulationPlan, SimulationReport, in_arrival_order, simulate, store_config,
};
use shared::domain::{AutomationId, AutomationsFile, Decision, Event, TenantId};
use shared::ports::{AdminStore, AuditEntry, DecisionStore, StoredAutomation, WriteOutcome};

/// A `balance.changed` event; `amount` is the balance after the change, in cents.
pub fn balance(id: &str, customer: &str, occurred_at: &str, amount: i64) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "balance.changed", "occurred_at": occurred_at,
           "balance": {"amount_minor": amount, "currency": "USD"}})
}

/// A `subscription.updated` event.
pub fn subscription(id: &str, customer: &str, occurred_at: &str, status: &str) -> Value {
    json!({"event_id": id, "tenant_id": "t1", "customer_id": customer,
           "type": "subscription.updated", "occurred_at": occurred_at,
           "subscription": {"id": format!("sub-{customer}"), "status": status}})
}

/// The same event, learned of at `received_at`.
pub fn received(mut event: Value, received_at: &str) -> Value {
    event["received_at"] = json!(received_at);
    event
}

/// An automations file for tenant `t1` in `timezone` with one automation `a1`, whose trigger
/// fields are overridden by `trigger` and top-level fields by `extra`.
pub fn config(timezone: &str, evaluation_hour: u32, trigger: Value, extra: Value) -> Value {
    let mut t = json!({"type": "past_due", "thresholds_days": [14, 30],
                       "require_active_subscription": true,
                       "continuity": "negative_balance", "catch_up_days": 3});
    for (k, v) in trigger.as_object().cloned().unwrap_or_default() {
        t[k] = v;
    }
    let mut a = json!({"id": "a1", "tenant_id": "t1", "name": "Past due", "trigger": t,
                       "actions": [{"type": "notify", "channel": "finance"}]});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        a[k] = v;
    }
    json!({"tenants": [{"tenant_id": "t1", "timezone": timezone,
                        "evaluation_hour": evaluation_hour}],
           "automations": [a]})
}

/// UTC tenant, 06:00 runs, thresholds 14/30, catch-up 3.
pub fn default_config() -> Value {
    config("UTC", 6, json!({}), json!({}))
}

pub struct Run {
    pub report: SimulationReport,
    /// Every decision, in the order `rulekit simulate --explain` prints them.
    pub decisions: Vec<Decision>,
    pub store: MemoryStore,
    pub publisher: MemoryPublisher,
}

impl Run {
    /// Every decision as the JSON row `rulekit simulate --explain` prints.
    pub fn rows(&self) -> Vec<Value> {
        self.decisions
            .iter()
            .map(|d| serde_json::to_value(d.row()).unwrap())
            .collect()
    }

    /// `(date, customer, threshold, days_past_due, late)` of each fired decision.
    pub fn fired(&self) -> Vec<(String, String, u64, i64, bool)> {
        self.rows()
            .iter()
            .filter(|r| r["decision"] == "fired")
            .map(|r| {
                (
                    r["date"].as_str().unwrap().to_owned(),
                    r["customer_id"].as_str().unwrap().to_owned(),
                    r["threshold_days"].as_u64().unwrap(),
                    r["days_past_due"].as_i64().unwrap(),
                    r["late"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// `(date, customer, threshold, reason)` of each skipped decision.
    pub fn skipped(&self) -> Vec<(String, String, u64, String)> {
        self.rows()
            .iter()
            .filter(|r| r["decision"] == "skipped")
            .map(|r| {
                (
                    r["date"].as_str().unwrap().to_owned(),
                    r["customer_id"].as_str().unwrap().to_owned(),
                    r["threshold_days"].as_u64().unwrap(),
                    r["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// The reasons the executor cancelled actions of tenant t1's firings for `customer`.
pub async fn cancelled<S: DecisionStore>(store: &S, customer: &str) -> Vec<String> {
    let records = store
        .customer_firings(&TenantId::new("t1"), &customer.into())
        .await
        .unwrap();
    records
        .iter()
        .flat_map(|r| r.cancelled.iter().map(|c| c.reason.clone()))
        .collect()
}

pub fn parse_events(events: &[Value]) -> Vec<Event> {
    events
        .iter()
        .map(|v| Event::from_json(v).unwrap_or_else(|e| panic!("bad test event {v}: {e}")))
        .collect()
}

/// Replays `events` and evaluates every local date from `from` to `to`.
pub fn run(events: &[Value], config: &Value, from: &str, to: &str) -> Run {
    let events = parse_events(events);
    run_parsed(&events, config, from, to)
}

pub fn run_parsed(events: &[Event], config: &Value, from: &str, to: &str) -> Run {
    let config = AutomationsFile::from_json(config).unwrap_or_else(|e| panic!("bad config: {e}"));
    let from = from.parse().unwrap();
    let to = to.parse().unwrap();
    let store = MemoryStore::new();
    block_on(store_config(&store, &config, from)).expect("config stored");
    let publisher = MemoryPublisher::new();
    let plan = SimulationPlan {
        config: &config,
        from,
        to,
        arrivals: in_arrival_order(events),
    };
    let mut decisions = Vec::new();
    let report =
        block_on(simulate(&store, &publisher, plan, &mut decisions)).expect("simulation runs");
    Run {
        report,
        decisions,
        store,
        publisher,
    }
}

/// Archives automation `id` of `tenant` as the API does (a new version, with its audit entry).
pub async fn archive<S: AdminStore>(store: &S, tenant: &TenantId, id: &str, at: &str) {
    let current = store
        .automation(tenant, &AutomationId::new(id))
        .await
        .unwrap()
        .expect("the automation exists");
    let archived = StoredAutomation {
        archived: true,
        version: current.version + 1,
        ..current.clone()
    };
    let at: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
    let audit = AuditEntry {
        tenant_id: tenant.clone(),
        id: format!("{}-test", at.format("%Y%m%dT%H%M%S%.6fZ")),
        at,
        actor: "test".to_owned(),
        action: "automation.archived".to_owned(),
        resource: format!("automations/{id}"),
        before: None,
        after: None,
    };
    let written = store.write_automation(&archived, Some(current.version), &audit);
    assert_eq!(written.await.unwrap(), WriteOutcome::Written);
}

/// Runs a future to completion on a current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// A date string `days` after `date` (for readable expectations).
pub fn plus_days(date: &str, days: i64) -> String {
    let d: chrono::NaiveDate = date.parse().unwrap();
    (d + chrono::Duration::days(days)).to_string()
}
