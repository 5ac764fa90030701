//! The scheduled run. EventBridge Scheduler invokes it (hourly, so every tenant runs at its own
//! local `evaluation_hour`) with the target input
//! `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`: the schedule's time, never the
//! clock, is "now", so a retried or delayed invocation decides exactly what the on-time one
//! would have.
//!
//! A second, weekly schedule invokes it with `{"job": "weekly_review", ...}`: each tenant's
//! review of its last whole week goes to the finance topic (SPEC §8.9).

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use shared::adapters::emf;
use shared::app::execute::publish_guardrail_alerts;
use shared::app::normalize::{Budget, renormalize_tenants};
use shared::app::report::publish::publish_weekly_reviews;
use shared::app::schedule::run_scheduled;
use shared::domain::Outcome;
use shared::ports::{
    ActionPublisher, AdminStore, AutomationStore, CandidateSource, CustomerStore, DecisionStore,
    NormalizationStore, OutcomeStore, ReportRecords, RunCheckpoints,
};

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    pub scheduled_time: DateTime<Utc>,
    #[serde(default)]
    pub job: Job,
}

/// Which schedule invoked the function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// The hourly run: the tenants whose evaluation hour has come.
    #[default]
    Daily,
    /// The weekly review of every tenant, to the finance topic.
    WeeklyReview,
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
    /// Weekly reviews published to the finance topic (the weekly job only).
    pub reviews_published: usize,
}

pub struct Deps<S, P> {
    pub store: S,
    /// The alerts topic (guardrail holds) and the finance topic (weekly reviews).
    pub topics: P,
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
        + OutcomeStore
        + ReportRecords
        + AdminStore
        + RunCheckpoints,
    P: ActionPublisher,
{
    if event.payload.job == Job::WeeklyReview {
        // Boxed: the two jobs' futures nested in one would pass the compiler's layout depth.
        return Box::pin(weekly(deps, event.payload.scheduled_time)).await;
    }
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
    summary.alerts = publish_guardrail_alerts(&deps.topics, &holds).await?;
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

/// The weekly job: every tenant's review, published. A tenant that fails is logged and fails
/// the invocation after the others are sent, so the scheduler retries it (a retry sends the
/// others' reviews again: a review is a report, not an action, and says which week it is).
async fn weekly<S, P>(
    deps: &Deps<S, P>,
    scheduled_time: DateTime<Utc>,
) -> Result<RunSummary, lambda_runtime::Error>
where
    S: AutomationStore + OutcomeStore + ReportRecords + AdminStore + CandidateSource,
    P: ActionPublisher,
{
    let published = publish_weekly_reviews(&deps.store, &deps.topics, scheduled_time).await?;
    emf::emit(
        "evaluate",
        scheduled_time,
        &[
            ("WeeklyReviewsPublished", published.reviews),
            ("WeeklyReviewsFailed", published.failed.len()),
        ],
    );
    tracing::info!(%scheduled_time, reviews = published.reviews, "weekly reviews");
    for (tenant, e) in &published.failed {
        tracing::error!(tenant_id = %tenant, error = %e, "a tenant's weekly review failed");
    }
    if !published.failed.is_empty() {
        return Err(format!(
            "the weekly review failed for {} tenant(s); the others are sent",
            published.failed.len()
        )
        .into());
    }
    Ok(RunSummary {
        tenants: published.reviews,
        reviews_published: published.reviews,
        ..RunSummary::default()
    })
}
