//! The scheduled daily run: for each tenant whose local run instant has passed, evaluate every
//! local date due since its last completed run (up to a lookback), in order, and move its
//! checkpoint. The schedule may fire hourly: a tenant whose date is already done is skipped,
//! so each tenant is evaluated at its own `evaluation_hour`.

use super::evaluate::{DayReport, evaluate_tenant_day};
use crate::domain::{TenantCalendar, TenantId};
use crate::ports::{
    AutomationStore, CandidateSource, DecisionStore, ReportRecords, RunCheckpoints, StoreError,
};
use chrono::{DateTime, Days, NaiveDate, Utc};

/// What one scheduled invocation did for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRun {
    pub tenant_id: TenantId,
    /// The dates evaluated, oldest first; all but the last were missed runs caught up.
    pub dates: Vec<NaiveDate>,
    pub reports: Vec<DayReport>,
}

/// The latest local date whose run instant is at or before `at`.
pub fn due_date(calendar: &TenantCalendar, at: DateTime<Utc>) -> NaiveDate {
    let today = calendar.local_date(at);
    if calendar.run_instant(today) <= at {
        today
    } else {
        today.pred_opt().unwrap_or(today)
    }
}

/// The dates a run at `at` evaluates: after the checkpoint, up to the due date, at most
/// `lookback_days` of them (the oldest beyond that are given up). With no checkpoint, only the
/// due date: a new tenant is not back-filled.
pub fn dates_to_evaluate(
    last_completed: Option<NaiveDate>,
    due: NaiveDate,
    lookback_days: u32,
) -> Vec<NaiveDate> {
    let earliest = due
        .checked_sub_days(Days::new(u64::from(lookback_days.max(1) - 1)))
        .unwrap_or(due);
    let first = match last_completed {
        None => due,
        Some(done) => done.succ_opt().unwrap_or(done).max(earliest),
    };
    first.iter_days().take_while(|d| *d <= due).collect()
}

/// What one scheduled invocation did: each tenant's run, and the tenants whose run failed.
/// One tenant's failure stops no other tenant's run: the others are done, their holds to be
/// announced and their checkpoints moved, and a retry of the invocation finds only the failed
/// tenants' dates still due.
#[derive(Debug, Default)]
pub struct ScheduledRuns {
    pub runs: Vec<TenantRun>,
    pub failed: Vec<(TenantId, StoreError)>,
}

/// Runs every tenant's due dates as of `scheduled_at` (the schedule's time, never the clock).
/// Fails only when the tenants cannot be listed.
pub async fn run_scheduled<S>(
    store: &S,
    scheduled_at: DateTime<Utc>,
    lookback_days: u32,
) -> Result<ScheduledRuns, StoreError>
where
    S: CandidateSource + AutomationStore + DecisionStore + RunCheckpoints + ReportRecords,
{
    let mut done = ScheduledRuns::default();
    for tenant in store.tenants().await? {
        let run = async {
            let calendar = store.tenant_settings(&tenant).await?.calendar;
            let due = due_date(&calendar, scheduled_at);
            let dates = dates_to_evaluate(store.last_completed(&tenant).await?, due, lookback_days);
            if dates.is_empty() {
                return Ok(None);
            }
            run_dates(store, tenant.clone(), dates, due).await.map(Some)
        };
        match run.await {
            Ok(Some(run)) => done.runs.push(run),
            Ok(None) => {}
            Err(e) => done.failed.push((tenant, e)),
        }
    }
    Ok(done)
}

/// The run of `date` by hand (`rulekit evaluate`) for `tenant`, at `now`: what the scheduled
/// run does when `date` is the date due, so the dates missed before it are caught up too,
/// every date before today's is late, and the checkpoint moves. A date already completed is
/// evaluated again (it decides only what is newly due). `None` when the run of `date` is still
/// to come: it would fire thresholds before their day.
pub async fn run_by_hand<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
    now: DateTime<Utc>,
    lookback_days: u32,
) -> Result<Option<TenantRun>, StoreError>
where
    S: CandidateSource + AutomationStore + DecisionStore + RunCheckpoints + ReportRecords,
{
    let calendar = store.tenant_settings(tenant).await?.calendar;
    let today = due_date(&calendar, now);
    if date > today {
        return Ok(None);
    }
    let mut dates = dates_to_evaluate(store.last_completed(tenant).await?, date, lookback_days);
    if dates.is_empty() {
        dates.push(date);
    }
    Ok(Some(run_dates(store, tenant.clone(), dates, today).await?))
}

/// Evaluates `dates` (oldest first) for `tenant`, each caught up when it is before `today`
/// (the latest date whose run has come), and completes each in the checkpoint.
async fn run_dates<S>(
    store: &S,
    tenant: TenantId,
    dates: Vec<NaiveDate>,
    today: NaiveDate,
) -> Result<TenantRun, StoreError>
where
    S: CandidateSource + AutomationStore + DecisionStore + RunCheckpoints + ReportRecords,
{
    let mut reports = Vec::new();
    for &date in &dates {
        let caught_up_on = (date < today).then_some(today);
        reports.push(evaluate_tenant_day(store, &tenant, date, caught_up_on).await?);
        store.complete(&tenant, date).await?;
    }
    Ok(TenantRun {
        tenant_id: tenant,
        dates,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn when_runs_were_missed_should_evaluate_each_missed_date_within_the_lookback() {
        let due = d("2026-11-15");
        assert_eq!(dates_to_evaluate(Some(d("2026-11-14")), due, 7), vec![due]);
        assert_eq!(
            dates_to_evaluate(Some(d("2026-11-11")), due, 7),
            vec![d("2026-11-12"), d("2026-11-13"), d("2026-11-14"), due]
        );
        assert_eq!(
            dates_to_evaluate(Some(d("2026-11-01")), due, 3),
            vec![d("2026-11-13"), d("2026-11-14"), due]
        );
        assert!(
            dates_to_evaluate(Some(due), due, 7).is_empty(),
            "already done"
        );
        assert_eq!(dates_to_evaluate(None, due, 7), vec![due]);
    }

    #[test]
    fn when_the_local_run_hour_has_not_come_should_still_be_the_previous_date() {
        let cal = TenantCalendar::new(chrono_tz::America::New_York, 6);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(due_date(&cal, at("2026-11-15T10:59:00Z")), d("2026-11-14"));
        assert_eq!(due_date(&cal, at("2026-11-15T11:00:00Z")), d("2026-11-15"));
    }
}
