//! Why an automation did or did not fire for one customer on one local date: the firing rule
//! of the daily run, applied to that customer alone and written out in words.

use crate::domain::calendar::days_between;
use crate::domain::rule::RunContext;
use crate::domain::{Automation, CustomerState, Decision, TenantSettings};
use crate::ports::{DecisionStore, StoreError};
use chrono::NaiveDate;

/// One automation's verdict for the customer on the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub automation_id: String,
    /// What a run on the date would newly decide (nothing is written).
    pub decisions: Vec<Decision>,
    /// The reason in words when there is no decision to make.
    pub why: String,
}

/// Explains every automation of the tenant for `customer` on `date`.
pub async fn explain_customer<S: DecisionStore>(
    store: &S,
    settings: &TenantSettings,
    automations: &[Automation],
    customer: &CustomerState,
    date: NaiveDate,
) -> Result<Vec<Explanation>, StoreError> {
    let calendar = &settings.calendar;
    let mut out = Vec::new();
    for automation in automations {
        let mut explanation = Explanation {
            automation_id: automation.id.to_string(),
            decisions: Vec::new(),
            why: String::new(),
        };
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
        if !automation.enabled {
            explanation.why = "the automation is disabled".to_owned();
        } else if let Some(candidate) = ctx.candidate(customer) {
            let settled = store
                .settled(&customer.tenant_id, &automation.id, &customer.customer_id)
                .await?;
            ctx.decide(customer, &candidate, &settled, &mut explanation.decisions);
            if explanation.decisions.is_empty() {
                explanation.why = format!(
                    "{} days past due on {date}: every threshold reached ({thresholds}) is already \
                     settled for this episode",
                    candidate.days_past_due
                );
            }
        } else if let Some(episode) = customer.episode(trigger.continuity) {
            let since = calendar.local_date(episode.start.occurred_at);
            let days = days_between(since, date);
            explanation.why = format!(
                "{days} days past due on {date} (since {since}, {}): no threshold window is open \
                 (thresholds {thresholds} days, catch-up {} days)",
                trigger.continuity.as_str(),
                trigger.catch_up_days
            );
        } else {
            explanation.why = format!(
                "not past due on {date} under {}",
                trigger.continuity.as_str()
            );
        }
        out.push(explanation);
    }
    Ok(out)
}
