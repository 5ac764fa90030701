//! The firing rule of SPEC §4 and §8.1–§8.3a, for one automation and one local date.
//!
//! A step at day N is first due on date F: the first daily run on or after the clock's start
//! date S plus N whose instant is after the start (S + N for N ≥ 1; for a day-0 step, the run
//! of S when the clock started before it, else the run of S + 1). A customer is looked at on
//! date D only when some step's window `F ≤ D ≤ F + catch_up_days` is open. That is what makes
//! the daily work grow with the customers at a step rather than with all customers, and it is
//! the same test for every store (see [`RunContext::candidate_windows`]).

use super::automation::{Automation, CodeField, Condition, CurrencyField, Mode, NumberField};
use super::calendar::{TenantCalendar, days_between};
use super::cancellation::Hold;
use super::clock::Clock;
use super::customer::CustomerState;
use super::decision::{Decision, Outcome, Plan, SEGMENT_DAY, Settled, SkipReason};
use super::decline::{DeclineOverrides, FailureCategory};
use super::event::EventKey;
use super::invoice::Invoice;
use super::money::Money;
use super::quiet::QuietAt;
use super::rollout::{Arm, bucket};
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

/// What a step's firings carry out, shared by all of them, and the step's name when the
/// automation names its steps.
type StepPlan = (Arc<Plan>, Option<Arc<str>>);

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
    /// Per step list (the automation's own, or each segment's, in order), per step: what
    /// its firings carry out, shared by all of them, and its name when the automation names
    /// its steps.
    plans: Vec<Vec<StepPlan>>,
    /// The segments' names, shared by their decisions.
    segment_names: Vec<Arc<str>>,
    /// The tenant's decline overrides, for `payment.failure_category`.
    declines: &'a DeclineOverrides,
    /// Only the `proceed` steps of holds already begun: the run of a cancellation automation
    /// disabled or archived since (SPEC §8.6: a hold always proceeds).
    proceeds_only: bool,
}

/// The pseudo-step a segmented automation's assignment is windowed as: a day-0 step, so a
/// clock is looked at on the first run that sees it whether or not a step is due then.
static ASSIGNMENT: Step = Step {
    name: String::new(),
    day: 0,
    owner: None,
    approval: None,
    actions: Vec::new(),
};

static NO_OVERRIDES: DeclineOverrides = DeclineOverrides(std::collections::BTreeMap::new());

/// A customer's clock with a step's window open on the run's date.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'s> {
    pub clock: Clock<'s>,
    /// Local date the clock started.
    pub since: NaiveDate,
    /// Days on the clock (days past due, for the past-due clock).
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
            segment_names: automation
                .segments
                .iter()
                .map(|s| Arc::from(s.name.as_str()))
                .collect(),
            declines: &NO_OVERRIDES,
            proceeds_only: false,
        };
        ctx.windows = ctx.start_windows();
        ctx.release_window = ctx.release_window();
        ctx
    }

    /// What each step's firings carry out, decided by a run on `asked_on`.
    fn plans(automation: &Automation, asked_on: NaiveDate) -> Vec<Vec<StepPlan>> {
        automation
            .step_lists()
            .map(|steps| Self::list_plans(automation, steps, asked_on))
            .collect()
    }

    fn list_plans(automation: &Automation, steps: &[Step], asked_on: NaiveDate) -> Vec<StepPlan> {
        steps
            .iter()
            .map(|step| {
                let plan = Arc::new(Plan {
                    automation_name: automation.name.clone(),
                    clock: automation.trigger.clock,
                    hold_days: automation.holds().then_some(automation.trigger.hold_days),
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

    /// The run with the tenant's decline overrides (what `payment.failure_category` reads).
    pub fn with_declines(mut self, overrides: &'a DeclineOverrides) -> Self {
        self.declines = overrides;
        self
    }

    /// The run of a cancellation automation that no longer runs (disabled or archived):
    /// only the `proceed` steps of the holds it began.
    pub fn proceeds_only(mut self) -> Self {
        self.proceeds_only = true;
        self.windows = self.start_windows();
        self.release_window = self.release_window();
        self
    }

    /// Whether the automation records each clock's assignment: its segment, its arm, or
    /// both.
    fn assigns(&self) -> bool {
        !self.automation.segments.is_empty() || self.automation.rollout.is_some()
    }

    /// The steps whose windows make a clock a candidate: every list's, and for an automation
    /// that assigns its clocks (segments, a rollout) the assignment's.
    fn window_steps(&self) -> impl Iterator<Item = &Step> {
        let assignment = (self.assigns() && !self.proceeds_only).then_some(&ASSIGNMENT);
        self.automation
            .all_steps()
            .filter(|s| !self.proceeds_only || s.is_proceed())
            .chain(assignment)
    }

    /// The day a step is due on for a clock: its own, but a `proceed` step's is the hold's
    /// last day, which the end of the paid period may bring forward.
    fn due_day(step: &Step, hold: Option<&Hold<'_>>) -> u16 {
        match hold {
            Some(hold) if step.is_proceed() => hold.until_day,
            _ => step.day,
        }
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
            .all_steps()
            .filter(|s| self.spaced(s))
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
        self.spacing > 0 && self.automation.all_steps().any(|s| self.spaced(s))
    }

    /// Whether quiet periods and message spacing hold the step back: a step that reaches the
    /// customer, unless it answers the customer's own request to cancel (SPEC §8.2: a hold
    /// cannot wait, and its offers are not unasked-for messages).
    fn spaced(&self, step: &Step) -> bool {
        step.reaches_the_customer() && !self.automation.holds()
    }

    /// Days past its first due date a step may still become due: `catch_up_days`, and for a
    /// step that reaches the customer, up to `spacing − 1` more while the last message's gap
    /// runs out.
    fn reach(&self, step: &Step) -> u64 {
        let spaced = if self.spaced(step) {
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
        if self.spacing == 0 || !self.spaced(step) {
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
        self.calendar.first_due(step.day, start, since)
    }

    /// The customer's clocks with something to decide today (some step N with
    /// `0 ≤ days − N ≤ catch_up_days`, or a quiet period that ended lately), appended to
    /// `out` in the order of their id.
    pub fn candidates<'s>(&self, customer: &'s CustomerState, out: &mut Vec<Candidate<'s>>) {
        let released = self.release_window.is_some_and(|(from, to)| {
            customer
                .quiet
                .as_ref()
                .and_then(|q| q.last_end())
                .is_some_and(|end| (from..to).contains(&end))
        });
        let terms = self.automation.trigger.terms(self.calendar);
        self.automation
            .trigger
            .clock
            .clocks(customer, terms, |clock| {
                let start = clock.start.occurred_at;
                // Most clocks are ruled out here, by comparing instants: no time-zone conversion.
                if !released
                    && !self
                        .windows
                        .iter()
                        .any(|(from, to)| (*from..*to).contains(&start))
                {
                    return;
                }
                let since = self.calendar.local_date(start);
                // A step held back by a quiet period that ended lately is due again whatever its
                // window says: the rule decides.
                let open = released
                    || self.window_steps().any(|step| {
                        let reach = i64::try_from(self.reach(step)).unwrap_or(i64::MAX);
                        let day = Self::due_day(step, clock.hold.as_ref());
                        let first_due = self.calendar.first_due(day, start, since);
                        (0..=reach).contains(&days_between(first_due, self.date))
                    });
                if open {
                    out.push(Candidate {
                        clock,
                        since,
                        days_past_due: days_between(since, self.date),
                    });
                }
            });
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
            .window_steps()
            .flat_map(|step| {
                // A proceed step may fall on any day of the hold: the windows of them all.
                let days = if step.is_proceed() {
                    0..=step.day
                } else {
                    step.day..=step.day
                };
                days.map(move |day| (step, day))
            })
            .filter_map(|(step, day)| {
                if day == 0 {
                    let first = self.date.checked_sub_days(catch_up(step))?.pred_opt()?;
                    return Some((cal.run_instant(first), cal.run_instant(self.date)));
                }
                let latest = self.date.checked_sub_days(Days::new(u64::from(day)))?;
                let earliest = latest.checked_sub_days(catch_up(step))?;
                let end = latest.succ_opt().unwrap_or(latest);
                Some((cal.start_of_day(earliest), cal.start_of_day(end)))
            })
            .collect();
        merge_windows(windows)
    }

    /// Decides every step of a candidate not yet settled for its clock, appending the
    /// decisions to `out`. `settled` lists what earlier runs settled for this automation and
    /// customer; an entry counts for the current clock when it was recorded for the same
    /// clock id and a start at or after the current one, i.e. within the same continuous
    /// period (a late event may have moved the start earlier since).
    ///
    /// An automation with segments or a rollout first assigns the clock (SPEC §8.3, §8.8):
    /// the segment and arm an earlier run recorded, or, at the first run that looks at the
    /// clock, the first segment whose `when` holds and the arm of the customer's bucket,
    /// recorded with the decisions. A step that goes on for a clock held out is recorded as
    /// `holdout`, one outside the cohort is skipped `not_in_cohort`.
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
        let start = candidate.clock.start;
        let mine = |s: &&Settled| candidate.clock.owns(s);
        let Some((list, segment, arm)) = self.assignment(customer, candidate, settled, out) else {
            return;
        };
        let treated = arm.is_none_or(|a| a == Arm::Treated);
        let steps = self.automation.step_lists().nth(list).unwrap_or_default();
        let plans = &self.plans[list];
        let catch_up = i64::from(self.automation.trigger.catch_up_days);
        let dpd = candidate.days_past_due;
        let owed = self.owed(customer, candidate);
        let decision = |i: usize, first_due: NaiveDate, outcome: Outcome| {
            let (plan, name) = &plans[i];
            let mut d = self.decision(customer, candidate, steps[i].day, outcome, owed);
            d.step = name.clone();
            d.segment = segment.clone();
            d.arm = arm;
            d.late = self.date > first_due || self.caught_up;
            if matches!(d.outcome, Outcome::Fired | Outcome::AwaitingApproval) {
                match arm {
                    Some(Arm::Holdout) => d.outcome = Outcome::Holdout,
                    Some(Arm::NotInCohort) => {
                        d.outcome = Outcome::Skipped {
                            reason: SkipReason::NotInCohort,
                            detail: self.outside_cohort(customer),
                        }
                    }
                    Some(Arm::Treated) | None => d.plan = Some(plan.clone()),
                }
            }
            d
        };
        let skipped = |reason: SkipReason, detail: String| Outcome::Skipped { reason, detail };
        // How a detail names a step: the short form's by its threshold, as §4 words it.
        let named = |step: &Step| match self.automation.step_form {
            StepForm::Thresholds => format!("threshold {}", step.day),
            StepForm::Named => format!("step {:?}", step.name),
        };

        // A hold's later steps need its `hold` step to have gone on (SPEC §8.6): not yet
        // decided, they wait for it; skipped for good, nothing more of the clock fires.
        let hold = candidate.clock.hold.as_ref();
        // A dry-run hold holds nothing: the live steps of an automation made live since find
        // no hold.
        let dry = self.automation.mode == Mode::DryRun;
        let mut hold_on = match hold {
            None => true,
            Some(_) => match settled.iter().filter(mine).find(|s| s.threshold_days == 0) {
                Some(s) if s.went_on && (s.live || dry) => true,
                Some(_) => return,
                None => false,
            },
        };
        // The date of the run the hold ends at: no other step fires after it.
        let hold_ends = hold.map(|h| self.calendar.local_date(h.ends_at));

        // The due steps, as (index, first due date), in ascending order of day.
        let mut due: Vec<(usize, NaiveDate)> = Vec::new();
        let last_message = messaged.iter().rev().find(|d| **d < self.date).copied();
        let quiet_now = match hold {
            None => customer.quiet_at(start, self.calendar.run_instant(self.date)),
            Some(_) => QuietAt::Not,
        };
        for (i, step) in steps.iter().enumerate() {
            if self.proceeds_only && !step.is_proceed() {
                continue;
            }
            let day = Self::due_day(step, hold);
            let first_due = self
                .calendar
                .first_due(day, start.occurred_at, candidate.since);
            if self.date < first_due
                || settled
                    .iter()
                    .filter(mine)
                    .any(|s| s.threshold_days == step.day)
            {
                continue;
            }
            if let (Some(hold), Some(ends)) = (hold, hold_ends)
                && !step.is_proceed()
                && (day > hold.until_day || self.date > ends)
            {
                out.push(decision(
                    i,
                    first_due,
                    skipped(
                        SkipReason::HoldEnded,
                        format!("{} falls after the hold, which ends on {ends}", named(step)),
                    ),
                ));
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
        // The built-in steps are never superseded, and `proceed` is subject to nothing but
        // the hold having begun (SPEC §8.6).
        let proceed = due
            .iter()
            .position(|(i, _)| steps[*i].is_proceed())
            .map(|p| due.remove(p));
        let begin = due
            .iter()
            .position(|(i, _)| steps[*i].is_hold())
            .map(|p| due.remove(p));
        if begin.is_some() || !due.is_empty() {
            match self.check_conditions(customer, candidate) {
                Err((reason, detail)) => {
                    for &(i, first_due) in begin.iter().chain(&due) {
                        out.push(decision(i, first_due, skipped(reason, detail.clone())));
                    }
                }
                Ok(()) => {
                    if let Some((i, first_due)) = begin {
                        out.push(decision(i, first_due, Outcome::Fired));
                        // A hold of a clock held out or outside the cohort never begins.
                        hold_on = treated;
                    }
                    if let Some(&(highest, highest_due)) = due.last().filter(|_| hold_on) {
                        let instead = named(&steps[highest]);
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
                        let outcome = match &steps[highest].approval {
                            Some(approval)
                                if self.all_hold(&approval.when, customer, candidate) =>
                            {
                                Outcome::AwaitingApproval
                            }
                            _ => Outcome::Fired,
                        };
                        out.push(decision(highest, highest_due, outcome));
                    }
                }
            }
        }
        if let Some((i, first_due)) = proceed.filter(|_| hold_on) {
            out.push(decision(i, first_due, Outcome::Fired));
        }
    }

    /// A decision of this run for the candidate's clock, at step day `day`, with no step,
    /// segment or plan yet.
    fn decision(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
        day: u16,
        outcome: Outcome,
        owed: Option<Money>,
    ) -> Decision {
        Decision {
            date: self.date,
            tenant_id: customer.tenant_id.clone(),
            customer_id: customer.customer_id.clone(),
            automation_id: self.automation.id.clone(),
            threshold_days: day,
            step: None,
            days_past_due: candidate.days_past_due,
            past_due_since: candidate.since,
            episode: candidate.clock.start.clone(),
            clock: self.automation.trigger.clock,
            clock_id: candidate.clock.id().map(Arc::from),
            segment: None,
            arm: None,
            automation_version: self.automation.version,
            mode: self.automation.mode,
            plan: None,
            outcome,
            late: self.caught_up,
            owed,
        }
    }

    /// What the customer owes on the clock: the negative balance (as a positive amount) for
    /// past due, what the latest failed payment tried to collect for a payment clock.
    fn owed(&self, customer: &CustomerState, candidate: &Candidate<'_>) -> Option<Money> {
        match candidate.clock.invoice {
            Some(invoice) => invoice.amount(),
            // A request to cancel is not a debt.
            None if candidate.clock.hold.is_some() => None,
            None => customer
                .balance
                .as_ref()
                .map(|b| b.balance)
                .filter(|b| b.amount_minor < 0)
                .map(|b| Money::new(-b.amount_minor, b.currency)),
        }
    }

    /// The clock's step list, segment and arm: as an earlier run recorded them, or decided
    /// now (and recorded in `out`) at the first run that looks at the clock. `None`: nothing
    /// of the clock fires (`no_segment`, or a segment renamed or removed since).
    fn assignment(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
        settled: &[Settled],
        out: &mut Vec<Decision>,
    ) -> Option<(usize, Option<Arc<str>>, Option<Arm>)> {
        if !self.assigns() {
            return Some((0, None, None));
        }
        let recorded = settled
            .iter()
            .filter(|s| candidate.clock.owns(s))
            .find(|s| s.threshold_days == SEGMENT_DAY);
        let Some(assigned) = recorded else {
            return match self.proceeds_only {
                // A hold not begun has nothing to proceed; one begun before its automation
                // had a rollout (a rollout-only automation records no segment) was treated.
                true if self.automation.segments.is_empty() => Some((0, None, None)),
                true => None,
                false => self.assign(customer, candidate, out),
            };
        };
        if self.automation.segments.is_empty() {
            return Some((0, None, assigned.arm));
        }
        // no_segment: nothing of the clock ever fires.
        let name = assigned.segment.as_ref()?;
        // A segment renamed or removed since has no steps left for the clock.
        let i = self.segment_names.iter().position(|n| n == name)?;
        Some((i, Some(name.clone()), assigned.arm))
    }

    /// Why a step of a clock outside the cohort is skipped: its bucket, which anyone can
    /// recompute (SPEC §8.8).
    fn outside_cohort(&self, customer: &CustomerState) -> String {
        let b = bucket(
            &customer.tenant_id,
            &self.automation.id,
            &customer.customer_id,
        );
        format!("the clock was put outside the rollout's cohort when first seen (bucket {b})")
    }

    /// Assigns a clock seen for the first time: to the first segment whose `when` holds now
    /// (a condition that cannot be evaluated, tenure without `created_at`, does not hold),
    /// and to the arm of the customer's bucket under the rollout. The assignment (or
    /// `no_segment`) is recorded in `out`.
    fn assign(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
        out: &mut Vec<Decision>,
    ) -> Option<(usize, Option<Arc<str>>, Option<Arm>)> {
        let segmented = !self.automation.segments.is_empty();
        let found = match segmented {
            false => Some(0),
            true => self.automation.segments.iter().position(|segment| {
                segment.when.iter().all(|c| {
                    self.condition_holds(c, customer, candidate)
                        .unwrap_or(false)
                })
            }),
        };
        let arm = self.automation.rollout.map(|r| {
            r.arm(bucket(
                &customer.tenant_id,
                &self.automation.id,
                &customer.customer_id,
            ))
        });
        let owed = self.owed(customer, candidate);
        let outcome = match found {
            Some(_) => Outcome::Segmented,
            None => Outcome::Skipped {
                reason: SkipReason::NoSegment,
                detail: format!(
                    "no segment's conditions held on {}: nothing of this clock fires",
                    self.date
                ),
            },
        };
        let segment = found
            .filter(|_| segmented)
            .map(|i| self.segment_names[i].clone());
        let mut d = self.decision(customer, candidate, SEGMENT_DAY, outcome, owed);
        d.segment = segment.clone();
        d.arm = arm.filter(|_| found.is_some());
        out.push(d);
        Some((found?, segment, arm))
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
        if !self.spaced(step) {
            return window_start;
        }
        match customer.quiet_at(episode, self.calendar.run_instant(window_start)) {
            QuietAt::Not => window_start,
            QuietAt::Until(end) => self.released_on(end).max(window_start),
            QuietAt::Open => NaiveDate::MAX,
        }
    }

    /// The class of an invoice's latest failure under the tenant's overrides.
    pub fn category(&self, invoice: &Invoice) -> FailureCategory {
        invoice.category(self.declines)
    }

    /// Whether a message sent on `last` leaves less than the spacing before this run.
    fn too_soon(&self, last: NaiveDate) -> bool {
        self.spacing > 0 && days_between(last, self.date) < i64::from(self.spacing)
    }

    /// Whether every condition of an approval's `when` holds. One that cannot be evaluated
    /// (tenure without `created_at`) counts as holding: an approval is asked for when in
    /// doubt, never skipped.
    fn all_hold(
        &self,
        when: &[Condition],
        customer: &CustomerState,
        candidate: &Candidate<'_>,
    ) -> bool {
        when.iter()
            .all(|c| self.condition_holds(c, customer, candidate).unwrap_or(true))
    }

    /// The automation's conditions on the run's date (SPEC §4.4), or the first that fails.
    fn check_conditions(
        &self,
        customer: &CustomerState,
        candidate: &Candidate<'_>,
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
            match self.condition_holds(condition, customer, candidate) {
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
        candidate: &Candidate<'_>,
    ) -> Result<bool, &'static str> {
        let profile = customer.profile();
        let invoice = || {
            candidate
                .clock
                .invoice
                .ok_or("the clock has no failed payment")
        };
        Ok(match condition {
            Condition::Number { field, op, value } => {
                let left = match field {
                    NumberField::BalanceAmountMinor => customer
                        .balance
                        .as_ref()
                        .map(|b| b.balance.amount_minor)
                        .ok_or("the customer has no balance")?,
                    NumberField::DaysPastDue | NumberField::ClockDays => candidate.days_past_due,
                    NumberField::PaymentAmountMinor => invoice()?
                        .amount()
                        .map(|m| m.amount_minor)
                        .ok_or("the invoice has no failed payment")?,
                    NumberField::PaymentAttempt => i64::from(invoice()?.attempt()),
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
            Condition::Currency {
                field,
                values,
                negate,
            } => {
                let currency = match field {
                    CurrencyField::Balance => customer
                        .balance
                        .as_ref()
                        .map(|b| b.balance.currency)
                        .ok_or("the customer has no balance")?,
                    CurrencyField::Payment => invoice()?
                        .amount()
                        .map(|m| m.currency)
                        .ok_or("the invoice has no failed payment")?,
                };
                values.contains(&currency) != *negate
            }
            Condition::Code {
                field,
                values,
                negate,
            } if *field == CodeField::CancellationReason => {
                let hold = candidate
                    .clock
                    .hold
                    .ok_or("the clock has no cancellation request")?;
                let reason = hold.request.reason.as_deref();
                reason.is_some_and(|r| values.iter().any(|v| v == r)) != *negate
            }
            Condition::Code {
                field,
                values,
                negate,
            } => {
                let invoice = invoice()?;
                let found = match field {
                    CodeField::FailureCode => invoice
                        .latest
                        .as_ref()
                        .and_then(|f| f.failure_code.as_deref()),
                    CodeField::FailureCategory => Some(self.category(invoice).as_str()),
                    CodeField::CancellationReason => unreachable!("read above"),
                };
                found.is_some_and(|f| values.iter().any(|v| v == f)) != *negate
            }
            Condition::Metadata { key, value, negate } => {
                let found = customer.metadata().and_then(|m| m.get(key));
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
