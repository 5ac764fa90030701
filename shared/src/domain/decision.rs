//! Decisions: what the firing rule concluded for one automation, customer, episode and
//! threshold on one date, and why. Every decision explains itself, which is what `--explain`
//! prints and what the API shows when asked why something did or did not fire.

use super::automation::{Action, Mode};
use super::customer::Continuity;
use super::event::EventKey;
use super::fields::{FieldErrors, Reader, index};
use super::ids::{AutomationId, CustomerId, TenantId};
use super::money::Money;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// What a firing carries out, fixed when it is decided: the automation's name and actions
/// then, and the continuity policy its customer messages are re-checked under. The executor
/// reads the plan, never the automation, so a replace or an archive after the decision
/// changes nothing already decided (and an action is found by its place in the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub automation_name: String,
    pub continuity: Continuity,
    pub actions: Vec<Action>,
}

impl Plan {
    pub fn to_json(&self) -> Value {
        json!({
            "automation_name": self.automation_name,
            "continuity": self.continuity.as_str(),
            "actions": self.actions.iter().map(Action::to_json).collect::<Vec<_>>(),
        })
    }

    /// Reads a plan back (from a stored firing).
    pub fn from_json(v: &Value) -> Result<Plan, FieldErrors> {
        let mut r = Reader::new();
        let plan = (|| {
            let obj = r.object("", v, &["automation_name", "continuity", "actions"])?;
            let name = r
                .required(obj, "", "automation_name")
                .and_then(|n| r.text("automation_name", n, super::automation::MAX_NAME_LEN))
                .map(str::to_owned);
            let continuity = r
                .required(obj, "", "continuity")
                .and_then(|c| r.choice("continuity", c, &Continuity::ALL));
            let actions = r.required(obj, "", "actions").and_then(|a| {
                let items = r.array("actions", a, super::automation::MAX_ACTIONS)?;
                let parsed: Vec<Option<Action>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| super::automation::parse_action(&mut r, &index("actions", i), x))
                    .collect();
                parsed.into_iter().collect::<Option<Vec<_>>>()
            });
            Some(Plan {
                automation_name: name?,
                continuity: continuity?,
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
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Superseded => "superseded",
            Self::MissedWindow => "missed_window",
            Self::BeforeActiveFrom => "before_active_from",
            Self::NoActiveSubscription => "no_active_subscription",
            Self::ConditionNotMet => "condition_not_met",
        }
    }

    pub const ALL: [SkipReason; 5] = [
        Self::Superseded,
        Self::MissedWindow,
        Self::BeforeActiveFrom,
        Self::NoActiveSubscription,
        Self::ConditionNotMet,
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the threshold is settled for the episode: it will never fire. The others are
    /// re-checked on the next day while the catch-up window is open.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Superseded | Self::MissedWindow | Self::BeforeActiveFrom
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Fired,
    /// Fired, but held by the guardrail until an operator releases or discards it.
    Held,
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
    pub threshold_days: u16,
    pub days_past_due: i64,
    /// The local date the episode started.
    pub past_due_since: NaiveDate,
    /// The episode's identity: the key of the event it started at.
    pub episode: EventKey,
    pub mode: Mode,
    pub outcome: Outcome,
    /// Decided by a run that caught up `date` after it had passed (the runs of that date were
    /// missed).
    pub caught_up: bool,
    /// What the customer owed at the run (the negative balance, as a positive amount); `None`
    /// when it owed nothing.
    pub owed: Option<Money>,
    /// What a firing carries out (fired and held decisions; `None` for skips).
    pub plan: Option<Arc<Plan>>,
}

impl Decision {
    /// Fired after the threshold day: late data, or a run that caught up a missed date.
    pub fn late(&self) -> bool {
        self.days_past_due > i64::from(self.threshold_days) || self.caught_up
    }

    /// Whether this decision settles its threshold for the episode, so it is recorded (exactly
    /// once) and never taken again.
    pub fn is_final(&self) -> bool {
        match &self.outcome {
            Outcome::Fired | Outcome::Held => true,
            Outcome::Skipped { reason, .. } => reason.is_final(),
        }
    }

    pub fn settled(&self) -> Settled {
        Settled {
            threshold_days: self.threshold_days,
            episode: self.episode.clone(),
        }
    }

    /// The order `rulekit simulate` prints in: date, tenant, customer, automation, threshold.
    pub fn sort_key(&self) -> (NaiveDate, &TenantId, &CustomerId, &AutomationId, u16) {
        (
            self.date,
            &self.tenant_id,
            &self.customer_id,
            &self.automation_id,
            self.threshold_days,
        )
    }

    /// The JSON row of SPEC §5.
    pub fn row(&self) -> DecisionRow<'_> {
        let (decision, reason, detail) = match &self.outcome {
            Outcome::Fired => ("fired", None, None),
            Outcome::Held => ("held", None, None),
            Outcome::Skipped { reason, detail } => {
                ("skipped", Some(reason.code()), Some(detail.as_str()))
            }
        };
        DecisionRow {
            decision,
            date: self.date,
            tenant_id: self.tenant_id.as_str(),
            customer_id: self.customer_id.as_str(),
            automation_id: self.automation_id.as_str(),
            threshold_days: self.threshold_days,
            days_past_due: self.days_past_due,
            past_due_since: self.past_due_since,
            mode: self.mode.as_str(),
            late: self.late(),
            owed: self.owed.map(|m| OwedRow {
                amount_minor: m.amount_minor,
                currency: m.currency.code(),
            }),
            actions: self.plan.as_deref().map(|p| p.actions.as_slice()),
            reason,
            detail,
        }
    }
}

/// A threshold already settled for an episode (fired, held or finally skipped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Settled {
    pub threshold_days: u16,
    pub episode: EventKey,
}

/// What the customer owed, in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OwedRow {
    pub amount_minor: i64,
    pub currency: &'static str,
}

/// One output line of `rulekit simulate`, fields in the order SPEC §5 shows them, then what
/// the customer owed and (for firings) the actions carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRow<'a> {
    pub decision: &'static str,
    pub date: NaiveDate,
    pub tenant_id: &'a str,
    pub customer_id: &'a str,
    pub automation_id: &'a str,
    pub threshold_days: u16,
    pub days_past_due: i64,
    pub past_due_since: NaiveDate,
    pub mode: &'static str,
    pub late: bool,
    pub owed: Option<OwedRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<&'a [Action]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}
