//! The firing rule of SPEC §4, for one automation and one local date.
//!
//! A customer is looked at on date D only when some threshold's catch-up window is open:
//! `0 ≤ days_past_due(D) − N ≤ catch_up_days` for a threshold N. That is what makes the daily
//! work grow with the customers at a threshold rather than with all customers, and it is the
//! same test for every store (see [`RunContext::candidate_start_ranges`]).

use super::automation::{Automation, Condition, NumberField};
use super::calendar::{TenantCalendar, days_between};
use super::customer::{CustomerState, Episode};
use super::decision::{Decision, Outcome, Plan, Settled, SkipReason};
use super::money::Money;
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::sync::Arc;

/// One automation evaluated for one tenant-local date.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    pub automation: &'a Automation,
    /// The first local date whose threshold crossings the automation acts on.
    pub active_from: NaiveDate,
    pub calendar: &'a TenantCalendar,
    pub date: NaiveDate,
    /// Set when `date` is evaluated after it passed (missed runs caught up): its firings are
    /// late.
    pub caught_up: bool,
    /// The episode starts (as instants, `[from, to)`) that put a threshold's window open on
    /// `date`: precomputed so the candidate test on each customer is a few comparisons, with no
    /// time-zone conversion for the customers it rules out.
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// What this automation's firings carry out, shared by all of them.
    plan: Arc<Plan>,
}

/// A customer with a threshold window open on the run's date.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'s> {
    pub episode: &'s Episode,
    /// Local date the episode started.
    pub since: NaiveDate,
    pub days_past_due: i64,
}

impl<'a> RunContext<'a> {
    pub fn new(
        automation: &'a Automation,
        active_from: NaiveDate,
        calendar: &'a TenantCalendar,
        date: NaiveDate,
    ) -> Self {
        let mut ctx = Self {
            automation,
            active_from,
            calendar,
            date,
            caught_up: false,
            windows: Vec::new(),
            plan: Arc::new(Plan {
                automation_name: automation.name.clone(),
                continuity: automation.trigger.continuity,
                actions: automation.actions.clone(),
            }),
        };
        ctx.windows = ctx
            .candidate_start_ranges()
            .into_iter()
            .map(|(first, last)| {
                let end = last.succ_opt().unwrap_or(last);
                (calendar.start_of_day(first), calendar.start_of_day(end))
            })
            .collect();
        ctx
    }

    /// The customer's episode and position in it, when the rule has something to decide today:
    /// some threshold N with `0 ≤ days_past_due − N ≤ catch_up_days`.
    pub fn candidate<'s>(&self, customer: &'s CustomerState) -> Option<Candidate<'s>> {
        let trigger = &self.automation.trigger;
        let episode = customer.episode(trigger.continuity)?;
        let start = episode.start.occurred_at;
        if !self
            .windows
            .iter()
            .any(|(from, to)| (*from..*to).contains(&start))
        {
            return None;
        }
        let since = self.calendar.local_date(start);
        let days_past_due = days_between(since, self.date);
        let catch_up = i64::from(trigger.catch_up_days);
        trigger
            .thresholds_days
            .iter()
            .any(|&n| (0..=catch_up).contains(&(days_past_due - i64::from(n))))
            .then_some(Candidate {
                episode,
                since,
                days_past_due,
            })
    }

    /// The instants `[from, to)` an episode must have started in to be a candidate, one range
    /// per group of thresholds: what a store queries.
    pub fn candidate_windows(&self) -> &[(DateTime<Utc>, DateTime<Utc>)] {
        &self.windows
    }

    /// The local episode-start dates of the candidates, as disjoint inclusive ranges in
    /// ascending order: `[D − N − catch_up_days, D − N]` for each threshold N, merged where
    /// they touch. Stores use them to read only candidates; [`RunContext::candidate`] is exact.
    pub fn candidate_start_ranges(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let trigger = &self.automation.trigger;
        let mut ranges: Vec<(NaiveDate, NaiveDate)> = trigger
            .thresholds_days
            .iter()
            .rev()
            .filter_map(|&n| {
                let latest = self.date.checked_sub_days(Days::new(u64::from(n)))?;
                let earliest =
                    latest.checked_sub_days(Days::new(u64::from(trigger.catch_up_days)))?;
                Some((earliest, latest))
            })
            .collect();
        ranges.dedup_by(|later, earlier| {
            // `later` starts after `earlier` (thresholds descend, so dates ascend).
            if later.0 <= earlier.1.succ_opt().unwrap_or(earlier.1) {
                earlier.1 = earlier.1.max(later.1);
                true
            } else {
                false
            }
        });
        ranges
    }

    /// Decides every threshold of a candidate not yet settled for its episode, appending the
    /// decisions to `out`. `settled` lists what earlier runs settled for this automation and
    /// customer; an entry counts for the current episode when it was recorded for an episode
    /// starting at or after the current start, i.e. within the same continuous period (a late
    /// event may have moved the start earlier since).
    pub fn decide(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
        settled: &[Settled],
        out: &mut Vec<Decision>,
    ) {
        let trigger = &self.automation.trigger;
        let catch_up = i64::from(trigger.catch_up_days);
        let dpd = candidate.days_past_due;
        let start = &candidate.episode.start;
        let owed = customer
            .balance
            .as_ref()
            .map(|b| b.balance)
            .filter(|b| b.amount_minor < 0)
            .map(|b| Money::new(-b.amount_minor, b.currency));
        let decision = |threshold_days: u16, outcome: Outcome| Decision {
            date: self.date,
            tenant_id: customer.tenant_id.clone(),
            customer_id: customer.customer_id.clone(),
            automation_id: self.automation.id.clone(),
            threshold_days,
            days_past_due: dpd,
            past_due_since: candidate.since,
            episode: start.clone(),
            mode: self.automation.mode,
            plan: matches!(outcome, Outcome::Fired).then(|| self.plan.clone()),
            outcome,
            caught_up: self.caught_up,
            owed,
        };
        let skipped = |reason: SkipReason, detail: String| Outcome::Skipped { reason, detail };

        let mut due: Vec<u16> = Vec::new();
        for &n in &trigger.thresholds_days {
            let n_days = i64::from(n);
            if dpd < n_days
                || settled
                    .iter()
                    .any(|s| s.threshold_days == n && s.episode >= *start)
            {
                continue;
            }
            let reached = candidate
                .since
                .checked_add_days(Days::new(u64::from(n)))
                .unwrap_or(NaiveDate::MAX);
            if reached < self.active_from {
                out.push(decision(
                    n,
                    skipped(
                        SkipReason::BeforeActiveFrom,
                        format!(
                            "threshold reached on {reached}, before the automation became active on {}",
                            self.active_from
                        ),
                    ),
                ));
            } else if dpd - n_days > catch_up {
                out.push(decision(
                    n,
                    skipped(
                        SkipReason::MissedWindow,
                        format!(
                            "{dpd} days past due is more than catch_up_days ({catch_up}) after the threshold"
                        ),
                    ),
                ));
            } else {
                due.push(n);
            }
        }
        let Some(&highest) = due.last() else {
            return;
        };
        if let Err((reason, detail)) = self.check_conditions(customer, dpd) {
            for n in due {
                out.push(decision(n, skipped(reason, detail.clone())));
            }
            return;
        }
        for &n in &due[..due.len() - 1] {
            out.push(decision(
                n,
                skipped(
                    SkipReason::Superseded,
                    format!("threshold {highest} fired instead in the same run"),
                ),
            ));
        }
        out.push(decision(highest, Outcome::Fired));
    }

    /// The automation's conditions on the run's date (SPEC §4.4), or the first that fails.
    fn check_conditions(
        &self,
        customer: &CustomerState,
        days_past_due: i64,
    ) -> Result<(), (SkipReason, String)> {
        if self.automation.trigger.require_active_subscription
            && !customer.has_active_subscription()
        {
            return Err((
                SkipReason::NoActiveSubscription,
                "the customer has no active, trialing or past_due subscription".to_owned(),
            ));
        }
        for (i, condition) in self.automation.conditions.iter().enumerate() {
            match self.condition_holds(condition, customer, days_past_due) {
                Ok(true) => {}
                Ok(false) => {
                    return Err((
                        SkipReason::ConditionNotMet,
                        format!("conditions[{i}] ({condition}) is false"),
                    ));
                }
                Err(why) => {
                    return Err((
                        SkipReason::ConditionNotMet,
                        format!("conditions[{i}] ({condition}) cannot hold: {why}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn condition_holds(
        &self,
        condition: &Condition,
        customer: &CustomerState,
        days_past_due: i64,
    ) -> Result<bool, &'static str> {
        let profile = customer.profile();
        Ok(match condition {
            Condition::Number { field, op, value } => {
                let left = match field {
                    NumberField::BalanceAmountMinor => customer
                        .balance
                        .as_ref()
                        .map(|b| b.balance.amount_minor)
                        .ok_or("the customer has no balance")?,
                    NumberField::DaysPastDue => days_past_due,
                    NumberField::TenureDays => {
                        let created = profile
                            .and_then(|p| p.created_at)
                            .ok_or("customer.created_at is unknown")?;
                        days_between(self.calendar.local_date(created), self.date)
                    }
                    NumberField::ActiveSubscriptions => customer.active_subscription_count() as i64,
                };
                op.holds(left, *value)
            }
            Condition::Currency { values, negate } => {
                let currency = customer
                    .balance
                    .as_ref()
                    .map(|b| b.balance.currency)
                    .ok_or("the customer has no balance")?;
                values.contains(&currency) != *negate
            }
            Condition::Metadata { key, value, negate } => {
                let found = profile.and_then(|p| p.metadata.get(key));
                let matched = match value {
                    Some(v) => found == Some(v),
                    None => found.is_some(),
                };
                matched != *negate
            }
            Condition::Tag { tag, negate } => {
                let has = profile.is_some_and(|p| p.tags.binary_search(tag).is_ok());
                has != *negate
            }
        })
    }
}
