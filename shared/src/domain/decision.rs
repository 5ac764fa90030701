//! Decisions: what the firing rule concluded for one automation, customer, episode and
//! threshold on one date, and why. Every decision explains itself, which is what `--explain`
//! prints and what the API shows when asked why something did or did not fire.

use super::automation::{Action, Mode};
use super::clock::ClockKind;
use super::customer::Continuity;
use super::event::EventKey;
use super::fields::{FieldErrors, Reader};
use super::ids::{AutomationId, CustomerId, TenantId};
use super::money::Money;
use super::rollout::Arm;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What a firing carries out, fixed when it is decided: the automation's name, the step's
/// owner and actions then, and the clock its customer messages are re-checked
/// under. The executor
/// reads the plan, never the automation, so a replace or an archive after the decision
/// changes nothing already decided (and an action is found by its place in the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub automation_name: String,
    /// Stored as the past-due clock's `continuity`.
    pub clock: ClockKind,
    /// A cancellation clock's `hold_days`: what its hold's end is derived under when the
    /// executor re-checks and sends (SPEC §8.6).
    pub hold_days: Option<u16>,
    /// The step's owner (SPEC §8.2), sent as the `owner` message attribute.
    pub owner: Option<String>,
    /// When the step asks for approvals: the last tenant-local date one may be given,
    /// `expires_after_days` after the run that asked (a run that caught up a missed date
    /// asks on its own date, not the missed one).
    pub approval_expires_on: Option<NaiveDate>,
    pub actions: Vec<Action>,
}

/// The step day a clock's assignment (its segment, SPEC §8.3, and its rollout arm, §8.8) is
/// recorded under: no step has it (steps are at most day 3650), so it settles once per clock
/// like a step.
pub const SEGMENT_DAY: u16 = u16::MAX;

impl Plan {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "automation_name": self.automation_name,
            "actions": self.actions.iter().map(Action::to_json).collect::<Vec<_>>(),
        });
        // A past-due clock by its continuity (the form earlier versions wrote), any other by
        // its trigger type.
        match self.clock.continuity() {
            Some(c) => v["continuity"] = json!(c.as_str()),
            None => v["clock"] = json!(self.clock.trigger_type()),
        }
        if let Some(days) = self.hold_days {
            v["hold_days"] = json!(days);
        }
        if let Some(owner) = &self.owner {
            v["owner"] = json!(owner);
        }
        if let Some(last) = self.approval_expires_on {
            v["approval_expires_on"] = json!(last.to_string());
        }
        v
    }

    /// Reads a plan back (from a stored firing).
    pub fn from_json(v: &Value) -> Result<Plan, FieldErrors> {
        let mut r = Reader::new();
        let plan = (|| {
            let obj = r.object(
                "",
                v,
                &[
                    "automation_name",
                    "continuity",
                    "clock",
                    "hold_days",
                    "owner",
                    "approval_expires_on",
                    "actions",
                ],
            )?;
            let name = r
                .required(obj, "", "automation_name")
                .and_then(|n| r.text("automation_name", n, super::automation::MAX_NAME_LEN))
                .map(str::to_owned);
            let clock = match r.optional(obj, "clock") {
                Some(c) => r.choice(
                    "clock",
                    c,
                    &[
                        ("payment_failed", ClockKind::PaymentFailed),
                        ("cancellation_requested", ClockKind::CancellationRequested),
                    ],
                ),
                None => r
                    .required(obj, "", "continuity")
                    .and_then(|c| r.choice("continuity", c, &Continuity::ALL))
                    .map(ClockKind::PastDue),
            };
            let owner = r
                .optional(obj, "owner")
                .and_then(|o| r.text("owner", o, super::step::MAX_OWNER_LEN))
                .map(str::to_owned);
            let hold_days = match r.optional(obj, "hold_days") {
                None => Some(None),
                Some(d) => r
                    .integer("hold_days", d, 1, super::automation::MAX_HOLD_DAYS)
                    .map(|d| Some(d as u16)),
            };
            let expiry = match r.optional(obj, "approval_expires_on") {
                None => Some(None),
                Some(d) => match d.as_str().and_then(super::calendar::parse_date) {
                    Some(d) => Some(Some(d)),
                    None => {
                        r.error("approval_expires_on", super::calendar::DATE_RULE);
                        None
                    }
                },
            };
            let actions = r
                .required(obj, "", "actions")
                .and_then(|a| super::step::parse_actions(&mut r, "actions", a));
            Some(Plan {
                automation_name: name?,
                clock: clock?,
                hold_days: hold_days?,
                owner,
                approval_expires_on: expiry?,
                actions: actions?,
            })
        })();
        r.finish(plan)
    }
}

/// Why a threshold did not fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A higher threshold fired in the same run (SPEC §4.3).
    Superseded,
    /// The run that could have fired it was more than `catch_up_days` after the threshold.
    MissedWindow,
    /// The threshold was reached before the automation became active (not retroactive).
    BeforeActiveFrom,
    /// `require_active_subscription` and the customer has none; may fire on a later day.
    NoActiveSubscription,
    /// One of the automation's conditions is false; may fire on a later day.
    ConditionNotMet,
    /// The step reaches the customer, who had a message fewer than the tenant's
    /// `min_days_between_messages` ago; due again when the gap allows.
    TooSoon,
    /// The step reaches the customer, who has an open promise to pay or dispute; due again
    /// on the first run after it ends.
    Quiet,
    /// No segment of the automation matched the clock at its first run (SPEC §8.3): nothing
    /// of it ever fires.
    NoSegment,
    /// The step falls after the hold of its cancellation clock (SPEC §8.6).
    HoldEnded,
    /// The clock's arm is outside the rollout's cohort (SPEC §8.8): the step never fires.
    NotInCohort,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Superseded => "superseded",
            Self::MissedWindow => "missed_window",
            Self::BeforeActiveFrom => "before_active_from",
            Self::NoActiveSubscription => "no_active_subscription",
            Self::ConditionNotMet => "condition_not_met",
            Self::TooSoon => "too_soon",
            Self::Quiet => "quiet",
            Self::NoSegment => "no_segment",
            Self::HoldEnded => "hold_ended",
            Self::NotInCohort => "not_in_cohort",
        }
    }

    pub const ALL: [SkipReason; 10] = [
        Self::Superseded,
        Self::MissedWindow,
        Self::BeforeActiveFrom,
        Self::NoActiveSubscription,
        Self::ConditionNotMet,
        Self::TooSoon,
        Self::Quiet,
        Self::NoSegment,
        Self::HoldEnded,
        Self::NotInCohort,
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the threshold is settled for the episode: it will never fire. The others are
    /// re-checked on the next day while the catch-up window is open.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Superseded
                | Self::MissedWindow
                | Self::BeforeActiveFrom
                | Self::NoSegment
                | Self::HoldEnded
                | Self::NotInCohort
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Fired,
    /// Fired, but held by the guardrail until an operator releases or discards it.
    Held,
    /// Fired at a step whose approval threshold held: nothing is carried out until an admin
    /// approves it (a dry run asks no approval: its row says `needs_approval`).
    AwaitingApproval,
    /// The step went on for a clock in the rollout's holdout (SPEC §8.8): recorded, final,
    /// and nothing is carried out, so that its outcome can be compared with the treated.
    Holdout,
    /// The clock's assignment was decided (at [`SEGMENT_DAY`]): its steps are its segment's,
    /// and its arm the rollout's, for the clock's life.
    Segmented,
    Skipped {
        reason: SkipReason,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The tenant's local date of the run.
    pub date: NaiveDate,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub automation_id: AutomationId,
    /// The step's day (the threshold, in the short form): with the episode, what the decision
    /// settles.
    pub threshold_days: u16,
    /// The step's name when the automation names its steps (SPEC §8.2); `None` for the short
    /// form, whose steps are named by their day and whose rows print as §5 shows them.
    pub step: Option<Arc<str>>,
    pub days_past_due: i64,
    /// The local date the episode started.
    pub past_due_since: NaiveDate,
    /// The episode's identity: the key of the event it started at.
    pub episode: EventKey,
    /// The automation's clock.
    pub clock: ClockKind,
    /// The clock's id besides its start: the invoice of a payment clock.
    pub clock_id: Option<Arc<str>>,
    /// The clock's segment, when the automation has segments.
    pub segment: Option<Arc<str>>,
    /// The clock's rollout arm, when the automation has a rollout (SPEC §8.8).
    pub arm: Option<Arm>,
    /// The automation's version the run decided under (0: recorded before versions were).
    pub automation_version: u64,
    pub mode: Mode,
    pub outcome: Outcome,
    /// Decided after the step was first due (SPEC §8.1): late data, a condition that held
    /// only later, or a run that caught up `date` after it had passed.
    pub late: bool,
    /// What the customer owed at the run (the negative balance, as a positive amount); `None`
    /// when it owed nothing.
    pub owed: Option<Money>,
    /// What a firing carries out (fired and held decisions; `None` for skips).
    pub plan: Option<Arc<Plan>>,
}

impl Decision {
    /// The step's name: its own, or the short form's day.
    pub fn step_name(&self) -> std::borrow::Cow<'_, str> {
        match &self.step {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None => std::borrow::Cow::Owned(self.threshold_days.to_string()),
        }
    }

    /// Whether this decision settles its threshold for the episode, so it is recorded (exactly
    /// once) and never taken again.
    pub fn is_final(&self) -> bool {
        match &self.outcome {
            Outcome::Fired
            | Outcome::Held
            | Outcome::AwaitingApproval
            | Outcome::Holdout
            | Outcome::Segmented => true,
            Outcome::Skipped { reason, .. } => reason.is_final(),
        }
    }

    /// Whether this is a live firing with an action that reaches the customer: what message
    /// spacing counts (SPEC §8.2). Held firings and those awaiting approval are not among
    /// them (they may never be sent), nor dry runs (they send nothing).
    pub fn messaged_the_customer(&self) -> bool {
        self.mode == Mode::Live
            && self.outcome == Outcome::Fired
            && self
                .plan
                .as_deref()
                .is_some_and(|p| p.actions.iter().any(Action::reaches_the_customer))
    }

    /// Whether it carries a hold's `proceed_cancellation` (never held, SPEC §8.6).
    pub fn proceeds(&self) -> bool {
        self.plan
            .as_deref()
            .is_some_and(|p| p.actions.contains(&Action::ProceedCancellation))
    }

    /// Whether the firing waits for an admin's approval: a live one at a step whose approval
    /// threshold held (a dry run's only says it would have).
    pub fn awaits_approval(&self) -> bool {
        self.outcome == Outcome::AwaitingApproval && self.mode == Mode::Live
    }

    /// What the decision settles, which names its firing.
    pub fn key(&self) -> FiringKey {
        FiringKey {
            automation_id: self.automation_id.clone(),
            customer_id: self.customer_id.clone(),
            episode: self.episode.clone(),
            threshold_days: self.threshold_days,
        }
    }

    /// The last tenant-local date an approval of this firing may be given (SPEC §8.2).
    pub fn approval_expires_on(&self) -> Option<NaiveDate> {
        self.plan.as_deref()?.approval_expires_on
    }

    /// Whether an approval not given by `today` has expired.
    pub fn approval_expired_by(&self, today: NaiveDate) -> bool {
        self.approval_expires_on().is_some_and(|last| today > last)
    }

    pub fn settled(&self) -> Settled {
        Settled {
            threshold_days: self.threshold_days,
            episode: self.episode.clone(),
            clock_id: self.clock_id.clone(),
            segment: self.segment.clone(),
            arm: self.arm,
            went_on: matches!(
                self.outcome,
                Outcome::Fired | Outcome::Held | Outcome::AwaitingApproval
            ),
            live: self.mode == Mode::Live,
        }
    }

    /// Whether its row prints without `--explain` (SPEC §8.3a): firings do; skips, and the
    /// segment a clock was put on (every firing's row names it), only with it.
    pub fn prints_without_explain(&self) -> bool {
        !matches!(self.outcome, Outcome::Skipped { .. } | Outcome::Segmented)
    }

    /// Whether the decision is a clock's segment assignment rather than a step's.
    pub fn is_assignment(&self) -> bool {
        self.threshold_days == SEGMENT_DAY
    }

    /// The step day as rows print it: none for a segment assignment.
    fn row_day(&self) -> Option<u16> {
        (!self.is_assignment()).then_some(self.threshold_days)
    }

    /// The order `rulekit simulate` prints in (SPEC §8.2): date, tenant, customer,
    /// automation, clock id, threshold (a segment assignment before its clock's steps).
    #[allow(clippy::type_complexity)]
    pub fn sort_key(
        &self,
    ) -> (
        NaiveDate,
        &TenantId,
        &CustomerId,
        &AutomationId,
        Option<&str>,
        Option<u16>,
    ) {
        (
            self.date,
            &self.tenant_id,
            &self.customer_id,
            &self.automation_id,
            self.clock_id.as_deref(),
            self.row_day(),
        )
    }

    /// Whether the row carries the clock and step fields of §8.2: named steps, and every
    /// clock other than past due.
    fn names_its_clock(&self) -> bool {
        self.step.is_some() || !self.clock.is_past_due() || self.segment.is_some()
    }

    /// The JSON row of SPEC §5, with the clock and step fields of §8.2 when the automation
    /// names its steps (a short-form automation's rows stay as §5 shows them).
    pub fn row(&self) -> DecisionRow<'_> {
        let (decision, reason, detail) = match &self.outcome {
            Outcome::Fired => ("fired", None, None),
            Outcome::Held => ("held", None, None),
            Outcome::AwaitingApproval if self.awaits_approval() => {
                ("awaiting_approval", None, None)
            }
            // A dry run asks nobody.
            Outcome::AwaitingApproval => ("fired", None, None),
            Outcome::Holdout => ("holdout", None, None),
            Outcome::Segmented if self.segment.is_some() => ("segmented", None, None),
            // An automation with a rollout and no segments records only the arm.
            Outcome::Segmented => ("assigned", None, None),
            Outcome::Skipped { reason, detail } => {
                ("skipped", Some(reason.code()), Some(detail.as_str()))
            }
        };
        let named = self.names_its_clock();
        DecisionRow {
            decision,
            date: self.date,
            tenant_id: self.tenant_id.as_str(),
            customer_id: self.customer_id.as_str(),
            automation_id: self.automation_id.as_str(),
            trigger: named.then_some(self.clock.trigger_type()),
            step: self.step.as_deref(),
            owner: self.plan.as_deref().and_then(|p| p.owner.as_deref()),
            segment: named.then_some(self.segment.as_deref()),
            arm: self.arm.map(Arm::as_str),
            clock_id: named.then_some(self.clock_id.as_deref()),
            clock_since: named.then_some(self.past_due_since),
            clock_days: named.then_some(self.days_past_due),
            threshold_days: self.row_day(),
            days_past_due: self.days_past_due,
            past_due_since: self.past_due_since,
            mode: self.mode.as_str(),
            late: self.late,
            owed: self.owed.map(|m| OwedRow {
                amount_minor: m.amount_minor,
                currency: m.currency.code(),
            }),
            actions: self.plan.as_deref().map(|p| p.actions.as_slice()),
            needs_approval: (self.mode == Mode::DryRun
                && self.outcome == Outcome::AwaitingApproval)
                .then_some(true),
            reason,
            detail,
        }
    }
}

/// A threshold already settled for an episode (fired, held or finally skipped), or a
/// clock's segment assignment (at [`SEGMENT_DAY`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Settled {
    pub threshold_days: u16,
    pub episode: EventKey,
    /// The invoice of a payment clock.
    pub clock_id: Option<Arc<str>>,
    /// The segment the clock was put on (`None` for `no_segment`, and for steps of an
    /// automation without segments).
    pub segment: Option<Arc<str>>,
    /// The clock's rollout arm (`None` when the automation had no rollout).
    pub arm: Option<Arm>,
    /// Whether it went on (fired, even as a dry run; held; awaiting approval) rather than
    /// being skipped: a hold's later steps need its `hold` step to have gone on (SPEC §8.6).
    pub went_on: bool,
    /// Whether it was decided live (a dry run's decisions carry nothing out).
    pub live: bool,
}

impl Settled {
    /// Whether this was settled for the clock that started at `start` (of invoice `id`): for
    /// a clock starting at or after it, i.e. within the same continuous clock (a late event
    /// may have moved the start earlier since).
    pub fn is_for(&self, id: Option<&str>, start: &EventKey) -> bool {
        self.clock_id.as_deref() == id && self.episode >= *start
    }
}

/// What the customer owed, in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OwedRow {
    pub amount_minor: i64,
    pub currency: &'static str,
}

/// One output line of `rulekit simulate`, fields in the order SPEC §5 shows them, then what
/// the customer owed and (for firings) the actions carried out. The clock and step fields of
/// §8.2 are absent from a short-form automation's rows (`None`); `segment` and `clock_id`
/// print as null for the past-due clock, which has neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRow<'a> {
    pub decision: &'static str,
    pub date: NaiveDate,
    pub tenant_id: &'a str,
    pub customer_id: &'a str,
    pub automation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<Option<&'a str>>,
    /// The clock's rollout arm: only for an automation with a rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_id: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_since: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_days: Option<i64>,
    /// The step's day; null for a segment assignment.
    pub threshold_days: Option<u16>,
    pub days_past_due: i64,
    pub past_due_since: NaiveDate,
    pub mode: &'static str,
    pub late: bool,
    pub owed: Option<OwedRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<&'a [Action]>,
    /// A dry run's firing at a step that would have waited for approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_approval: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// A decision's identity within its tenant: exactly one decision is recorded per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FiringKey {
    pub automation_id: AutomationId,
    pub customer_id: CustomerId,
    pub episode: EventKey,
    /// The step's day.
    pub threshold_days: u16,
}

impl FiringKey {
    /// The stable, URL-safe id operators and consumers use for the firing (API paths,
    /// de-duplication): the key itself, base64url-encoded, so it decodes without a lookup.
    pub fn firing_id(&self) -> String {
        use base64::Engine;
        let text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.automation_id,
            self.customer_id,
            self.threshold_days,
            self.episode.occurred_at.timestamp_nanos_opt().unwrap_or(0),
            self.episode.event_id,
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads a [`FiringKey::firing_id`] back; `None` for text no firing id reads as.
    pub fn from_firing_id(id: &str) -> Option<FiringKey> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('\n');
        let automation = parts.next()?;
        let customer = parts.next()?;
        let threshold_days = parts.next()?.parse().ok()?;
        let nanos: i64 = parts.next()?.parse().ok()?;
        let event_id = parts.next()?;
        if parts.next().is_some()
            || !super::ids::is_valid_id(automation)
            || !super::ids::is_valid_id(customer)
            || event_id.is_empty()
            || event_id.chars().any(char::is_control)
        {
            return None;
        }
        let key = FiringKey {
            automation_id: AutomationId::new(automation),
            customer_id: CustomerId::new(customer),
            episode: EventKey {
                occurred_at: chrono::DateTime::from_timestamp_nanos(nanos),
                event_id: super::ids::EventId::new(event_id),
            },
            threshold_days,
        };
        // Only the id RuleKit gives reads back: one text per firing.
        (key.firing_id() == id).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_firing_id_is_read_back_should_name_the_same_firing_and_refuse_anything_else() {
        let key = FiringKey {
            automation_id: AutomationId::new("aging:ladder"),
            customer_id: CustomerId::new("cus_9.x"),
            episode: EventKey {
                occurred_at: "2026-11-01T10:00:00.123456789Z".parse().unwrap(),
                event_id: crate::domain::EventId::new("evt 81/ü"),
            },
            threshold_days: 91,
        };
        let id = key.firing_id();
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert_eq!(FiringKey::from_firing_id(&id), Some(key));
        for bad in ["", "not base64!", "YQ", &format!("{id}A")] {
            assert_eq!(FiringKey::from_firing_id(bad), None, "{bad:?}");
        }
    }
}
