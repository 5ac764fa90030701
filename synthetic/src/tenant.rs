use serde_json::{Value, json};
use shared::app::evaluate::{DayReport, evaluate_tenant_day};
use shared::app::ingest::ingest_event;
use shared::domain::{Automation, Event, TenantId, TenantSettings};
use shared::ports::{
    AutomationAdmin, AutomationStore, CandidateSource, CustomerStore, DecisionStore,
};

/// Tenant `t1` with one automation, `a1` (active from 2026-10-01, no active subscription
/// required), and customers `c000`, `c001`, … where customer `n` owes 50.00 USD from
/// `starts[n]` (balance event `e{n}`).
///
/// The methods panic when the store fails: this sets up tests and benches.
#[derive(Debug, Clone)]
pub struct PastDueTenant {
    settings: Value,
    actions: Value,
    starts: Vec<String>,
}

impl PastDueTenant {
    /// `customers` customers past due from `start`; the automation notifies finance; the
    /// tenant has the default settings (UTC, evaluated at midnight, the default guardrail).
    pub fn new(customers: usize, start: &str) -> Self {
        Self::starting(&vec![start; customers])
    }

    /// One customer past due from each of `starts`.
    pub fn starting(starts: &[&str]) -> Self {
        Self {
            settings: json!({}),
            actions: json!([{"type": "notify", "channel": "finance"}]),
            starts: starts.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The missed-runs scenario: tenant t1 in New York, evaluated at 06:00, with four
    /// customers who cross 14 days past due on 11-12, 11-13, 11-14 and 11-15 (2026).
    pub fn missed_runs() -> Self {
        Self::starting(&[
            "2026-10-29T17:00:00Z",
            "2026-10-30T17:00:00Z",
            "2026-10-31T17:00:00Z",
            "2026-11-01T17:00:00Z",
        ])
        .settings(json!({"timezone": "America/New_York", "evaluation_hour": 6}))
    }

    /// The tenant's settings document, without `tenant_id` (e.g. a time zone, a guardrail).
    pub fn settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }

    /// The automation's actions (notify finance by default).
    pub fn actions(mut self, actions: Value) -> Self {
        self.actions = actions;
        self
    }

    pub fn tenant() -> TenantId {
        TenantId::new("t1")
    }

    /// Writes the settings and the automation, and ingests each customer's balance event.
    pub async fn seed<S: CustomerStore + AutomationAdmin + AutomationStore>(&self, store: &S) {
        let mut settings = self.settings.clone();
        settings["tenant_id"] = json!("t1");
        let settings = TenantSettings::from_json(&settings).expect("valid tenant settings");
        store
            .put_settings(&settings)
            .await
            .expect("settings stored");
        let automation = Automation::from_json(&json!({"id": "a1", "tenant_id": "t1",
            "name": "Past due", "active_from": "2026-10-01",
            "trigger": {"type": "past_due", "require_active_subscription": false},
            "actions": self.actions}))
        .expect("valid automation");
        store
            .put_automation(&automation)
            .await
            .expect("automation stored");
        for (n, start) in self.starts.iter().enumerate() {
            let event = Event::from_json(&json!({"event_id": format!("e{n}"), "tenant_id": "t1",
                "customer_id": format!("c{n:03}"), "type": "balance.changed",
                "occurred_at": start,
                "balance": {"amount_minor": -5000, "currency": "USD"}}))
            .expect("valid balance event");
            ingest_event(store, &event).await.expect("event ingested");
        }
    }

    /// [`seed`](Self::seed), then the daily run of local date `date` (`YYYY-MM-DD`), which
    /// records the firings (pending, for the executor) of everyone who crossed a threshold.
    pub async fn seed_and_evaluate<S>(&self, store: &S, date: &str) -> DayReport
    where
        S: CustomerStore
            + AutomationAdmin
            + CandidateSource
            + AutomationStore
            + DecisionStore
            + shared::ports::ReportRecords,
    {
        self.seed(store).await;
        let date = date.parse().expect("a YYYY-MM-DD date");
        evaluate_tenant_day(store, &Self::tenant(), date, None)
            .await
            .expect("the day evaluated")
    }
}
