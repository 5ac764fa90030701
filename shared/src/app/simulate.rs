//! `rulekit simulate`: a replay on a virtual clock. Events are ingested in `received_at` order,
//! interleaved with every tenant's daily run instants, and each run is followed by the executor,
//! so the store sees exactly what it would have seen live (SPEC §5).
//!
//! The events come as a stream in arrival order, so a backtest of millions of events need not
//! hold them all at once: the caller decides how they are read (the CLI reads the file twice,
//! once to check and order it and once to stream it; tests pass a slice through
//! [`in_arrival_order`]).

use super::evaluate::evaluate_tenant_day;
use super::execute::{ExecuteError, ExecuteReport, execute_pending, publish_guardrail_alerts};
use super::ingest::{IngestError, IngestOutcome, ingest_event};
use super::report::aging::record_aging;
use crate::domain::{Automation, AutomationsFile, Decision, Event, FieldError, Outcome, TenantId};
use crate::ports::{
    ActionPublisher, AutomationAdmin, AutomationStore, CandidateSource, CustomerStore,
    DecisionStore, ReportRecords, StoreError, StoreOnly,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::collections::BTreeMap;
use thiserror::Error;

/// What a simulation replays.
#[derive(Debug)]
pub struct SimulationPlan<'a, A> {
    pub config: &'a AutomationsFile,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The events in the order they arrive (`received_at` never decreasing), each with a
    /// number that names it in the report (the CLI's: its line in the file).
    pub arrivals: A,
}

/// What a simulation did, besides its decisions (which it hands to its [`Observer`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimulationReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// Events the store refused, by their number, with the reason.
    pub rejected: Vec<(usize, FieldError)>,
    pub executed: ExecuteReport,
    pub alerts: usize,
    pub runs: usize,
    pub decisions: usize,
    pub fired: usize,
    pub held: usize,
    /// Live firings waiting for an approval nobody gives in a simulation.
    pub awaiting_approval: usize,
}

/// What a simulation tells its caller as it goes. Decisions are handed out a date at a time,
/// once every tenant's run of the date is done, so a backtest of millions of decisions never
/// holds them all (the CLI prints each date as it completes).
pub trait Observer {
    /// The decisions of `date`, sorted by tenant, customer, automation and threshold. Dates
    /// come in order.
    fn decisions(&mut self, date: NaiveDate, decisions: Vec<Decision>);

    /// After each daily run.
    fn progress(&mut self, _progress: Progress) {}
}

/// Keeps every decision, in the order printed (for tests and small replays).
impl Observer for Vec<Decision> {
    fn decisions(&mut self, _date: NaiveDate, decisions: Vec<Decision>) {
        self.extend(decisions);
    }
}

/// How far a simulation has come, after each daily run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub runs: usize,
    pub runs_total: usize,
    pub events: usize,
    pub decisions: usize,
}

#[derive(Debug, Error)]
pub enum SimulationError {
    #[error("--to {to} is before --from {from}")]
    EmptyRange { from: NaiveDate, to: NaiveDate },
    #[error("event {number} arrives before the event before it: the arrivals are not in order")]
    OutOfOrder { number: usize },
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

/// `events` in the order they arrive: by `received_at`, ties in input order, each numbered by
/// its index in `events`.
pub fn in_arrival_order(events: &[Event]) -> impl Iterator<Item = (usize, Event)> + '_ {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].received_at);
    order.into_iter().map(move |i| (i, events[i].clone()))
}

/// Runs the plan against a store already holding the plan's settings and automations,
/// telling `observer` the decisions of each date and how far it has come.
pub async fn simulate<S, P, A, O>(
    store: &S,
    publisher: &P,
    plan: SimulationPlan<'_, A>,
    observer: &mut O,
) -> Result<SimulationReport, SimulationError>
where
    S: CustomerStore + CandidateSource + AutomationStore + DecisionStore + ReportRecords,
    P: ActionPublisher,
    A: Iterator<Item = (usize, Event)>,
    O: Observer,
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
    let runs_total = runs.len();
    // The decisions of each date wait for the last tenant's run of it.
    let tenants = plan.config.tenant_ids().len();
    let mut dates: BTreeMap<NaiveDate, (usize, Vec<Decision>)> = BTreeMap::new();

    let mut arrivals = Ordered {
        inner: plan.arrivals.peekable(),
        last: None,
    };
    let mut report = SimulationReport::default();
    let mut events = 0;
    for (instant, tenant, date) in runs {
        // A run sees the events received before its instant.
        while let Some((number, event)) = arrivals.next_before(instant)? {
            ingest_one(store, number, &event, &mut report).await?;
            events += 1;
        }
        let day = evaluate_tenant_day(store, &tenant, date, None).await?;
        // The weekly job's aging table, recorded on Mondays as the deployment's schedule does.
        if date.weekday() == chrono::Weekday::Mon {
            record_aging(store, &tenant, date).await?;
        }
        report.alerts += publish_guardrail_alerts(publisher, &day.holds).await?;
        report.decisions += day.decisions.len();
        report.fired += count(&day.decisions, &Outcome::Fired);
        report.held += count(&day.decisions, &Outcome::Held);
        report.awaiting_approval += day.decisions.iter().filter(|d| d.awaits_approval()).count();
        let (runs_done, decided) = dates.entry(date).or_default();
        *runs_done += 1;
        decided.extend(day.decisions);
        while let Some(entry) = dates.first_entry() {
            if entry.get().0 < tenants {
                break;
            }
            let (date, (_, mut decided)) = entry.remove_entry();
            decided.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            observer.decisions(date, decided);
        }
        let executed = execute_pending(store, publisher, &StoreOnly, instant, usize::MAX).await?;
        report.executed += executed;
        report.runs += 1;
        observer.progress(Progress {
            runs: report.runs,
            runs_total,
            events,
            decisions: report.decisions,
        });
    }
    // Later events change no decision in the range but leave the store complete.
    while let Some((number, event)) = arrivals.next_before(DateTime::<Utc>::MAX_UTC)? {
        ingest_one(store, number, &event, &mut report).await?;
    }
    Ok(report)
}

fn count(decisions: &[Decision], outcome: &Outcome) -> usize {
    decisions.iter().filter(|d| d.outcome == *outcome).count()
}

/// The arrivals, held to their promise of order.
struct Ordered<A: Iterator<Item = (usize, Event)>> {
    inner: std::iter::Peekable<A>,
    last: Option<DateTime<Utc>>,
}

impl<A: Iterator<Item = (usize, Event)>> Ordered<A> {
    /// The next event if it was received before `instant`.
    fn next_before(
        &mut self,
        instant: DateTime<Utc>,
    ) -> Result<Option<(usize, Event)>, SimulationError> {
        let Some((number, event)) = self.inner.next_if(|(_, e)| e.received_at < instant) else {
            return Ok(None);
        };
        if self.last.is_some_and(|last| event.received_at < last) {
            return Err(SimulationError::OutOfOrder { number });
        }
        self.last = Some(event.received_at);
        Ok(Some((number, event)))
    }
}

async fn ingest_one<S: CustomerStore + AutomationStore>(
    store: &S,
    number: usize,
    event: &Event,
    report: &mut SimulationReport,
) -> Result<(), SimulationError> {
    match ingest_event(store, event).await {
        Ok(IngestOutcome::Accepted(_)) => report.accepted += 1,
        Ok(IngestOutcome::Duplicate) => report.duplicates += 1,
        Err(IngestError::Rejected(reason)) => report.rejected.push((number, reason)),
        Err(e) => return Err(SimulationError::Ingest(e)),
    }
    Ok(())
}
