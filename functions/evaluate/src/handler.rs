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
use shared::app::normalize::{Budget, renormalize_tenants};
use shared::app::schedule::run_scheduled;
use shared::domain::Outcome;
use shared::ports::{
    ActionPublisher, AutomationStore, CandidateSource, CustomerStore, DecisionStore,
    NormalizationStore, RunCheckpoints,
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
    /// Live firings recorded waiting for an admin's approval.
    pub awaiting_approval: usize,
    /// Approvals not given in time, now expired.
    pub approvals_expired: usize,
    pub alerts: usize,
    pub candidates_read: usize,
    /// Tenants whose run failed (each logged): the invocation then fails, so the scheduler
    /// retries it, and the retry finds only their dates still due.
    pub failed_tenants: usize,
    /// Tenants whose re-normalization after a rules change (SPEC §8.7) is still going on:
    /// the next invocations resume it.
    pub renormalizations_running: usize,
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
    S: CandidateSource
        + AutomationStore
        + CustomerStore
        + DecisionStore
        + NormalizationStore
        + RunCheckpoints,
    P: ActionPublisher,
{
    let scheduled = run_scheduled(
        &deps.store,
        event.payload.scheduled_time,
        deps.lookback_days,
    )
    .await?;
    let mut summary = RunSummary {
        tenants: scheduled.runs.len(),
        failed_tenants: scheduled.failed.len(),
        ..RunSummary::default()
    };
    let mut holds = Vec::new();
    for run in &scheduled.runs {
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
            summary.awaiting_approval += report
                .decisions
                .iter()
                .filter(|d| d.awaits_approval())
                .count();
            summary.approvals_expired += report.approvals_expired;
            holds.extend(report.holds.iter().cloned());
        }
    }
    summary.alerts = publish_guardrail_alerts(&deps.alerts, &holds).await?;
    // After the daily runs, which never wait for it (they normalize a stale profile
    // themselves): the re-normalizations, until shortly before the invocation's deadline.
    let budget = match event.context.deadline {
        // Invoked in-process (tests, by hand), with no deadline: until done.
        0 => Budget::UNBOUNDED,
        deadline => Budget::until(work_deadline(deadline)),
    };
    let renormalized =
        match renormalize_tenants(&deps.store, event.payload.scheduled_time, budget).await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "the re-normalizations could not start");
                Vec::new()
            }
        };
    let mut renormalize_failed = 0;
    for (tenant, result) in &renormalized {
        match result {
            Ok(status) => {
                if !status.is_done() {
                    summary.renormalizations_running += 1;
                }
            }
            Err(e) => {
                renormalize_failed += 1;
                tracing::error!(tenant_id = %tenant, error = %e, "a tenant's re-normalization failed");
            }
        }
    }
    // `GuardrailHolds` is the one to alarm on (each hold also sends an alert).
    emf::emit(
        "evaluate",
        event.payload.scheduled_time,
        &[
            ("Firings", summary.firings),
            ("FiringsHeld", summary.held),
            ("FiringsAwaitingApproval", summary.awaiting_approval),
            ("ApprovalsExpired", summary.approvals_expired),
            ("GuardrailHolds", holds.len()),
            ("DatesCaughtUp", summary.dates_caught_up),
            ("CandidatesRead", summary.candidates_read),
            ("TenantRunsFailed", summary.failed_tenants),
            ("RenormalizationsRunning", summary.renormalizations_running),
            ("RenormalizationsFailed", renormalize_failed),
        ],
    );
    tracing::info!(
        scheduled_time = %event.payload.scheduled_time,
        tenants = summary.tenants,
        dates = summary.dates_evaluated,
        caught_up = summary.dates_caught_up,
        firings = summary.firings,
        held = summary.held,
        awaiting_approval = summary.awaiting_approval,
        approvals_expired = summary.approvals_expired,
        candidates_read = summary.candidates_read,
        failed_tenants = summary.failed_tenants,
        renormalizations_running = summary.renormalizations_running,
        "daily run"
    );
    for (tenant, e) in &scheduled.failed {
        tracing::error!(tenant_id = %tenant, error = %e, "a tenant's daily run failed");
    }
    if !scheduled.failed.is_empty() {
        // Only after the other tenants' holds are announced.
        return Err(format!(
            "the daily run failed for {} tenant(s); the others are done",
            scheduled.failed.len()
        )
        .into());
    }
    Ok(summary)
}

/// Time left for the re-normalizations: until two minutes before the invocation's deadline
/// (milliseconds since the epoch), so the last page's writes and checkpoint land in time.
fn work_deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let left = deadline_ms.saturating_sub(now_ms).saturating_sub(120_000);
    std::time::Instant::now() + std::time::Duration::from_millis(left)
}
