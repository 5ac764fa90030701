//! Why an automation did or did not fire for one customer on one local date: the firing rule
//! of the daily run, applied to that customer alone and written out in words; and the whole
//! view of a customer that the API (`GET /v1/customers/{id}`) and `rulekit explain` show.

use super::evaluate::history;
use crate::domain::calendar::days_between;
use crate::domain::event::format_instant;
use crate::domain::quiet::PromiseStatus;
use crate::domain::rule::RunContext;
use crate::domain::step::{Step, StepForm};
use crate::domain::{
    Automation, Continuity, CustomerId, CustomerState, Decision, Outcome, TenantId, TenantSettings,
};
use crate::ports::{
    AutomationStore, CustomerStore, DecisionStore, FiringRecord, FiringStatus, StoreError,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

/// The customer, its episodes, subscriptions and firings, and each automation's verdict, as
/// of `date` (JSON; the API's customer resource). Without `date`: the customer now, explained
/// for today (tenant-local). With it: the customer at that date's run instant as known at
/// `now`, from the events that occurred before it (all of them, for a run still to come), so
/// the day counts, the balance and the reasons are those of that date: an episode that began
/// later is not shown, and no count is negative. `as_of` says which instant the state is of.
/// `None` when the tenant has no such customer.
pub async fn customer_view<S>(
    store: &S,
    tenant: &TenantId,
    customer_id: &CustomerId,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Option<Value>, StoreError>
where
    S: CustomerStore + AutomationStore + DecisionStore,
{
    let Some(current) = store.load_customer(tenant, customer_id).await? else {
        return Ok(None);
    };
    let current = current.value;
    let settings = store.tenant_settings(tenant).await?;
    let calendar = &settings.calendar;
    let (date, as_of) = match date {
        None => (calendar.local_date(now), now),
        Some(d) => (d, calendar.run_instant(d).min(now)),
    };
    let customer = if as_of < now {
        let log = store.customer_events(tenant, customer_id).await?;
        CustomerState::replay(
            tenant.clone(),
            customer_id.clone(),
            log.iter().filter(|e| e.occurred_at() < as_of),
        )
        // The stored log was applied once already, so it applies again; a failure here is a
        // corrupt store.
        .map_err(|e| StoreError::failed(format!("the stored log does not replay: {e}")))?
    } else {
        current
    };

    let episode = |continuity: Continuity| -> Value {
        customer.episode(continuity).map_or(Value::Null, |e| {
            let since = calendar.local_date(e.start.occurred_at);
            json!({
                "started_at": format_instant(e.start.occurred_at),
                "since": since.to_string(),
                "days_past_due": days_between(since, date),
            })
        })
    };
    let automations = store.tenant_automations(tenant).await?;
    let firings = store.customer_firings(tenant, customer_id).await?;
    let explanations =
        explain_customer(store, &settings, &automations, &customer, &firings, date).await?;
    Ok(Some(json!({
        "customer_id": customer.customer_id,
        "date": date.to_string(),
        "as_of": format_instant(as_of),
        "balance": customer.balance.as_ref().map(|b| json!({
            "amount_minor": b.balance.amount_minor,
            "currency": b.balance.currency.code(),
        })),
        "past_due": customer.is_past_due(),
        "episodes": {
            "negative_balance": episode(Continuity::NegativeBalance),
            "no_improvement": episode(Continuity::NoImprovement),
        },
        "quiet": quiet_view(&customer, as_of),
        "active_subscriptions": customer.subscriptions.iter()
            .filter(|s| s.status.is_active())
            .map(|s| json!({"id": s.id, "status": s.status.as_str()}))
            .collect::<Vec<_>>(),
        "firings": firings.iter().map(FiringRecord::to_json).collect::<Vec<_>>(),
        "explanations": explanations.iter().map(|e| json!({
            "automation_id": e.automation_id,
            "decisions": e.decisions.iter()
                .map(|d| serde_json::to_value(d.row()).unwrap_or_default())
                .collect::<Vec<_>>(),
            "why": e.why,
        })).collect::<Vec<_>>(),
    })))
}

/// One automation's verdict for the customer on the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub automation_id: String,
    /// What a run on the date would newly decide, given what is recorded now (nothing is
    /// written).
    pub decisions: Vec<Decision>,
    /// The verdict in words: what was recorded on the date, what a run would decide, or why
    /// there is nothing to decide. Never empty.
    pub why: String,
}

/// Explains every automation of the tenant for `customer` (its state as the run of `date`
/// sees it) on `date`. `recorded` is what the decision store holds for the customer: the
/// decisions recorded on `date` are part of the answer.
pub async fn explain_customer<S: DecisionStore>(
    store: &S,
    settings: &TenantSettings,
    automations: &[Automation],
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Result<Vec<Explanation>, StoreError> {
    let calendar = &settings.calendar;
    let mut out = Vec::new();
    for automation in automations {
        let ctx = RunContext::new(
            automation,
            automation.active_from.unwrap_or(date),
            calendar,
            date,
        )
        .with_message_spacing(settings.min_days_between_messages);
        let trigger = &automation.trigger;
        let days = |f: fn(&Step) -> String| {
            automation
                .steps
                .iter()
                .map(f)
                .collect::<Vec<_>>()
                .join(", ")
        };
        // What the automation acts at, in its own words: thresholds (§4) or steps (§8.2).
        let (reached, windows) = match automation.step_form {
            StepForm::Thresholds => {
                let list = days(|s| s.day.to_string());
                (
                    format!("every threshold reached ({list})"),
                    format!("thresholds {list} days"),
                )
            }
            StepForm::Named => {
                let list = days(|s| format!("{:?} at day {}", s.name, s.day));
                (format!("every step due ({list})"), format!("steps {list}"))
            }
        };
        let on_the_date: Vec<&FiringRecord> = recorded
            .iter()
            .filter(|r| r.decision.automation_id == automation.id && r.decision.date == date)
            .collect();
        let mut decisions = Vec::new();
        let mut why = Vec::new();
        if let Some(step) = current_step(automation, customer, recorded, date) {
            why.push(step);
        }
        if !on_the_date.is_empty() {
            let told: Vec<String> = on_the_date
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        describe(&r.decision, true),
                        r.status.as_str().replace('_', " ")
                    )
                })
                .collect();
            why.push(format!("the run of {date} recorded: {}", told.join("; ")));
        }
        if !automation.enabled {
            why.push("the automation is disabled".to_owned());
        } else if let Some(candidate) = ctx.candidate(customer) {
            let (settled, messaged) = history(store, &ctx, &customer.customer_id).await?;
            ctx.decide(customer, &candidate, &settled, &messaged, &mut decisions);
            if !decisions.is_empty() {
                let told: Vec<String> = decisions.iter().map(|d| describe(d, false)).collect();
                why.push(format!(
                    "{} days past due on {date}: a run would decide {}",
                    candidate.days_past_due,
                    told.join("; ")
                ));
            } else if on_the_date.is_empty() {
                why.push(format!(
                    "{} days past due on {date}: {reached} is already settled for this episode",
                    candidate.days_past_due
                ));
            }
        } else if let Some(episode) = trigger.clock.running(customer) {
            let since = calendar.local_date(episode.start.occurred_at);
            let days = days_between(since, date);
            why.push(format!(
                "{days} days past due on {date} (since {since}, {}): no {} window is \
                 open ({windows}, catch-up {} days)",
                trigger.clock.continuity().as_str(),
                match automation.step_form {
                    StepForm::Thresholds => "threshold",
                    StepForm::Named => "step",
                },
                trigger.catch_up_days
            ));
        } else {
            why.push(format!(
                "not past due on {date} under {}",
                trigger.clock.continuity().as_str()
            ));
        }
        out.push(Explanation {
            automation_id: automation.id.to_string(),
            decisions,
            why: why.join(". "),
        });
    }
    Ok(out)
}

/// The customer's latest promise to pay (with what became of it) and disputes, as of
/// `as_of`: a broken promise shows here (SPEC §8.2).
fn quiet_view(customer: &CustomerState, as_of: DateTime<Utc>) -> Value {
    let Some(quiet) = customer.quiet.as_deref() else {
        return json!({"promise": null, "disputes": []});
    };
    let promise = quiet.promise.as_ref().map(|p| {
        let running = customer.past_due.as_ref().map(|e| &e.start);
        let ended = customer.last_ended.as_deref().map(|e| (&e.start, &e.end));
        json!({
            "made_at": format_instant(p.key.occurred_at),
            "until": format_instant(p.until),
            "amount_minor": p.amount_minor,
            "status": PromiseStatus::of(p, running, ended, as_of).as_str(),
        })
    });
    let disputes: Vec<Value> = quiet
        .disputes
        .iter()
        .map(|d| {
            let open = d
                .opened
                .as_ref()
                .is_some_and(|o| d.closed.as_ref().is_none_or(|c| c < o));
            json!({"id": d.id, "status": if open { "open" } else { "closed" }})
        })
        .collect();
    json!({"promise": promise, "disputes": disputes})
}

/// Where the customer stands on a ladder of named steps on `date`: the last step fired for
/// the current episode (on or before `date`), in words ("on the \"31-60\" step since
/// 2026-12-02, awaiting approval"). `None` for the short form, or before any step fired.
fn current_step(
    automation: &Automation,
    customer: &CustomerState,
    recorded: &[FiringRecord],
    date: NaiveDate,
) -> Option<String> {
    if automation.step_form != StepForm::Named {
        return None;
    }
    let episode = automation.trigger.clock.running(customer)?;
    let last = recorded
        .iter()
        .filter(|r| r.decision.automation_id == automation.id && r.decision.date <= date)
        .filter(|r| r.decision.episode >= episode.start)
        .filter(|r| !matches!(r.decision.outcome, Outcome::Skipped { .. }))
        .max_by_key(|r| (r.decision.date, r.decision.threshold_days))?;
    let status = match last.status {
        FiringStatus::Sent | FiringStatus::Pending | FiringStatus::Sending => String::new(),
        other => format!(", {}", other.as_str().replace('_', " ")),
    };
    Some(format!(
        "on the {:?} step since {}{status}",
        last.decision.step_name(),
        last.decision.date
    ))
}

/// One decision in words, as a run would take it (`threshold 14 fires`) or as one took it
/// (`step "31-60" fired`), with the reason for a skip.
fn describe(d: &Decision, taken: bool) -> String {
    let n = match &d.step {
        None => format!("threshold {}", d.threshold_days),
        Some(name) => format!("step {name:?}"),
    };
    let late = if d.late { " late" } else { "" };
    match (&d.outcome, taken) {
        (Outcome::Fired, false) => format!("{n} fires{late}"),
        (Outcome::Fired, true) => format!("{n} fired{late}"),
        (Outcome::Held, false) => format!("{n} fires, held by the guardrail"),
        (Outcome::Held, true) => format!("{n} fired, held by the guardrail"),
        (Outcome::AwaitingApproval, false) => format!("{n} fires{late}, awaiting approval"),
        (Outcome::AwaitingApproval, true) => format!("{n} fired{late}, awaiting approval"),
        (Outcome::Skipped { reason, detail }, false) => {
            format!("{n} is skipped ({}: {detail})", reason.code())
        }
        (Outcome::Skipped { reason, detail }, true) => {
            format!("{n} was skipped ({}: {detail})", reason.code())
        }
    }
}
