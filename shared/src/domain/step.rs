//! Steps (SPEC §8.2): what an automation does at a day of its clock. An automation written
//! in the short form (`trigger.thresholds_days` and automation-level `actions`, §4) has one
//! step per threshold, named by its day, each taking those actions; the firing rule only ever
//! sees steps.

use super::automation::{
    Action, Condition, MAX_ACTIONS, MAX_CONDITIONS, parse_action, parse_condition,
};
use super::fields::{Reader, index, join};
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub const MAX_STEPS: usize = 20;
pub const MAX_STEP_DAY: i64 = 3650;
pub const MAX_STEP_NAME_LEN: usize = 64;
pub const MAX_OWNER_LEN: usize = 64;
pub const DEFAULT_APPROVAL_EXPIRY_DAYS: u16 = 7;
pub const MAX_APPROVAL_EXPIRY_DAYS: i64 = 90;

/// The unit that fires: once per (tenant, automation, customer, clock, step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Unique in its list; the short form's steps are named by their day (`"14"`).
    pub name: String,
    /// Days on the clock (0–3650), strictly ascending in the list. The step's day is its
    /// identity in the firing key, as a threshold's was.
    pub day: u16,
    /// The team whose work the step is: recorded on the firing and sent as the SNS message
    /// attribute `owner`, so a team subscribes to its own work with a filter policy.
    pub owner: Option<String>,
    /// When set, a firing of the step whose `when` holds waits for an admin's approval.
    pub approval: Option<Approval>,
    pub actions: Vec<Action>,
}

/// A step's approval threshold (SPEC §8.2): when every condition of `when` holds at the run
/// (all firings, when it is empty), the firing is recorded `awaiting_approval` and nothing is
/// carried out until an admin approves it; unanswered, it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub when: Vec<Condition>,
    pub expires_after_days: u16,
}

impl Approval {
    pub fn to_json(&self) -> Value {
        json!({
            "when": self.when.iter().map(Condition::to_json).collect::<Vec<_>>(),
            "expires_after_days": self.expires_after_days,
        })
    }
}

/// How an automation wrote its steps, so it is written back as it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepForm {
    /// `trigger.thresholds_days` and automation-level `actions` (§4).
    Thresholds,
    /// Top-level `steps` (§8.2).
    Named,
}

impl Step {
    /// The short form's steps: one per threshold, named by its day, all taking `actions`.
    pub fn from_thresholds(days: &[u16], actions: &[Action]) -> Vec<Step> {
        days.iter()
            .map(|&day| Step {
                name: day.to_string(),
                day,
                owner: None,
                approval: None,
                actions: actions.to_vec(),
            })
            .collect()
    }

    /// Whether one of the step's actions reaches the customer (what quiet periods and message
    /// spacing hold back).
    pub fn reaches_the_customer(&self) -> bool {
        self.actions.iter().any(Action::reaches_the_customer)
    }

    /// Whether this is a cancellation hold's built-in `hold` step (SPEC §8.6).
    pub fn is_hold(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::HoldCancellation))
    }

    /// Whether this is a cancellation hold's built-in `proceed` step, whose day is the hold's
    /// last, whatever its `day` (which keys it: no step of the automation can have it).
    pub fn is_proceed(&self) -> bool {
        self.actions.contains(&Action::ProceedCancellation)
    }

    pub fn to_json(&self) -> Value {
        let mut obj = json!({
            "name": self.name,
            "day": self.day,
            "actions": self.actions.iter().map(Action::to_json).collect::<Vec<_>>(),
        });
        if let Some(owner) = &self.owner {
            obj["owner"] = json!(owner);
        }
        if let Some(approval) = &self.approval {
            obj["approval"] = approval.to_json();
        }
        obj
    }
}

/// Reads a `steps` list, reporting every problem by its path.
pub fn parse_steps(r: &mut Reader, path: &str, v: &Value) -> Option<Vec<Step>> {
    let items = r.array(path, v, MAX_STEPS)?;
    if items.is_empty() {
        r.error(path, "must name at least one step");
        return None;
    }
    let errors_before = r.error_count();
    let mut steps: Vec<Step> = Vec::with_capacity(items.len());
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(path, i);
        let Some(step) = parse_step(r, &path, item) else {
            continue;
        };
        if !names.insert(step.name.clone()) {
            r.error(join(&path, "name"), "appears twice in the list");
        }
        if steps.last().is_some_and(|prev| prev.day >= step.day) {
            r.error(
                join(&path, "day"),
                "steps must be in strictly ascending order of day",
            );
        }
        steps.push(step);
    }
    (r.error_count() == errors_before).then_some(steps)
}

fn parse_step(r: &mut Reader, path: &str, v: &Value) -> Option<Step> {
    let obj = r.object(path, v, &["name", "day", "owner", "approval", "actions"])?;
    let name = r
        .required(obj, path, "name")
        .and_then(|n| r.text(&join(path, "name"), n, MAX_STEP_NAME_LEN))
        .map(str::to_owned);
    let day = r
        .required(obj, path, "day")
        .and_then(|d| r.integer(&join(path, "day"), d, 0, MAX_STEP_DAY))
        .map(|d| d as u16);
    let owner = match r.optional(obj, "owner") {
        None => Some(None),
        Some(o) => parse_owner(r, &join(path, "owner"), o).map(Some),
    };
    let approval = match r.optional(obj, "approval") {
        None => Some(None),
        Some(a) => parse_approval(r, &join(path, "approval"), a).map(Some),
    };
    let actions = r
        .required(obj, path, "actions")
        .and_then(|a| parse_actions(r, &join(path, "actions"), a));
    Some(Step {
        name: name?,
        day: day?,
        owner: owner?,
        approval: approval?,
        actions: actions?,
    })
}

fn parse_approval(r: &mut Reader, path: &str, v: &Value) -> Option<Approval> {
    let obj = r.object(path, v, &["when", "expires_after_days"])?;
    let when = match r.optional(obj, "when") {
        None => Some(Vec::new()),
        Some(w) => {
            let wpath = join(path, "when");
            let items = r.array(&wpath, w, MAX_CONDITIONS)?;
            let parsed: Vec<Option<Condition>> = items
                .iter()
                .enumerate()
                .map(|(i, x)| parse_condition(r, &index(&wpath, i), x))
                .collect();
            parsed.into_iter().collect()
        }
    };
    let expires_after_days = match r.optional(obj, "expires_after_days") {
        None => Some(DEFAULT_APPROVAL_EXPIRY_DAYS),
        Some(d) => r
            .integer(
                &join(path, "expires_after_days"),
                d,
                1,
                MAX_APPROVAL_EXPIRY_DAYS,
            )
            .map(|d| d as u16),
    };
    Some(Approval {
        when: when?,
        expires_after_days: expires_after_days?,
    })
}

/// An action list: 1 to 10 actions.
pub(crate) fn parse_actions(r: &mut Reader, path: &str, v: &Value) -> Option<Vec<Action>> {
    let items = r.array(path, v, MAX_ACTIONS)?;
    if items.is_empty() {
        r.error(path, "must name at least one action");
        return None;
    }
    let parsed: Vec<Option<Action>> = items
        .iter()
        .enumerate()
        .map(|(i, x)| parse_action(r, &index(path, i), x))
        .collect();
    parsed.into_iter().collect()
}

/// A team or queue name: it becomes an SNS message attribute that filter policies match, so
/// it is kept to a plain, case-fixed alphabet.
fn parse_owner(r: &mut Reader, path: &str, v: &Value) -> Option<String> {
    let owner = r.text(path, v, MAX_OWNER_LEN)?;
    if owner
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Some(owner.to_owned())
    } else {
        r.error(
            path,
            "must be 1 to 64 characters of a-z, 0-9, '_' and '-' (a team or queue name)",
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: Value) -> Result<Vec<Step>, crate::domain::FieldErrors> {
        let mut r = Reader::new();
        let steps = parse_steps(&mut r, "steps", &v);
        r.finish(steps)
    }

    #[test]
    fn when_steps_repeat_a_name_or_go_back_in_days_should_name_each_field() {
        let err = read(json!([
            {"name":"first","day":0,"actions":[{"type":"notify","channel":"finance"}]},
            {"name":"first","day":31,"actions":[{"type":"notify","channel":"finance"}]},
            {"name":"third","day":31,"actions":[{"type":"notify","channel":"finance"}]},
            {"name":"fourth","day":3651,"actions":[]},
        ]))
        .unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "steps[1].name",
                "steps[2].day",
                "steps[3].day",
                "steps[3].actions"
            ],
            "{err}"
        );
    }

    #[test]
    fn when_an_owner_is_not_a_plain_team_name_should_refuse_it() {
        for owner in ["Collections", "finance lead", "", "a\u{e9}"] {
            let err = read(json!([{"name":"s","day":1,"owner":owner,
                "actions":[{"type":"notify","channel":"finance"}]}]))
            .unwrap_err();
            assert_eq!(err.0[0].field, "steps[0].owner", "{owner:?}: {err}");
        }
        let steps = read(json!([{"name":"s","day":1,"owner":"finance-lead_2",
            "actions":[{"type":"notify","channel":"finance"}]}]))
        .unwrap();
        assert_eq!(steps[0].owner.as_deref(), Some("finance-lead_2"));
    }
}
