//! Why an automation did or did not fire for one customer on one local date: the firing rule
//! of the daily run, applied to that customer alone and written out in words.

use crate::domain::calendar::days_between;
use crate::domain::rule::RunContext;
use crate::domain::{Automation, CustomerState, Decision, Outcome, TenantSettings};
use crate::ports::{DecisionStore, FiringRecord, StoreError};
use chrono::NaiveDate;

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
        );
        let trigger = &automation.trigger;
        let thresholds = trigger
            .thresholds_days
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let on_the_date: Vec<&FiringRecord> = recorded
            .iter()
            .filter(|r| r.decision.automation_id == automation.id && r.decision.date == date)
            .collect();
        let mut decisions = Vec::new();
        let mut why = Vec::new();
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
            let settled = store
                .settled(&customer.tenant_id, &automation.id, &customer.customer_id)
                .await?;
            ctx.decide(customer, &candidate, &settled, &mut decisions);
            if !decisions.is_empty() {
                let told: Vec<String> = decisions.iter().map(|d| describe(d, false)).collect();
                why.push(format!(
                    "{} days past due on {date}: a run would decide {}",
                    candidate.days_past_due,
                    told.join("; ")
                ));
            } else if on_the_date.is_empty() {
                why.push(format!(
                    "{} days past due on {date}: every threshold reached ({thresholds}) is \
                     already settled for this episode",
                    candidate.days_past_due
                ));
            }
        } else if let Some(episode) = customer.episode(trigger.continuity) {
            let since = calendar.local_date(episode.start.occurred_at);
            let days = days_between(since, date);
            why.push(format!(
                "{days} days past due on {date} (since {since}, {}): no threshold window is \
                 open (thresholds {thresholds} days, catch-up {} days)",
                trigger.continuity.as_str(),
                trigger.catch_up_days
            ));
        } else {
            why.push(format!(
                "not past due on {date} under {}",
                trigger.continuity.as_str()
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

/// One decision in words, as a run would take it (`threshold 14 fires`) or as one took it
/// (`threshold 14 fired`), with the reason for a skip.
fn describe(d: &Decision, taken: bool) -> String {
    let n = d.threshold_days;
    let late = if d.late() { " late" } else { "" };
    match (&d.outcome, taken) {
        (Outcome::Fired, false) => format!("threshold {n} fires{late}"),
        (Outcome::Fired, true) => format!("threshold {n} fired{late}"),
        (Outcome::Held, false) => format!("threshold {n} fires, held by the guardrail"),
        (Outcome::Held, true) => format!("threshold {n} fired, held by the guardrail"),
        (Outcome::Skipped { reason, detail }, false) => {
            format!("threshold {n} is skipped ({}: {detail})", reason.code())
        }
        (Outcome::Skipped { reason, detail }, true) => {
            format!("threshold {n} was skipped ({}: {detail})", reason.code())
        }
    }
}
