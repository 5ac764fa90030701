//! The daily evaluation of one tenant for one local date: candidates from the store, the
//! firing rule, the guardrail, and each final decision recorded exactly once.

use crate::domain::clock::ClockKind;
use crate::domain::rule::{RunContext, merge_windows};
use crate::domain::{
    Automation, AutomationId, CustomerId, Decision, Mode, Outcome, Settled, SkipReason, TenantId,
};
use crate::ports::{
    AutomationStore, CandidateSource, DecisionStore, FiringRecord, FiringStatus, RecordOutcome,
    ReportRecords, SkipCount, StoreError,
};
use chrono::NaiveDate;

/// One automation's firings held by the guardrail in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailHold {
    pub tenant_id: TenantId,
    pub automation_id: AutomationId,
    pub date: NaiveDate,
    pub firings: u64,
    pub past_due_customers: u64,
}

/// What one run decided. Decisions another run had already recorded are left out, so a rerun
/// of the same day reports only what it newly decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayReport {
    pub decisions: Vec<Decision>,
    pub holds: Vec<GuardrailHold>,
    /// Customers read from the store as candidates (the run's read cost).
    pub candidates_read: usize,
    /// Firings whose approval was not given in time, now `expired`.
    pub approvals_expired: usize,
}

/// Evaluates every enabled automation of `tenant` for local date `date` and records each
/// final decision exactly once; `caught_up_on` is the date of the run that evaluates it when
/// the date's own run was missed (`None`: this is the date's own run).
pub async fn evaluate_tenant_day<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
    caught_up_on: Option<NaiveDate>,
) -> Result<DayReport, StoreError>
where
    S: CandidateSource + AutomationStore + DecisionStore + ReportRecords,
{
    // Enabled automations run; a cancellation automation disabled or archived since still
    // proceeds with the holds it began (SPEC §8.6).
    let automations: Vec<_> = store
        .tenant_automations(tenant)
        .await?
        .into_iter()
        .filter(|a| (a.enabled && !a.archived) || a.holds())
        .collect();
    let decided = decide_tenant_day(
        store,
        tenant,
        date,
        &automations,
        Purpose::Run { caught_up_on },
    )
    .await?;
    let mut report = DayReport {
        holds: decided.holds,
        candidates_read: decided.candidates_read,
        decisions: Vec::new(),
        // The date's own run sweeps; the dates it catches up first ask theirs on the same
        // day, so a sweep for each would read the same approvals again.
        approvals_expired: match caught_up_on {
            None => expire_approvals(store, tenant, date).await?,
            Some(_) => 0,
        },
    };
    for decision in decided.decisions {
        if decision.is_final() {
            let record = FiringRecord {
                status: initial_status(&decision),
                decision,
                attempts: 0,
                deliveries: Vec::new(),
                claimed_at: None,
                retry_at: None,
                in_flight: Vec::new(),
                unconfirmed: Vec::new(),
                cancelled: Vec::new(),
            };
            if store.record(&record).await? == RecordOutcome::AlreadyRecorded {
                continue;
            }
            report.decisions.push(record.decision);
        } else {
            report.decisions.push(decision);
        }
    }
    store
        .record_skips(tenant, date, &condition_skips(&report.decisions))
        .await?;
    Ok(report)
}

/// The run's `condition_not_met` skips, counted per automation, step and condition: what the
/// weekly review lists as the conditions most often not met (SPEC §8.9).
pub fn condition_skips(decisions: &[Decision]) -> Vec<SkipCount> {
    let mut counts: std::collections::BTreeMap<(&str, String, &str), u64> = Default::default();
    for d in decisions {
        if let Outcome::Skipped {
            reason: SkipReason::ConditionNotMet,
            detail,
        } = &d.outcome
        {
            let key = (
                d.automation_id.as_str(),
                d.step_name().into_owned(),
                detail.as_str(),
            );
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|((automation_id, step, condition), customers)| SkipCount {
            automation_id: automation_id.to_owned(),
            step,
            condition: condition.to_owned(),
            customers,
        })
        .collect()
}

/// What earlier runs settled for the automation and customer and, when the run spaces
/// messages, the dates the customer was messaged (ascending): then one read of the customer's
/// whole ledger gives both, else one read of the automation's part of it.
pub async fn history<S: DecisionStore>(
    store: &S,
    ctx: &RunContext<'_>,
    customer: &CustomerId,
) -> Result<(Vec<Settled>, Vec<NaiveDate>), StoreError> {
    let automation = &ctx.automation.id;
    let tenant = &ctx.automation.tenant_id;
    if !ctx.spaces_messages() {
        return Ok((
            store.settled(tenant, automation, customer).await?,
            Vec::new(),
        ));
    }
    let records = store.customer_firings(tenant, customer).await?;
    let settled = records
        .iter()
        .filter(|r| &r.decision.automation_id == automation)
        .map(|r| r.decision.settled())
        .collect();
    let mut messaged: Vec<NaiveDate> = records
        .iter()
        .filter(|r| r.decision.messaged_the_customer())
        .map(|r| r.decision.date)
        .collect();
    messaged.sort();
    Ok((settled, messaged))
}

/// Moves the tenant's firings whose approval was not given by `date` to `expired`: nothing of
/// them is ever carried out. (The API refuses a late approval the same way, should it come
/// before this run.) A firing answered meanwhile is left as the answer made it.
async fn expire_approvals<S: DecisionStore>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
) -> Result<usize, StoreError> {
    let mut expired = 0;
    for record in store.awaiting_approval(tenant).await? {
        if record.decision.approval_expired_by(date) {
            let mut next = record.clone();
            next.status = FiringStatus::Expired;
            if store.replace_firing(&record, &next).await? {
                expired += 1;
            }
        }
    }
    Ok(expired)
}

/// Why a tenant's day is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The daily run, which records what it decides; `caught_up_on` the date of the run
    /// that evaluates it when the date's own run was missed. Automations are not
    /// retroactive: `active_from` applies.
    Run { caught_up_on: Option<NaiveDate> },
    /// A preview: a what-if of the automation on that date, so `active_from` does not apply
    /// (SPEC §6: it governs real runs only).
    Preview,
}

/// What `automations` would decide for `tenant` on local date `date`, given what is already
/// recorded, with the guardrail applied; nothing is written. The daily run records these; a
/// preview shows them.
pub async fn decide_tenant_day<S>(
    store: &S,
    tenant: &TenantId,
    date: NaiveDate,
    automations: &[Automation],
    purpose: Purpose,
) -> Result<DayReport, StoreError>
where
    S: CandidateSource + AutomationStore + DecisionStore,
{
    let settings = store.tenant_settings(tenant).await?;
    let calendar = settings.calendar;
    let mut report = DayReport::default();
    let contexts: Vec<RunContext<'_>> = automations
        .iter()
        .map(|a| {
            let active_from = match purpose {
                // An automation without a recorded start acts only from the day it is
                // evaluated on: never retroactively.
                Purpose::Run { .. } => a.active_from.unwrap_or(date),
                Purpose::Preview => NaiveDate::MIN,
            };
            let mut ctx = RunContext::new(a, active_from, &calendar, date)
                .with_message_spacing(settings.min_days_between_messages)
                .with_declines(&settings.decline_overrides);
            // A preview is a what-if of the automation as if it ran.
            let runs = matches!(purpose, Purpose::Run { .. });
            if runs && (a.archived || !a.enabled) {
                ctx = ctx.proceeds_only();
            }
            match purpose {
                Purpose::Run {
                    caught_up_on: Some(today),
                } => ctx.caught_up_on(today),
                _ => ctx,
            }
        })
        .collect();

    // One read of the index per clock kind, for the windows of all its automations.
    let mut kinds: Vec<ClockKind> = contexts
        .iter()
        .map(|c| c.automation.trigger.clock)
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut candidates_by_kind = Vec::new();
    for kind in kinds {
        let of_kind = || {
            contexts
                .iter()
                .filter(move |c| c.automation.trigger.clock == kind)
        };
        // Overlapping windows of different automations are read once.
        let windows = merge_windows(
            of_kind()
                .flat_map(|c| c.candidate_windows().iter().copied())
                .collect(),
        );
        if windows.is_empty() {
            continue;
        }
        let mut customers = store.clocks_started(tenant, kind, &windows).await?;
        // Customers whose quiet period ended lately, for the steps it held back (SPEC §8.2),
        // read only for automations with a step that reaches the customer.
        let releases = merge_windows(of_kind().filter_map(|c| c.quiet_release_window()).collect());
        if !releases.is_empty() {
            let released = store.quiet_released(tenant, &releases).await?;
            let known: std::collections::BTreeSet<CustomerId> =
                customers.iter().map(|c| c.customer_id.clone()).collect();
            customers.extend(
                released
                    .into_iter()
                    .filter(|c| !known.contains(&c.customer_id)),
            );
        }
        report.candidates_read += customers.len();
        // A profile normalized by older rules (the re-normalization has not reached it yet,
        // or an event was normalized just before the rules changed) is normalized again
        // here, from its raw profile: no rule ever reads a stale one (SPEC §8.7).
        for customer in &mut customers {
            if !customer.is_normalized_under(&settings.normalization) {
                customer.normalize_profile(&settings.normalization);
            }
        }
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        candidates_by_kind.push((kind, customers));
    }

    let mut clocks = Vec::new();
    for ctx in &contexts {
        let automation = ctx.automation;
        let candidates = candidates_by_kind
            .iter()
            .find(|(k, _)| *k == automation.trigger.clock)
            .map_or(&[][..], |(_, list)| list.as_slice());
        let mut decisions = Vec::new();
        for customer in candidates {
            clocks.clear();
            ctx.candidates(customer, &mut clocks);
            if clocks.is_empty() {
                continue;
            }
            let (settled, messaged) = history(store, ctx, &customer.customer_id).await?;
            for candidate in &clocks {
                ctx.decide(customer, candidate, &settled, &messaged, &mut decisions);
            }
        }

        // A hold's proceed is never held (SPEC §8.6): the guardrail counts and holds the rest.
        let guarded = |d: &Decision| d.outcome == Outcome::Fired && !d.proceeds();
        let firing = decisions
            .iter()
            .filter(|d| guarded(d) && d.mode == Mode::Live)
            .count() as u64;
        if firing >= u64::from(settings.guardrail.min_count) {
            let past_due = store.clock_count(tenant, automation.trigger.clock).await?;
            if settings.guardrail.holds(firing, past_due) {
                for d in decisions.iter_mut().filter(|d| guarded(d)) {
                    d.outcome = Outcome::Held;
                }
                report.holds.push(GuardrailHold {
                    tenant_id: tenant.clone(),
                    automation_id: automation.id.clone(),
                    date,
                    firings: firing,
                    past_due_customers: past_due,
                });
            }
        }

        report.decisions.extend(decisions);
    }
    Ok(report)
}

fn initial_status(decision: &Decision) -> FiringStatus {
    match (&decision.outcome, decision.mode) {
        (Outcome::Fired, Mode::Live) => FiringStatus::Pending,
        (Outcome::AwaitingApproval, Mode::Live) => FiringStatus::AwaitingApproval,
        (Outcome::Fired | Outcome::AwaitingApproval, Mode::DryRun) => FiringStatus::DryRun,
        (Outcome::Held, _) => FiringStatus::Held,
        (Outcome::Skipped { .. } | Outcome::Segmented | Outcome::Holdout, _) => {
            FiringStatus::Settled
        }
    }
}
