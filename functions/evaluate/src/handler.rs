//! The scheduled run. EventBridge Scheduler invokes it (hourly, so every tenant runs at its own
//! local `evaluation_hour`) with the target input
//! `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`: the schedule's time, never the
//! clock, is "now", so a retried or delayed invocation decides exactly what the on-time one
//! would have.

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use shared::adapters::emf;
use shared::app::execute::publish_guardrail_alerts;
use shared::app::schedule::run_scheduled;
use shared::domain::Outcome;
use shared::ports::{
    ActionPublisher, AutomationStore, CandidateSource, DecisionStore, RunCheckpoints,
};

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    pub scheduled_time: DateTime<Utc>,
}

/// What the run did; returned to the scheduler and logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub tenants: usize,
    pub dates_evaluated: usize,
    pub dates_caught_up: usize,
    pub firings: usize,
    pub held: usize,
    pub alerts: usize,
    pub candidates_read: usize,
}

pub struct Deps<S, P> {
    pub store: S,
    pub alerts: P,
    pub lookback_days: u32,
}

pub async fn handle<S, P>(
    deps: &Deps<S, P>,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<RunSummary, lambda_runtime::Error>
where
    S: CandidateSource + AutomationStore + DecisionStore + RunCheckpoints,
    P: ActionPublisher,
{
    let runs = run_scheduled(
        &deps.store,
        event.payload.scheduled_time,
        deps.lookback_days,
    )
    .await?;
    let mut summary = RunSummary {
        tenants: runs.len(),
        ..RunSummary::default()
    };
    let mut holds = Vec::new();
    for run in &runs {
        summary.dates_evaluated += run.dates.len();
        summary.dates_caught_up += run.dates.len().saturating_sub(1);
        for report in &run.reports {
            summary.candidates_read += report.candidates_read;
            summary.firings += report
                .decisions
                .iter()
                .filter(|d| d.outcome == Outcome::Fired)
                .count();
            summary.held += report
                .decisions
                .iter()
                .filter(|d| d.outcome == Outcome::Held)
                .count();
            holds.extend(report.holds.iter().cloned());
        }
    }
    summary.alerts = publish_guardrail_alerts(&deps.alerts, &holds).await?;
    // `GuardrailHolds` is the one to alarm on (each hold also sends an alert).
    emf::emit(
        "evaluate",
        event.payload.scheduled_time,
        &[
            ("Firings", summary.firings),
            ("FiringsHeld", summary.held),
            ("GuardrailHolds", holds.len()),
            ("DatesCaughtUp", summary.dates_caught_up),
            ("CandidatesRead", summary.candidates_read),
        ],
    );
    tracing::info!(
        scheduled_time = %event.payload.scheduled_time,
        tenants = summary.tenants,
        dates = summary.dates_evaluated,
        caught_up = summary.dates_caught_up,
        firings = summary.firings,
        held = summary.held,
        candidates_read = summary.candidates_read,
        "daily run"
    );
    Ok(summary)
}
