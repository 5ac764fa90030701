//! The firing rule of SPEC §4 and §8.1–§8.3a, for one automation and one local date.
//!
//! A step at day N is first due on date F: the first daily run on or after the clock's start
//! date S plus N whose instant is after the start (S + N for N ≥ 1; for a day-0 step, the run
//! of S when the clock started before it, else the run of S + 1). A customer is looked at on
//! date D only when some step's window `F ≤ D ≤ F + catch_up_days` is open. That is what makes
//! the daily work grow with the customers at a step rather than with all customers, and it is
//! the same test for every store (see [`RunContext::candidate_windows`]).

use super::automation::{Automation, Condition, NumberField};
use super::calendar::{TenantCalendar, days_between};
use super::customer::{CustomerState, Episode};
use super::decision::{Decision, Outcome, Plan, Settled, SkipReason};
use super::event::EventKey;
use super::money::Money;
use super::quiet::QuietAt;
use super::step::{Step, StepForm};
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::sync::Arc;

/// Instant windows `[from, to)` sorted, those that overlap or touch merged: what one read of
/// an index covers.
pub fn merge_windows(
    mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    windows.sort();
    windows.dedup_by(|later, earlier| {
        if later.0 <= earlier.1 {
            earlier.1 = earlier.1.max(later.1);
            true
        } else {
            false
        }
    });
    windows
}

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
    caught_up: bool,
    /// The tenant's `min_days_between_messages` (SPEC §8.2; 0: no spacing).
    spacing: u16,
    /// The episode starts (as instants, `[from, to)`) that put a step's window open on
    /// `date`, merged: precomputed so the candidate test on each customer is a few
    /// comparisons, with no time-zone conversion for the customers it rules out.
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The quiet-period ends (`[from, to)`) whose release makes a customer-facing step due
    /// on `date`; `None` when no step reaches the customer.
    release_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Per step (in the automation's order): what its firings carry out, shared by all of
    /// them, and its name when the automation names its steps.
    plans: Vec<(Arc<Plan>, Option<Arc<str>>)>,
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
        let plans = Self::plans(automation, date);
        let mut ctx = Self {
            automation,
            active_from,
            calendar,
            date,
            caught_up: false,
            spacing: 0,
            windows: Vec::new(),
            release_window: None,
            plans,
        };
        ctx.windows = ctx.start_windows();
        ctx.release_window = ctx.release_window();
        ctx
    }

    /// What each step's firings carry out, decided by a run on `asked_on`.
    fn plans(automation: &Automation, asked_on: NaiveDate) -> Vec<(Arc<Plan>, Option<Arc<str>>)> {
        automation
            .steps
            .iter()
            .map(|step| {
                let plan = Arc::new(Plan {
                    automation_name: automation.name.clone(),
                    clock: automation.trigger.clock,
                    owner: step.owner.clone(),
                    approval_expires_on: step.approval.as_ref().and_then(|a| {
                        asked_on.checked_add_days(Days::new(u64::from(a.expires_after_days)))
                    }),
                    actions: step.actions.clone(),
                });
                let name = (automation.step_form == StepForm::Named)
                    .then(|| Arc::<str>::from(step.name.as_str()));
                (plan, name)
            })
            .collect()
    }

    /// The run of a missed date, caught up by the run of `today`: its firings are late, and
    /// the approvals it asks for count their days from `today`, when they are asked.
    pub fn caught_up_on(mut self, today: NaiveDate) -> Self {
        self.caught_up = true;
        self.plans = Self::plans(self.automation, today.max(self.date));
        self
    }

    /// The run with the tenant's message spacing: a step that reaches the customer is not
    /// taken within `days` of the last message sent them, and one held back at its first due
    /// date is due again when the gap allows.
    pub fn with_message_spacing(mut self, days: u16) -> Self {
        self.spacing = days;
        self.windows = self.start_windows();
        self.release_window = self.release_window();
        self
    }

    /// The quiet-period ends to read customers by on `date` (what a store queries): a
    /// release at `t` makes steps due from the first run at or after `t`, so the runs of
    /// `date − reach .. date` follow the ends in `[run(date − reach − 1), run(date)]`.
    pub fn quiet_release_window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.release_window
    }

    fn release_window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let reach = self
            .automation
            .steps
            .iter()
            .filter(|s| s.reaches_the_customer())
            .map(|s| self.reach(s))
            .max()?;
        let first = self.date.checked_sub_days(Days::new(reach + 1))?;
        let last = self.calendar.run_instant(self.date);
        Some((
            self.calendar.run_instant(first),
            last + chrono::Duration::seconds(1),
        ))
    }

    /// The first run date at or after a quiet period's end.
    fn released_on(&self, end: DateTime<Utc>) -> NaiveDate {
        let day = self.calendar.local_date(end);
        if self.calendar.run_instant(day) >= end {
            day
        } else {
            day.succ_opt().unwrap_or(day)
        }
    }

    /// Whether the run needs the dates of the messages sent to each candidate.
    pub fn spaces_messages(&self) -> bool {
        self.spacing > 0 && self.automation.steps.iter().any(Step::reaches_the_customer)
    }

    /// Days past its first due date a step may still become due: `catch_up_days`, and for a
    /// step that reaches the customer, up to `spacing − 1` more while the last message's gap
    /// runs out.
    fn reach(&self, step: &Step) -> u64 {
        let spaced = if step.reaches_the_customer() {
            self.spacing.saturating_sub(1)
        } else {
            0
        };
        u64::from(self.automation.trigger.catch_up_days) + u64::from(spaced)
    }

    /// The first date of a step's window: its first due date, or, when the last message
    /// sent before that date (`messaged`, ascending) left less than the spacing, the date the
    /// gap allows (the step is then due again whatever `catch_up_days` says, and late).
    fn window_start(&self, step: &Step, first_due: NaiveDate, messaged: &[NaiveDate]) -> NaiveDate {
        if self.spacing == 0 || !step.reaches_the_customer() {
            return first_due;
        }
        messaged
            .iter()
            .rev()
            .find(|d| **d < first_due)
            .and_then(|last| last.checked_add_days(Days::new(u64::from(self.spacing))))
            .map_or(first_due, |allowed| allowed.max(first_due))
    }

    /// The date a step is first due for a clock that started at `start` (local date `since`).
    pub fn first_due(&self, step: &Step, start: DateTime<Utc>, since: NaiveDate) -> NaiveDate {
        let due = since
            .checked_add_days(Days::new(u64::from(step.day)))
            .unwrap_or(NaiveDate::MAX);
        if step.day == 0 && start >= self.calendar.run_instant(since) {
            // The day's run had passed when the clock started: the next run is the first.
            due.succ_opt().unwrap_or(due)
        } else {
            due
        }
    }

    /// The customer's episode and position in it, when the rule has something to decide today:
    /// some threshold N with `0 ≤ days_past_due − N ≤ catch_up_days`.
    pub fn candidate<'s>(&self, customer: &'s CustomerState) -> Option<Candidate<'s>> {
        let trigger = &self.automation.trigger;
        let episode = trigger.clock.running(customer)?;
        let start = episode.start.occurred_at;
        let since = self.calendar.local_date(start);
        let released = self.release_window.is_some_and(|(from, to)| {
            customer
                .quiet
                .as_ref()
                .and_then(|q| q.last_end())
                .is_some_and(|end| (from..to).contains(&end))
        });
        if released {
            // A step held back by a quiet period that ended lately is due again whatever
            // its window says: the rule decides.
            return Some(Candidate {
                episode,
                since,
                days_past_due: days_between(since, self.date),
            });
        }
        if !self
            .windows
            .iter()
            .any(|(from, to)| (*from..*to).contains(&start))
        {
            return None;
        }
        self.automation
            .steps
            .iter()
            .any(|step| {
                let reach = i64::try_from(self.reach(step)).unwrap_or(i64::MAX);
                (0..=reach).contains(&days_between(self.first_due(step, start, since), self.date))
            })
            .then(|| Candidate {
                episode,
                since,
                days_past_due: days_between(since, self.date),
            })
    }

    /// The instants `[from, to)` an episode must have started in to be a candidate, disjoint
    /// and ascending: what a store queries. [`RunContext::candidate`] is exact.
    pub fn candidate_windows(&self) -> &[(DateTime<Utc>, DateTime<Utc>)] {
        &self.windows
    }

    /// Per step, the starts whose first due date F has `F ≤ D ≤ F + catch_up_days`: for a
    /// step at day N ≥ 1, the local days `[D − N − catch_up_days, D − N]`; for a day-0 step,
    /// from the run of `D − catch_up_days − 1` to the run of D (a start between two runs is
    /// first due at the second). Merged where they touch.
    fn start_windows(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let cal = self.calendar;
        let catch_up = |step: &Step| Days::new(self.reach(step));
        let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .automation
            .steps
            .iter()
            .filter_map(|step| {
                if step.day == 0 {
                    let first = self.date.checked_sub_days(catch_up(step))?.pred_opt()?;
                    return Some((cal.run_instant(first), cal.run_instant(self.date)));
                }
                let latest = self.date.checked_sub_days(Days::new(u64::from(step.day)))?;
                let earliest = latest.checked_sub_days(catch_up(step))?;
                let end = latest.succ_opt().unwrap_or(latest);
                Some((cal.start_of_day(earliest), cal.start_of_day(end)))
            })
            .collect();
        merge_windows(windows)
    }

    /// Decides every step of a candidate not yet settled for its episode, appending the
    /// decisions to `out`. `settled` lists what earlier runs settled for this automation and
    /// customer; an entry counts for the current episode when it was recorded for an episode
    /// starting at or after the current start, i.e. within the same continuous period (a late
    /// event may have moved the start earlier since).
    ///
    /// `messaged` lists, ascending, the earlier dates a live firing with a customer-facing
    /// action was decided for the customer (any automation): what message spacing counts. It
    /// may be empty when [`RunContext::spaces_messages`] is false.
    pub fn decide(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
        settled: &[Settled],
        messaged: &[NaiveDate],
        out: &mut Vec<Decision>,
    ) {
        let catch_up = i64::from(self.automation.trigger.catch_up_days);
        let dpd = candidate.days_past_due;
        let start = &candidate.episode.start;
        let owed = customer
            .balance
            .as_ref()
            .map(|b| b.balance)
            .filter(|b| b.amount_minor < 0)
            .map(|b| Money::new(-b.amount_minor, b.currency));
        let decision = |i: usize, first_due: NaiveDate, outcome: Outcome| {
            let (plan, name) = &self.plans[i];
            Decision {
                date: self.date,
                tenant_id: customer.tenant_id.clone(),
                customer_id: customer.customer_id.clone(),
                automation_id: self.automation.id.clone(),
                threshold_days: self.automation.steps[i].day,
                step: name.clone(),
                days_past_due: dpd,
                past_due_since: candidate.since,
                episode: start.clone(),
                mode: self.automation.mode,
                plan: matches!(outcome, Outcome::Fired | Outcome::AwaitingApproval)
                    .then(|| plan.clone()),
                outcome,
                late: self.date > first_due || self.caught_up,
                owed,
            }
        };
        let skipped = |reason: SkipReason, detail: String| Outcome::Skipped { reason, detail };
        // How a detail names a step: the short form's by its threshold, as §4 words it.
        let named = |step: &Step| match self.automation.step_form {
            StepForm::Thresholds => format!("threshold {}", step.day),
            StepForm::Named => format!("step {:?}", step.name),
        };

        // The due steps, as (index, first due date), in ascending order of day.
        let mut due: Vec<(usize, NaiveDate)> = Vec::new();
        let last_message = messaged.iter().rev().find(|d| **d < self.date).copied();
        let quiet_now = customer.quiet_at(start, self.calendar.run_instant(self.date));
        for (i, step) in self.automation.steps.iter().enumerate() {
            let first_due = self.first_due(step, start.occurred_at, candidate.since);
            if self.date < first_due
                || settled
                    .iter()
                    .any(|s| s.threshold_days == step.day && s.episode >= *start)
            {
                continue;
            }
            let window_start = self.window_start(step, first_due, messaged);
            let window_start = self.after_quiet(customer, start, step, window_start);
            if first_due < self.active_from {
                let detail = match self.automation.step_form {
                    StepForm::Thresholds => format!("threshold reached on {first_due}"),
                    StepForm::Named => format!("{} first due on {first_due}", named(step)),
                };
                out.push(decision(
                    i,
                    first_due,
                    skipped(
                        SkipReason::BeforeActiveFrom,
                        format!(
                            "{detail}, before the automation became active on {}",
                            self.active_from
                        ),
                    ),
                ));
            } else if days_between(window_start, self.date) > catch_up {
                let detail = match self.automation.step_form {
                    StepForm::Thresholds => format!(
                        "{dpd} days past due is more than catch_up_days ({catch_up}) after the threshold"
                    ),
                    StepForm::Named => format!(
                        "{} was first due on {first_due}, more than catch_up_days ({catch_up}) before this run",
                        named(step)
                    ),
                };
                out.push(decision(
                    i,
                    first_due,
                    skipped(SkipReason::MissedWindow, detail),
                ));
            } else if step.reaches_the_customer() && quiet_now != QuietAt::Not {
                let why = customer
                    .quiet
                    .as_ref()
                    .and_then(|q| q.reason_at(start, self.calendar.run_instant(self.date)))
                    .unwrap_or_default();
                out.push(decision(i, first_due, skipped(SkipReason::Quiet, why)));
            } else if let Some(last) =
                last_message.filter(|last| step.reaches_the_customer() && self.too_soon(*last))
            {
                let next = last
                    .checked_add_days(Days::new(u64::from(self.spacing)))
                    .unwrap_or(NaiveDate::MAX);
                out.push(decision(
                    i,
                    first_due,
                    skipped(
                        SkipReason::TooSoon,
                        format!(
                            "a message was sent on {last} and min_days_between_messages is {}: \
                             not before {next}",
                            self.spacing
                        ),
                    ),
                ));
            } else {
                due.push((i, first_due));
            }
        }
        let Some(&(highest, highest_due)) = due.last() else {
            return;
        };
        if let Err((reason, detail)) = self.check_conditions(customer, dpd) {
            for (i, first_due) in due {
                out.push(decision(i, first_due, skipped(reason, detail.clone())));
            }
            return;
        }
        let instead = named(&self.automation.steps[highest]);
        for &(i, first_due) in &due[..due.len() - 1] {
            out.push(decision(
                i,
                first_due,
                skipped(
                    SkipReason::Superseded,
                    format!("{instead} fired instead in the same run"),
                ),
            ));
        }
        let outcome = match &self.automation.steps[highest].approval {
            Some(approval) if self.all_hold(&approval.when, customer, dpd) => {
                Outcome::AwaitingApproval
            }
            _ => Outcome::Fired,
        };
        out.push(decision(highest, highest_due, outcome));
    }

    /// The first date of a customer-facing step's window once the quiet period that covered
    /// its first run ends (SPEC §8.2: the release date counts as its first due date);
    /// `NaiveDate::MAX` while that period has no end.
    fn after_quiet(
        &self,
        customer: &CustomerState,
        episode: &EventKey,
        step: &Step,
        window_start: NaiveDate,
    ) -> NaiveDate {
        if !step.reaches_the_customer() {
            return window_start;
        }
        match customer.quiet_at(episode, self.calendar.run_instant(window_start)) {
            QuietAt::Not => window_start,
            QuietAt::Until(end) => self.released_on(end).max(window_start),
            QuietAt::Open => NaiveDate::MAX,
        }
    }

    /// Whether a message sent on `last` leaves less than the spacing before this run.
    fn too_soon(&self, last: NaiveDate) -> bool {
        self.spacing > 0 && days_between(last, self.date) < i64::from(self.spacing)
    }

    /// Whether every condition of an approval's `when` holds. One that cannot be evaluated
    /// (tenure without `created_at`) counts as holding: an approval is asked for when in
    /// doubt, never skipped.
    fn all_hold(&self, when: &[Condition], customer: &CustomerState, dpd: i64) -> bool {
        when.iter()
            .all(|c| self.condition_holds(c, customer, dpd).unwrap_or(true))
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
