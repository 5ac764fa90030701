//! The executor's re-checks (SPEC §8.5, §8.6): before a customer message, an offer or a
//! command goes out, whether it still applies. A finance notice is never re-checked.
//!
//! - Every one: the clock it was decided on still runs (`clock_stopped`).
//! - On a cancellation clock: nothing but `proceed_cancellation` goes out once the hold's
//!   `cancel_at` has passed (`hold_ended`), and `proceed_cancellation` only when the clock's
//!   `hold_cancellation` was or is being sent (`no_hold`): a hold that was dry run, held and
//!   discarded, or cancelled never lets a cancellation be hurried.
//! - `retry_payment`: the invoice's latest failure may be retried and the tenant's cap is not
//!   reached (`hard_decline`, `action_required`, `retry_cap`).
//! - `offer`: the customer was not made this offer, by any automation, in 365 days, nor by
//!   another firing of this pass (`offer_already_made`).

use crate::domain::automation::Action;
use crate::domain::cancellation::Hold;
use crate::domain::decision::Plan;
use crate::domain::decline::FailureCategory;
use crate::domain::event::format_instant;
use crate::domain::{CustomerId, CustomerState, TenantCalendar, TenantId, TenantSettings};
use crate::ports::{AutomationStore, DecisionStore, FiringRecord, FiringStatus, StoreError};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What an action's re-check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send it, with these arguments added to a command (a hold's `until` and `cancel_at`).
    Send(Vec<(&'static str, Value)>),
    /// Never send it, for this reason.
    Cancel(&'static str),
}

/// What the re-checks of one executor pass read once: each tenant's settings (only for the
/// actions that need them) and the offers this pass is sending.
#[derive(Debug, Default)]
pub struct Rechecks {
    settings: BTreeMap<TenantId, TenantSettings>,
    offered: BTreeSet<(TenantId, CustomerId, String)>,
}

/// One firing's view for its re-checks: its customer's state now, and (read or derived the
/// first time an action needs them) the customer's other firings and the clock's hold.
pub struct Firing<'a> {
    pub record: &'a FiringRecord,
    pub plan: &'a Plan,
    pub customer: Option<&'a CustomerState>,
    pub ledger: Option<Vec<FiringRecord>>,
    /// The hold of a cancellation clock, derived the first time an action needs it.
    pub hold: Option<Option<Hold<'a>>>,
}

impl Rechecks {
    async fn settings<S: AutomationStore>(
        &mut self,
        store: &S,
        tenant: &TenantId,
    ) -> Result<&TenantSettings, StoreError> {
        if !self.settings.contains_key(tenant) {
            let s = store.tenant_settings(tenant).await?;
            self.settings.insert(tenant.clone(), s);
        }
        Ok(&self.settings[tenant])
    }

    /// Whether `action` of `firing` may still be sent at `now`.
    pub async fn check<S: AutomationStore + DecisionStore>(
        &mut self,
        store: &S,
        firing: &mut Firing<'_>,
        action: &Action,
        now: DateTime<Utc>,
    ) -> Result<Verdict, StoreError> {
        if matches!(action, Action::Notify { .. }) {
            return Ok(Verdict::Send(Vec::new()));
        }
        let record = firing.record;
        let d = &record.decision;
        let running = firing.customer.is_some_and(|c| {
            firing
                .plan
                .clock
                .still_running(c, d.clock_id.as_deref(), &d.episode)
        });
        if !running {
            return Ok(Verdict::Cancel("clock_stopped"));
        }
        let mut args = Vec::new();
        if let Some(hold_days) = firing.plan.hold_days {
            if firing.hold.is_none() {
                let calendar = self.settings(store, &d.tenant_id).await?.calendar;
                firing.hold = Some(hold_of(firing.customer, record, hold_days, &calendar));
            }
            let Some(hold) = firing.hold.flatten() else {
                return Ok(Verdict::Cancel("clock_stopped"));
            };
            match action {
                Action::ProceedCancellation => {
                    let ledger = firing.ledger(store).await?;
                    if !hold_sent(ledger, record, &hold) {
                        return Ok(Verdict::Cancel("no_hold"));
                    }
                }
                _ if now >= hold.cancel_at => return Ok(Verdict::Cancel("hold_ended")),
                Action::HoldCancellation => {
                    args.push(("until", json!(hold.until.to_string())));
                    args.push(("cancel_at", json!(format_instant(hold.cancel_at))));
                }
                _ => {}
            }
        }
        match action {
            Action::RetryPayment => {
                let settings = self.settings(store, &d.tenant_id).await?;
                if let Some(reason) = retry_refused(firing.customer, record, settings, now) {
                    return Ok(Verdict::Cancel(reason));
                }
            }
            Action::Offer { offer_id, .. } => {
                let key = (d.tenant_id.clone(), d.customer_id.clone(), offer_id.clone());
                if self.offered.contains(&key)
                    || offer_made(firing.ledger(store).await?, record, offer_id)
                {
                    return Ok(Verdict::Cancel("offer_already_made"));
                }
                self.offered.insert(key);
            }
            _ => {}
        }
        Ok(Verdict::Send(args))
    }
}

impl Firing<'_> {
    async fn ledger<S: DecisionStore>(&mut self, store: &S) -> Result<&[FiringRecord], StoreError> {
        if self.ledger.is_none() {
            let d = &self.record.decision;
            self.ledger = Some(store.customer_firings(&d.tenant_id, &d.customer_id).await?);
        }
        Ok(self.ledger.as_deref().unwrap_or_default())
    }
}

/// The hold a firing of a cancellation clock was decided on, as the rule derives it: the
/// clock that started at the firing's request, or the one that took its place when a request
/// reported late moved its start earlier (as the rule's settled decisions count).
fn hold_of<'s>(
    customer: Option<&'s CustomerState>,
    record: &FiringRecord,
    hold_days: u16,
    calendar: &TenantCalendar,
) -> Option<Hold<'s>> {
    let d = &record.decision;
    let holds = customer?.cancellations.as_ref()?.holds(hold_days, calendar);
    holds
        .into_iter()
        .rfind(|h| Some(h.subscription_id()) == d.clock_id.as_deref() && *h.start <= d.episode)
}

/// Whether the clock's `hold_cancellation` was or is being sent: a firing of the same
/// automation at the clock's `hold` step, live (pending, being sent or sent), whose hold
/// command was not cancelled.
fn hold_sent(ledger: &[FiringRecord], record: &FiringRecord, hold: &Hold<'_>) -> bool {
    let d = &record.decision;
    ledger.iter().any(|r| {
        let h = &r.decision;
        h.automation_id == d.automation_id
            && h.clock_id == d.clock_id
            && h.threshold_days == 0
            && h.episode >= d.episode
            && h.episode.occurred_at < hold.ends_at
            && matches!(
                r.status,
                FiringStatus::Pending | FiringStatus::Sending | FiringStatus::Sent
            )
            && h.plan.as_deref().is_some_and(|p| {
                p.actions.iter().enumerate().any(|(i, a)| {
                    *a == Action::HoldCancellation && r.cancelled.iter().all(|c| c.action != i)
                })
            })
    })
}

/// Whether the customer was made the offer `offer_id` by another firing (any automation)
/// within 365 days of this one: sent, possibly sent by an executor that stopped, or being
/// sent now. An offer is made once (SPEC §8.5), whether or not it was taken.
fn offer_made(ledger: &[FiringRecord], record: &FiringRecord, offer_id: &str) -> bool {
    let key = record.decision.key();
    ledger.iter().any(|other| {
        other.decision.key() != key
            && (record.decision.date - other.decision.date)
                .num_days()
                .abs()
                < 365
            && other.decision.plan.as_deref().is_some_and(|plan| {
                plan.actions.iter().enumerate().any(|(i, a)| {
                    matches!(a, Action::Offer { offer_id: o, .. } if o == offer_id)
                        && (other.deliveries.iter().any(|d| d.action == i)
                            || other.unconfirmed.contains(&i)
                            || other.in_flight.contains(&i))
                })
            })
    })
}

/// Why a `retry_payment` on a running clock may not be sent (SPEC §8.5), or `None`: the
/// invoice's latest failure is not one a retry can mend, or it failed
/// `max_retries_per_30_days` times in the last 30 days.
fn retry_refused(
    customer: Option<&CustomerState>,
    record: &FiringRecord,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    let d = &record.decision;
    // A retry is only ever decided on a payment clock (validation refuses it elsewhere); an
    // invoice no longer known has no clock to retry.
    let Some(invoice) = customer
        .and_then(|c| c.invoices.as_ref())
        .and_then(|i| i.get(d.clock_id.as_deref()?))
    else {
        return Some("clock_stopped");
    };
    match invoice.category(&settings.decline_overrides) {
        FailureCategory::Hard => Some("hard_decline"),
        FailureCategory::ActionRequired => Some("action_required"),
        FailureCategory::Soft | FailureCategory::Unknown
            if invoice.failures_in_30_days(now)
                >= usize::from(settings.max_retries_per_30_days) =>
        {
            Some("retry_cap")
        }
        FailureCategory::Soft | FailureCategory::Unknown => None,
    }
}
