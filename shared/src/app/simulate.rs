//! `rulekit simulate`: a replay on a virtual clock. Events are ingested in `received_at` order,
//! interleaved with every tenant's daily run instants, and each run is followed by the executor,
//! so the store sees exactly what it would have seen live (SPEC §5).

use super::evaluate::evaluate_tenant_day;
use super::execute::{ExecuteError, ExecuteReport, execute_pending, publish_guardrail_alerts};
use super::ingest::{IngestError, IngestOutcome, ingest_event};
use crate::domain::{Automation, AutomationsFile, Decision, Event, FieldError, TenantId};
use crate::ports::{
    ActionPublisher, AutomationAdmin, AutomationStore, CandidateSource, CustomerStore,
    DecisionStore, StoreError, StoreOnly,
};
use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

#[derive(Debug, Clone, Copy)]
pub struct SimulationPlan<'a> {
    /// The events in input order.
    pub events: &'a [Event],
    pub config: &'a AutomationsFile,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Default)]
pub struct SimulationReport {
    /// Every decision, sorted by date, tenant, customer, automation and threshold.
    pub decisions: Vec<Decision>,
    pub accepted: usize,
    pub duplicates: usize,
    /// Events the store refused, by their index in the input, with the reason.
    pub rejected: Vec<(usize, FieldError)>,
    pub executed: ExecuteReport,
    pub alerts: usize,
    pub runs: usize,
}

#[derive(Debug, Error)]
pub enum SimulationError {
    #[error("--to {to} is before --from {from}")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest failed: {0}")]
    Ingest(IngestError),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
}

/// Stores the tenant settings and automations of `config` for a simulation from `from`: an
/// automation with no `active_from` is active from the first simulated day (SPEC §4 defaults).
pub async fn store_config<S: AutomationAdmin>(
    store: &S,
    config: &AutomationsFile,
    from: NaiveDate,
) -> Result<(), StoreError> {
    for settings in &config.tenants {
        store.put_settings(settings).await?;
    }
    for a in &config.automations {
        let automation = Automation {
            active_from: Some(a.active_from.unwrap_or(from)),
            ..a.clone()
        };
        store.put_automation(&automation).await?;
    }
    Ok(())
}

/// Pairs of input indexes that reuse one event id (within a tenant) for different events.
/// A simulation refuses such input up front, since which one wins would depend on arrival.
pub fn conflicting_event_ids(events: &[Event]) -> Vec<(usize, usize)> {
    let mut first: std::collections::HashMap<(&TenantId, &str), usize> =
        std::collections::HashMap::new();
    let mut conflicts = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match first.entry((&e.tenant_id, e.event_id().as_str())) {
            std::collections::hash_map::Entry::Occupied(o) => {
                if !events[*o.get()].same_payload(e) {
                    conflicts.push((*o.get(), i));
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    conflicts
}

/// Runs the plan against a store already holding the plan's settings and automations.
pub async fn simulate<S, P>(
    store: &S,
    publisher: &P,
    plan: SimulationPlan<'_>,
) -> Result<SimulationReport, SimulationError>
where
    S: CustomerStore + CandidateSource + AutomationStore + DecisionStore,
    P: ActionPublisher,
{
    if plan.to < plan.from {
        return Err(SimulationError::EmptyRange {
            from: plan.from,
            to: plan.to,
        });
    }
    let mut runs: Vec<(DateTime<Utc>, TenantId, NaiveDate)> = Vec::new();
    for tenant in plan.config.tenant_ids() {
        let calendar = plan.config.settings(&tenant).calendar;
        for date in plan.from.iter_days().take_while(|d| *d <= plan.to) {
            runs.push((calendar.run_instant(date), tenant.clone(), date));
        }
    }
    runs.sort();

    let mut arrival: Vec<usize> = (0..plan.events.len()).collect();
    arrival.sort_by_key(|&i| plan.events[i].received_at);
    let mut arrivals = arrival.into_iter().peekable();

    let mut report = SimulationReport::default();
    for (instant, tenant, date) in runs {
        // A run sees the events received before its instant.
        while let Some(i) = arrivals.next_if(|&i| plan.events[i].received_at < instant) {
            ingest_one(store, plan.events, i, &mut report).await?;
        }
        let day = evaluate_tenant_day(store, &tenant, date, false).await?;
        report.alerts += publish_guardrail_alerts(publisher, &day.holds).await?;
        report.decisions.extend(day.decisions);
        let executed = execute_pending(store, publisher, &StoreOnly, instant, usize::MAX).await?;
        report.executed += executed;
        report.runs += 1;
    }
    // Later events change no decision in the range but leave the store complete.
    for i in arrivals {
        ingest_one(store, plan.events, i, &mut report).await?;
    }
    report
        .decisions
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(report)
}

async fn ingest_one<S: CustomerStore>(
    store: &S,
    events: &[Event],
    i: usize,
    report: &mut SimulationReport,
) -> Result<(), SimulationError> {
    match ingest_event(store, &events[i]).await {
        Ok(IngestOutcome::Accepted(_)) => report.accepted += 1,
        Ok(IngestOutcome::Duplicate) => report.duplicates += 1,
        Err(IngestError::Rejected(reason)) => report.rejected.push((i, reason)),
        Err(e) => return Err(SimulationError::Ingest(e)),
    }
    Ok(())
}
