//! The weekly review (SPEC §8.9): per automation, version and step, what was decided, how the
//! treated and the held out recovered, the lift with its interval, and the exceptions to tune
//! thresholds on. It reads the decisions of its look-back window (the dates index) and the
//! stops of the customers they name: its reads grow with the decisions, never with the
//! tenant's customers.
//!
//! [`html`] renders it as one self-contained page with SVG charts; [`Review::to_json`] is the
//! API's and `rulekit report`'s answer.

pub mod aging;
pub mod html;
pub mod publish;
mod svg;

use crate::domain::aging::AgingTable;
use crate::domain::automation::Action;
use crate::domain::calendar::{TenantCalendar, days_between};
use crate::domain::decision::{Decision, Outcome, SkipReason};
use crate::domain::kpi::{self, Share};
use crate::domain::outcome::{ClockStop, How};
use crate::domain::rollout::{Arm, Rollout};
use crate::domain::{Automation, CustomerId, Mode, TenantId};
use crate::ports::StoreError;
use crate::ports::{
    AdminStore, AutomationStore, FiringRecord, FiringStatus, OutcomeStore, ReportRecords,
};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Days after a decision its recovery counts within (SPEC §8.9's k).
pub const RECOVERY_DAYS: u16 = 14;
/// Days of decisions a review's recovery figures are taken over, ending with its week: eight
/// weeks, so the firings of the six weeks before have had their 14 days.
pub const LOOKBACK_DAYS: u64 = 56;
/// The recovery curves' last day since the decision.
pub const CURVE_DAYS: i64 = 28;
/// Fewer matured decisions per arm than this, and the figures are marked too small to act on
/// (Churnkey's floor).
pub const MIN_PER_ARM: u64 = 30;
/// Entries listed per exception list (the count is always whole).
pub const EXCEPTIONS_LISTED: usize = 100;

/// An ISO week, `2026-W47`: Monday to Sunday in the tenant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

impl IsoWeek {
    /// Reads `YYYY-Www`; `None` for anything else or a week the year does not have.
    pub fn parse(s: &str) -> Option<IsoWeek> {
        let (year, week) = s.split_once("-W")?;
        if year.len() != 4
            || week.len() != 2
            || !year.bytes().chain(week.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let w = IsoWeek {
            year: year.parse().ok()?,
            week: week.parse().ok()?,
        };
        NaiveDate::from_isoywd_opt(w.year, w.week, Weekday::Mon)?;
        Some(w)
    }

    pub fn of(date: NaiveDate) -> IsoWeek {
        let w = date.iso_week();
        IsoWeek {
            year: w.year(),
            week: w.week(),
        }
    }

    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or(NaiveDate::MIN)
    }

    pub fn sunday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Sun).unwrap_or(NaiveDate::MIN)
    }

    /// The Monday after the week: the date its closing aging table is recorded under.
    pub fn next_monday(self) -> NaiveDate {
        self.sunday().succ_opt().unwrap_or(NaiveDate::MAX)
    }

    /// The weeks that touch `from..=to`, in order.
    pub fn covering(from: NaiveDate, to: NaiveDate) -> Vec<IsoWeek> {
        let mut weeks = Vec::new();
        let mut day = from;
        while day <= to {
            let w = IsoWeek::of(day);
            weeks.push(w);
            day = w.next_monday();
        }
        weeks
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

/// The weekly review of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub tenant_id: TenantId,
    pub week: IsoWeek,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The first date whose decisions the recovery figures include.
    pub lookback_from: NaiveDate,
    pub groups: Vec<StepGroup>,
    pub assignments: Vec<AssignmentCheck>,
    /// Per date of the week, per automation and step: decisions that went on (fired, held,
    /// awaiting approval; live or dry run) and holdouts.
    pub per_day: Vec<DayCount>,
    pub exceptions: Vec<ExceptionList>,
    /// The aging table recorded on the week's Monday and on the next (the weekly job's
    /// dates): the week's change is the difference. `None` where none was recorded.
    pub aging_start: Option<AgingTable>,
    pub aging_end: Option<AgingTable>,
    /// The conditions most often not met over the week, most frequent first (at most
    /// [`CONDITIONS_LISTED`]).
    pub conditions_not_met: Vec<ConditionSkips>,
}

/// Conditions not met listed per review.
pub const CONDITIONS_LISTED: usize = 10;

/// One step's condition and how often the week's daily runs skipped a customer on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionSkips {
    pub automation_id: String,
    pub step: String,
    pub condition: String,
    /// Customer-days: a customer skipped on three runs counts three times.
    pub skips: u64,
    /// The week's runs that skipped on it.
    pub days: u64,
}

/// One automation version's step, in one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct StepGroup {
    pub automation_id: String,
    pub automation_name: String,
    pub automation_version: u64,
    pub mode: Mode,
    /// The clock's trigger type.
    pub clock: &'static str,
    pub step: String,
    pub day: u16,
    /// This week's decisions.
    pub this_week: WeekCounts,
    pub treated: ArmFigures,
    pub holdout: ArmFigures,
    /// Treated rate − holdout rate, with Newcombe's interval: only for a live step with
    /// matured decisions in both arms.
    pub lift: Option<(f64, f64, f64)>,
    /// What the figures can and cannot say.
    pub notes: Vec<String>,
    /// Threshold hints in words.
    pub hints: Vec<String>,
    /// For cancellation holds: the holds that ended, those saved, and each offer's uptake.
    pub saves: Option<Saves>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeekCounts {
    pub went_on: u64,
    pub holdout: u64,
    pub not_in_cohort: u64,
    pub held: u64,
    pub awaiting_approval: u64,
}

/// One arm's outcome figures over the look-back window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArmFigures {
    pub decisions: u64,
    /// Decisions at least `RECOVERY_DAYS` before the week's end.
    pub matured: u64,
    /// Of the matured, those recovered within `RECOVERY_DAYS`.
    pub recovered: u64,
    pub median_days_to_recover: Option<f64>,
    /// What the customers owed at the decision, summed per currency over those who
    /// recovered during the week (debts only; never summed across currencies).
    pub recovered_this_week: BTreeMap<&'static str, i64>,
    /// Share still unrecovered by days since the decision: `(day, share, decisions observed)`.
    pub curve: Vec<(i64, f64, u64)>,
}

impl ArmFigures {
    pub fn share(&self) -> Share {
        Share::new(self.recovered, self.matured)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Saves {
    pub ended: u64,
    pub saved: u64,
    /// `(offer_id, offered, accepted)`.
    pub offers: Vec<(String, u64, u64)>,
}

/// The sample-ratio check of one automation's current version: its clocks' arms as assigned
/// in the look-back window against the rollout's shares.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentCheck {
    pub automation_id: String,
    pub automation_version: u64,
    pub rollout: Rollout,
    pub treated: u64,
    pub holdout: u64,
    pub not_in_cohort: u64,
    /// `None`: too few decisions per arm to check.
    pub p_value: Option<f64>,
}

impl AssignmentCheck {
    pub fn mismatch(&self) -> bool {
        self.p_value.is_some_and(|p| p < kpi::SRM_P)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub date: NaiveDate,
    pub automation_id: String,
    pub step: String,
    pub went_on: u64,
    pub holdout: u64,
}

/// One list of exceptions of the week.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionList {
    pub kind: &'static str,
    pub title: &'static str,
    pub total: u64,
    pub items: Vec<ExceptionItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionItem {
    pub date: NaiveDate,
    pub customer_id: String,
    pub automation_id: String,
    pub step: String,
    pub detail: String,
}

/// What a decision came to: how its clock stopped, and on which local date, when that was a
/// recovery by the end of the week reviewed.
fn recovery(
    decision: &Decision,
    stops: &[ClockStop],
    calendar: &TenantCalendar,
    end: NaiveDate,
) -> Option<(How, NaiveDate)> {
    stops
        .iter()
        .filter(|s| s.settles(decision))
        .map(|s| (s.how, calendar.local_date(s.end.occurred_at)))
        .filter(|(how, on)| how.recovered() && *on <= end)
        .min_by_key(|(_, on)| *on)
}

/// A decision in a group's arm, with its recovery.
struct Observed<'a> {
    record: &'a FiringRecord,
    recovered: Option<(How, NaiveDate)>,
}

impl Observed<'_> {
    fn date(&self) -> NaiveDate {
        self.record.decision.date
    }

    /// Days from the decision to its recovery.
    fn days(&self) -> Option<i64> {
        self.recovered
            .map(|(_, on)| days_between(self.date(), on).max(0))
    }
}

fn figures(arm: &[Observed<'_>], from: NaiveDate, to: NaiveDate) -> ArmFigures {
    let k = i64::from(RECOVERY_DAYS);
    let age = |o: &Observed<'_>| days_between(o.date(), to);
    let matured: Vec<&Observed<'_>> = arm.iter().filter(|o| age(o) >= k).collect();
    let mut days: Vec<i64> = arm.iter().filter_map(Observed::days).collect();
    let mut recovered_this_week = BTreeMap::new();
    for o in arm {
        if let (Some((_, on)), Some(owed)) = (o.recovered, o.record.decision.owed)
            && on >= from
            && on <= to
        {
            *recovered_this_week.entry(owed.currency.code()).or_insert(0) += owed.amount_minor;
        }
    }
    let mut curve = Vec::new();
    for t in 0..=CURVE_DAYS {
        let observed: Vec<&Observed<'_>> = arm.iter().filter(|o| age(o) >= t).collect();
        if observed.is_empty() {
            break;
        }
        let unrecovered = observed
            .iter()
            .filter(|o| o.days().is_none_or(|d| d > t))
            .count();
        curve.push((
            t,
            unrecovered as f64 / observed.len() as f64,
            observed.len() as u64,
        ));
    }
    ArmFigures {
        decisions: arm.len() as u64,
        matured: matured.len() as u64,
        recovered: matured
            .iter()
            .filter(|o| o.days().is_some_and(|d| d <= k))
            .count() as u64,
        median_days_to_recover: kpi::median(&mut days),
        recovered_this_week,
        curve,
    }
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Whether the decision went on in the treated arm: fired, held or awaiting approval.
fn went_on(d: &Decision) -> bool {
    matches!(
        d.outcome,
        Outcome::Fired | Outcome::Held | Outcome::AwaitingApproval
    )
}

type GroupKey = (String, u64, bool, u16);

/// The weekly review of `tenant` for `week`, as the store holds it now.
pub async fn weekly_review<S>(
    store: &S,
    tenant: &TenantId,
    week: IsoWeek,
) -> Result<Review, StoreError>
where
    S: AutomationStore + AdminStore + OutcomeStore + ReportRecords,
{
    let settings = store.tenant_settings(tenant).await?;
    let calendar = &settings.calendar;
    let automations = store.tenant_automations(tenant).await?;
    let to = week.sunday();
    let lookback_from = to
        .checked_sub_days(Days::new(LOOKBACK_DAYS - 1))
        .unwrap_or(NaiveDate::MIN);
    let mut records = Vec::new();
    for date in lookback_from.iter_days().take_while(|d| *d <= to) {
        records.extend(store.firings_on(tenant, date).await?);
    }
    // The stops of the customers whose decisions have outcomes to find: one read each.
    let mut stops: HashMap<CustomerId, Vec<ClockStop>> = HashMap::new();
    for r in &records {
        let d = &r.decision;
        if (went_on(d) || d.outcome == Outcome::Holdout) && !stops.contains_key(&d.customer_id) {
            let found = store.customer_stops(tenant, &d.customer_id).await?;
            stops.insert(d.customer_id.clone(), found);
        }
    }
    let mut review = review_of(
        tenant,
        week,
        lookback_from,
        calendar,
        &automations,
        &records,
        &stops,
    );
    review.aging_start = store.aging_on(tenant, week.monday()).await?;
    review.aging_end = store.aging_on(tenant, week.next_monday()).await?;
    let mut skipped: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for date in week.monday().iter_days().take(7) {
        for s in store.skips_on(tenant, date).await? {
            let entry = skipped
                .entry((s.automation_id, s.step, s.condition))
                .or_default();
            entry.0 += s.customers;
            entry.1 += 1;
        }
    }
    let mut conditions: Vec<ConditionSkips> = skipped
        .into_iter()
        .map(
            |((automation_id, step, condition), (skips, days))| ConditionSkips {
                automation_id,
                step,
                condition,
                skips,
                days,
            },
        )
        .collect();
    // Most frequent first; ties in the key's order, so the list is the same on every store.
    conditions.sort_by_key(|c| std::cmp::Reverse(c.skips));
    conditions.truncate(CONDITIONS_LISTED);
    review.conditions_not_met = conditions;
    Ok(review)
}

fn review_of(
    tenant: &TenantId,
    week: IsoWeek,
    lookback_from: NaiveDate,
    calendar: &TenantCalendar,
    automations: &[Automation],
    records: &[FiringRecord],
    stops: &HashMap<CustomerId, Vec<ClockStop>>,
) -> Review {
    let (from, to) = (week.monday(), week.sunday());
    let in_week = |d: &Decision| d.date >= from && d.date <= to;
    let by_id: HashMap<&str, &Automation> =
        automations.iter().map(|a| (a.id.as_str(), a)).collect();

    // Arms of each step group, and this week's counts.
    struct Building<'a> {
        name: String,
        clock: &'static str,
        step: String,
        treated: Vec<Observed<'a>>,
        holdout: Vec<Observed<'a>>,
        week: WeekCounts,
        hold_days: Option<u16>,
    }
    let mut groups: BTreeMap<GroupKey, Building<'_>> = BTreeMap::new();
    let mut per_day: BTreeMap<(NaiveDate, String, u16, String), (u64, u64)> = BTreeMap::new();
    let mut assignments: BTreeMap<(String, u64), [u64; 3]> = BTreeMap::new();
    for r in records {
        let d = &r.decision;
        if d.is_assignment() {
            if let (Some(arm), Some(a)) = (d.arm, by_id.get(d.automation_id.as_str()))
                && a.version == d.automation_version
                && a.rollout.is_some()
            {
                let counts = assignments
                    .entry((d.automation_id.to_string(), d.automation_version))
                    .or_default();
                counts[arm as usize] += 1;
            }
            continue;
        }
        let key = (
            d.automation_id.to_string(),
            d.automation_version,
            d.mode == Mode::DryRun,
            d.threshold_days,
        );
        let group = groups.entry(key).or_insert_with(|| Building {
            name: by_id
                .get(d.automation_id.as_str())
                .map(|a| a.name.clone())
                .or_else(|| d.plan.as_ref().map(|p| p.automation_name.clone()))
                .unwrap_or_else(|| d.automation_id.to_string()),
            clock: d.clock.trigger_type(),
            step: d.step_name().into_owned(),
            treated: Vec::new(),
            holdout: Vec::new(),
            week: WeekCounts::default(),
            hold_days: None,
        });
        if group.hold_days.is_none() {
            group.hold_days = d.plan.as_ref().and_then(|p| p.hold_days);
        }
        let observed = || Observed {
            record: r,
            recovered: stops
                .get(&d.customer_id)
                .and_then(|s| recovery(d, s, calendar, to)),
        };
        let held_out = d.outcome == Outcome::Holdout;
        if went_on(d) && d.arm != Some(Arm::Holdout) {
            group.treated.push(observed());
        } else if held_out {
            group.holdout.push(observed());
        }
        if in_week(d) {
            let w = &mut group.week;
            match &d.outcome {
                Outcome::Holdout => w.holdout += 1,
                Outcome::Skipped {
                    reason: SkipReason::NotInCohort,
                    ..
                } => w.not_in_cohort += 1,
                _ => {}
            }
            if went_on(d) {
                w.went_on += 1;
                match r.status {
                    FiringStatus::Held | FiringStatus::Discarded => w.held += 1,
                    FiringStatus::AwaitingApproval => w.awaiting_approval += 1,
                    _ => {}
                }
            }
            if went_on(d) || held_out {
                let day = per_day
                    .entry((
                        d.date,
                        d.automation_id.to_string(),
                        d.threshold_days,
                        d.step_name().into_owned(),
                    ))
                    .or_default();
                if held_out {
                    day.1 += 1;
                } else {
                    day.0 += 1;
                }
            }
        }
    }

    let groups = groups
        .into_iter()
        .map(|((automation_id, version, dry, day), g)| {
            let treated = figures(&g.treated, from, to);
            let holdout = figures(&g.holdout, from, to);
            let mode = if dry { Mode::DryRun } else { Mode::Live };
            let mut notes = Vec::new();
            let mut hints = Vec::new();
            let k = RECOVERY_DAYS;
            let lift = match mode {
                Mode::DryRun => {
                    notes.push(
                        "a dry run carries nothing out: these are the targeted customers' \
                         recoveries without action, the baseline a live cohort must beat; \
                         lift needs a live cohort and a concurrent holdout"
                            .to_owned(),
                    );
                    None
                }
                Mode::Live if holdout.decisions == 0 => {
                    notes.push(
                        "no holdout: the recovery rate cannot be attributed to the step \
                         (set rollout.holdout_percent to measure lift)"
                            .to_owned(),
                    );
                    None
                }
                Mode::Live => kpi::difference(treated.share(), holdout.share()),
            };
            if lift.is_some() {
                notes.push(
                    "interim: an interval read every week is not a 95% test; decide at a \
                     week planned in advance"
                        .to_owned(),
                );
            }
            let baseline = match mode {
                Mode::DryRun => &treated,
                Mode::Live => &holdout,
            };
            if baseline.matured >= kpi::SRM_MIN_PER_ARM
                && let Some(rate) = baseline.share().rate() {
                    let whose = match mode {
                        Mode::DryRun => "of the customers this dry run targets",
                        Mode::Live => "of this step's holdout",
                    };
                    hints.push(format!(
                        "{} {whose} recovered within {k} days without action",
                        percent(rate)
                    ));
                }
            let enough = treated.matured >= MIN_PER_ARM && holdout.matured >= MIN_PER_ARM;
            if let (Some(_), false) = (lift, enough) {
                hints.push(format!(
                    "too few decisions to tell yet: {} treated and {} held out have had their                      {k} days; {MIN_PER_ARM} of each are needed",
                    treated.matured, holdout.matured
                ));
            }
            if let Some((d, lo, hi)) = lift.filter(|_| enough) {
                if lo > 0.0 {
                    hints.push(format!(
                        "the step adds {:.0} points of recovery within {k} days (95% interval \
                         {:.0} to {:.0})",
                        d * 100.0,
                        lo * 100.0,
                        hi * 100.0
                    ));
                } else if hi < 0.0 {
                    hints.push(format!(
                        "the treated recover less than the holdout ({:.0} points): review the \
                         step's action",
                        d * 100.0
                    ));
                } else {
                    hints.push(format!(
                        "no evidence yet that the step adds recoveries (95% interval {:.0} to \
                         {:.0} points)",
                        lo * 100.0,
                        hi * 100.0
                    ));
                }
            }
            let saves = (g.clock == "cancellation_requested").then(|| {
                saves_of(&g.treated, g.hold_days.unwrap_or(0), stops, calendar, to)
            });
            StepGroup {
                automation_id,
                automation_name: g.name,
                automation_version: version,
                mode,
                clock: g.clock,
                step: g.step,
                day,
                this_week: g.week,
                treated,
                holdout,
                lift,
                notes,
                hints,
                saves,
            }
        })
        .collect();

    let assignments = assignments
        .into_iter()
        .filter_map(
            |((automation_id, version), [treated, holdout, not_in_cohort])| {
                let rollout = by_id.get(automation_id.as_str())?.rollout?;
                let (h, c) = (
                    f64::from(rollout.holdout_percent),
                    f64::from(rollout.cohort_percent),
                );
                Some(AssignmentCheck {
                    p_value: kpi::sample_ratio_p(holdout, treated, h / (h + c)),
                    automation_id,
                    automation_version: version,
                    rollout,
                    treated,
                    holdout,
                    not_in_cohort,
                })
            },
        )
        .collect();

    Review {
        tenant_id: tenant.clone(),
        week,
        from,
        to,
        lookback_from,
        groups,
        assignments,
        per_day: per_day
            .into_iter()
            .map(
                |((date, automation_id, _, step), (went_on, holdout))| DayCount {
                    date,
                    automation_id,
                    step,
                    went_on,
                    holdout,
                },
            )
            .collect(),
        exceptions: exceptions(
            records.iter().filter(|r| in_week(&r.decision)),
            stops,
            calendar,
        ),
        aging_start: None,
        aging_end: None,
        conditions_not_met: Vec::new(),
    }
}

/// A hold's save figures: of the treated holds that ended by the week's end (stopped, or
/// past their hold), those the customer withdrew or settled with an offer; per offer, how
/// often it was made and accepted.
fn saves_of(
    treated: &[Observed<'_>],
    hold_days: u16,
    stops: &HashMap<CustomerId, Vec<ClockStop>>,
    calendar: &TenantCalendar,
    to: NaiveDate,
) -> Saves {
    let mut saves = Saves::default();
    let mut offers: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for o in treated {
        let d = &o.record.decision;
        let stop = stops
            .get(&d.customer_id)
            .and_then(|s| s.iter().find(|s| s.settles(d)))
            .filter(|s| calendar.local_date(s.end.occurred_at) <= to);
        let ended = stop.is_some() || days_between(d.date, to) >= i64::from(hold_days);
        if d.threshold_days == 0 && ended {
            saves.ended += 1;
            if stop.is_some_and(|s| matches!(s.how, How::Withdrawn | How::OfferAccepted)) {
                saves.saved += 1;
            }
        }
        for action in d.plan.iter().flat_map(|p| &p.actions) {
            if let Action::Offer { offer_id, .. } = action {
                let entry = offers.entry(offer_id.clone()).or_default();
                entry.0 += 1;
                if stop.is_some_and(|s| s.offer_id.as_deref() == Some(offer_id)) {
                    entry.1 += 1;
                }
            }
        }
    }
    saves.offers = offers.into_iter().map(|(id, (o, a))| (id, o, a)).collect();
    saves
}

/// The week's exceptions, each list in date order.
fn exceptions<'a>(
    records: impl Iterator<Item = &'a FiringRecord>,
    stops: &HashMap<CustomerId, Vec<ClockStop>>,
    calendar: &TenantCalendar,
) -> Vec<ExceptionList> {
    const KINDS: [(&str, &str); 8] = [
        ("failed", "Actions that failed to publish"),
        ("cancelled", "Actions cancelled before sending"),
        (
            "recovered_before_action",
            "Customers who recovered before the step was carried out",
        ),
        ("held", "Held by the guardrail"),
        ("awaiting_approval", "Approvals pending"),
        ("rejected", "Approvals rejected"),
        ("expired", "Approvals expired"),
        ("missed_window", "Steps that missed their window"),
    ];
    let mut lists: Vec<ExceptionList> = KINDS
        .iter()
        .map(|(kind, title)| ExceptionList {
            kind,
            title,
            total: 0,
            items: Vec::new(),
        })
        .collect();
    let mut push = |kind: &str, r: &FiringRecord, detail: String| {
        let list = lists
            .iter_mut()
            .find(|l| l.kind == kind)
            .expect("a known kind");
        list.total += 1;
        if list.items.len() < EXCEPTIONS_LISTED {
            let d = &r.decision;
            list.items.push(ExceptionItem {
                date: d.date,
                customer_id: d.customer_id.to_string(),
                automation_id: d.automation_id.to_string(),
                step: d.step_name().into_owned(),
                detail,
            });
        }
    };
    for r in records {
        let d = &r.decision;
        let reasons: Vec<&str> = r.cancelled.iter().map(|c| c.reason.as_str()).collect();
        match r.status {
            FiringStatus::Failed => push("failed", r, "publishing kept failing".to_owned()),
            FiringStatus::Held => push("held", r, "held; not released yet".to_owned()),
            FiringStatus::Discarded => push("held", r, "held, then discarded".to_owned()),
            FiringStatus::AwaitingApproval => push(
                "awaiting_approval",
                r,
                d.approval_expires_on()
                    .map_or_else(String::new, |last| format!("expires after {last}")),
            ),
            FiringStatus::Rejected => push("rejected", r, String::new()),
            FiringStatus::Expired => push("expired", r, String::new()),
            _ => {}
        }
        if !reasons.is_empty() {
            push("cancelled", r, reasons.join(", "));
        }
        if reasons.contains(&"clock_stopped") {
            let how = stops
                .get(&d.customer_id)
                .and_then(|s| s.iter().find(|s| s.settles(d)))
                .map(|s| {
                    format!(
                        "{} on {}",
                        s.how.as_str(),
                        calendar.local_date(s.end.occurred_at)
                    )
                })
                .unwrap_or_else(|| "the clock stopped".to_owned());
            push("recovered_before_action", r, how);
        }
        if let Outcome::Skipped {
            reason: SkipReason::MissedWindow,
            detail,
        } = &d.outcome
        {
            push("missed_window", r, detail.clone());
        }
    }
    lists
}

impl Review {
    pub fn to_json(&self) -> Value {
        let money = |m: &BTreeMap<&'static str, i64>| -> Vec<Value> {
            m.iter()
                .map(|(currency, amount)| json!({"currency": currency, "amount_minor": amount}))
                .collect()
        };
        let arm = |a: &ArmFigures| {
            let share = a.share();
            json!({
                "decisions": a.decisions,
                "matured": a.matured,
                "recovered": a.recovered,
                "recovery_rate": share.rate(),
                "interval": share.wilson().map(|(l, h)| [l, h]),
                "median_days_to_recover": a.median_days_to_recover,
                "amount_recovered_this_week": money(&a.recovered_this_week),
                "curve": a.curve.iter()
                    .map(|(day, share, n)| json!({"day": day, "unrecovered": share, "observed": n}))
                    .collect::<Vec<_>>(),
            })
        };
        json!({
            "tenant_id": self.tenant_id,
            "week": self.week.to_string(),
            "from": self.from.to_string(),
            "to": self.to.to_string(),
            "lookback_from": self.lookback_from.to_string(),
            "recovery_days": RECOVERY_DAYS,
            "steps": self.groups.iter().map(|g| json!({
                "automation_id": g.automation_id,
                "automation_name": g.automation_name,
                "automation_version": g.automation_version,
                "mode": g.mode.as_str(),
                "trigger": g.clock,
                "step": g.step,
                "day": g.day,
                "this_week": {
                    "went_on": g.this_week.went_on,
                    "holdout": g.this_week.holdout,
                    "not_in_cohort": g.this_week.not_in_cohort,
                    "held": g.this_week.held,
                    "awaiting_approval": g.this_week.awaiting_approval,
                },
                "treated": arm(&g.treated),
                "holdout": arm(&g.holdout),
                "lift": g.lift.map(|(d, l, h)| json!({"difference": d, "low": l, "high": h})),
                "notes": g.notes,
                "hints": g.hints,
                "saves": g.saves.as_ref().map(|s| json!({
                    "ended": s.ended,
                    "saved": s.saved,
                    "save_rate": Share::new(s.saved, s.ended).rate(),
                    "offers": s.offers.iter().map(|(id, offered, accepted)| json!({
                        "offer_id": id,
                        "offered": offered,
                        "accepted": accepted,
                        "acceptance_rate": Share::new(*accepted, *offered).rate(),
                    })).collect::<Vec<_>>(),
                })),
            })).collect::<Vec<_>>(),
            "sample_ratio": self.assignments.iter().map(|a| json!({
                "automation_id": a.automation_id,
                "automation_version": a.automation_version,
                "rollout": a.rollout.to_json(),
                "treated": a.treated,
                "holdout": a.holdout,
                "not_in_cohort": a.not_in_cohort,
                "p_value": a.p_value,
                "mismatch": a.mismatch(),
            })).collect::<Vec<_>>(),
            "per_day": self.per_day.iter().map(|d| json!({
                "date": d.date.to_string(),
                "automation_id": d.automation_id,
                "step": d.step,
                "went_on": d.went_on,
                "holdout": d.holdout,
            })).collect::<Vec<_>>(),
            "aging": {
                "start": self.aging_start.as_ref().map(aging::to_json),
                "end": self.aging_end.as_ref().map(aging::to_json),
                "change": match (&self.aging_start, &self.aging_end) {
                    (Some(start), Some(end)) => aging::change_json(start, end),
                    _ => Value::Null,
                },
            },
            "conditions_not_met": self.conditions_not_met.iter().map(|c| json!({
                "automation_id": c.automation_id,
                "step": c.step,
                "condition": c.condition,
                "skips": c.skips,
                "days": c.days,
            })).collect::<Vec<_>>(),
            "exceptions": self.exceptions.iter().map(|l| json!({
                "kind": l.kind,
                "title": l.title,
                "total": l.total,
                "items": l.items.iter().map(|i| json!({
                    "date": i.date.to_string(),
                    "customer_id": i.customer_id,
                    "automation_id": i.automation_id,
                    "step": i.step,
                    "detail": i.detail,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The review in a few lines of plain text, for email: what the weekly schedule sends
    /// to the finance topic. No customer ids: only counts and rates.
    pub fn summary_text(&self) -> String {
        let mut out = format!(
            "RuleKit weekly review for {}, {} ({} to {})\n",
            self.tenant_id, self.week, self.from, self.to
        );
        if self.groups.is_empty() {
            out.push_str("\nNo decisions in the last eight weeks.\n");
        }
        for g in &self.groups {
            let rate = |a: &ArmFigures| {
                a.share().rate().map_or_else(
                    || "no matured decisions".to_owned(),
                    |r| {
                        format!(
                            "{} of {} recovered within {RECOVERY_DAYS} days",
                            percent(r),
                            a.matured
                        )
                    },
                )
            };
            out.push_str(&format!(
                "\n{} (v{}, {}), step {}: {} went on this week, {} held out\n  treated: {}\n",
                g.automation_name,
                g.automation_version,
                g.mode.as_str(),
                g.step,
                g.this_week.went_on,
                g.this_week.holdout,
                rate(&g.treated),
            ));
            if g.holdout.decisions > 0 {
                out.push_str(&format!("  holdout: {}\n", rate(&g.holdout)));
            }
            for hint in &g.hints {
                out.push_str(&format!("  - {hint}\n"));
            }
        }
        for a in self.assignments.iter().filter(|a| a.mismatch()) {
            out.push_str(&format!(
                "\nSample-ratio mismatch on {} v{}: {} held out against {} treated (p < 0.001)\n",
                a.automation_id, a.automation_version, a.holdout, a.treated
            ));
        }
        if !self.conditions_not_met.is_empty() {
            out.push_str("\nConditions most often not met (customer-days)\n");
            for c in self.conditions_not_met.iter().take(3) {
                out.push_str(&format!(
                    "  {} step {}: {}, {} skips on {} days\n",
                    c.automation_id, c.step, c.condition, c.skips, c.days
                ));
            }
        }
        if let Some(end) = &self.aging_end {
            out.push_str(&format!(
                "\nOwed on {} by age (days since the charge)\n",
                end.date
            ));
            for c in &end.currencies {
                let start = self
                    .aging_start
                    .as_ref()
                    .and_then(|s| s.currency(c.currency));
                let cells: Vec<String> = crate::domain::aging::BUCKETS
                    .iter()
                    .zip(&c.buckets)
                    .map(|((name, _), b)| {
                        format!(
                            "{name}: {}",
                            crate::domain::Money::new(b.amount_minor, c.currency)
                                .to_decimal_string()
                        )
                    })
                    .collect();
                let change = start.map_or_else(String::new, |s| {
                    format!(
                        " ({} over the week)",
                        crate::domain::Money::new(c.total_minor() - s.total_minor(), c.currency)
                            .to_decimal_string()
                    )
                });
                out.push_str(&format!(
                    "  {}, {} customers{change}: {}\n",
                    crate::domain::Money::new(c.total_minor(), c.currency).to_decimal_string(),
                    c.customers(),
                    cells.join(", ")
                ));
            }
        }
        let listed: Vec<String> = self
            .exceptions
            .iter()
            .filter(|l| l.total > 0)
            .map(|l| format!("{}: {}", l.title, l.total))
            .collect();
        if !listed.is_empty() {
            out.push_str(&format!(
                "\nExceptions this week\n  {}\n",
                listed.join("\n  ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_week_is_named_should_read_only_real_iso_weeks() {
        let w = IsoWeek::parse("2026-W47").unwrap();
        assert_eq!(w.monday().to_string(), "2026-11-16");
        assert_eq!(w.sunday().to_string(), "2026-11-22");
        assert_eq!(w.to_string(), "2026-W47");
        assert_eq!(IsoWeek::of("2026-11-22".parse().unwrap()), w);
        // 2026 has 53 ISO weeks; 2025 has 52.
        assert!(IsoWeek::parse("2026-W53").is_some());
        for bad in [
            "2025-W53", "2026-W00", "2026-W7", "2026W47", "26-W47", "2026-W4x",
        ] {
            assert_eq!(IsoWeek::parse(bad), None, "{bad}");
        }
        let weeks = IsoWeek::covering("2026-11-20".parse().unwrap(), "2026-12-01".parse().unwrap());
        assert_eq!(
            weeks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2026-W47", "2026-W48", "2026-W49"]
        );
    }
}
