//! The executor: carries out pending firings through the publisher, in batches.
//!
//! Each firing is first *claimed* (a compare-and-set to `sending` that names the actions in
//! flight), then its messages are published, then the outcome is recorded (another
//! compare-and-set). Two executors never carry out one claim. An executor that stops between
//! publishing and recording leaves a claim that expires after [`LEASE`]; the next executor
//! recovers it. The actions that were in flight are listed as `unconfirmed` (they may or may
//! not have gone out): finance notifications among them are published again (at most one
//! duplicate per stop, visible in the record as an action both unconfirmed and delivered);
//! customer messages and commands to the billing system are never sent again (a retried
//! command could charge a card twice).
//!
//! Before a customer message, an offer or a command goes out, the executor checks that it
//! still applies (SPEC §8.5, §8.6; `recheck`): the clock still runs, a retry may be made, an
//! offer was not made before, a hold has not ended. An action that no longer applies is
//! cancelled with its reason and never sent.
//!
//! A firing whose publishing fails waits [`backoff`] before its next attempt; after
//! [`MAX_ATTEMPTS`] it is sent to the failed-firings queue and marked `failed`.

use super::evaluate::GuardrailHold;
use super::recheck::{Firing, Rechecks, Verdict};
use crate::domain::automation::Action;
use crate::domain::decision::Plan;
use crate::domain::notice::{self, Notice};
use crate::ports::{
    ActionPublisher, AutomationStore, CancelledAction, CustomerStore, DecisionStore, Delivery,
    Destination, FailedFirings, FiringRecord, FiringStatus, OutgoingMessage, PublishError,
    StoreError,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use thiserror::Error;

/// Publishing attempts before a firing is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long a claim is honoured: longer than an executor takes to publish a batch, so only a
/// stopped executor's claims expire.
pub const LEASE: Duration = Duration::minutes(5);

/// How long a firing waits after its `attempts`-th failed attempt: 1, 2, 4, 8 minutes, so a
/// publisher outage of a quarter of an hour is ridden out before a firing is given up. The
/// executor's sweep sets the granularity: a firing is retried at the first sweep after this.
pub fn backoff(attempts: u32) -> Duration {
    Duration::minutes(1 << attempts.clamp(1, 8).saturating_sub(1))
}

#[derive(Debug, Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// What one executor pass did; serialised as the Lambda's answer and `rulekit execute`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecuteReport {
    pub sent: usize,
    pub cancelled: usize,
    pub failed: usize,
    /// Firings left pending for another attempt.
    pub retrying: usize,
    /// Firings not yet due for their next attempt (backing off).
    pub waiting: usize,
    /// Claims of a stopped executor taken over.
    pub recovered: usize,
    /// Actions the re-checks cancelled (a customer who paid, a hard decline, the retry cap).
    pub actions_cancelled: usize,
    pub messages: usize,
    pub publish_calls: usize,
}

impl std::ops::AddAssign for ExecuteReport {
    fn add_assign(&mut self, r: Self) {
        self.sent += r.sent;
        self.cancelled += r.cancelled;
        self.failed += r.failed;
        self.retrying += r.retrying;
        self.waiting += r.waiting;
        self.recovered += r.recovered;
        self.actions_cancelled += r.actions_cancelled;
        self.messages += r.messages;
        self.publish_calls += r.publish_calls;
    }
}

/// Carries out up to `limit` waiting firings; `now` decides which claims have expired and
/// which retries are due. Firings that keep failing go to `failed`.
pub async fn execute_pending<S, P, F>(
    store: &S,
    publisher: &P,
    failed: &F,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<ExecuteReport, ExecuteError>
where
    S: DecisionStore + CustomerStore + AutomationStore,
    P: ActionPublisher,
    F: FailedFirings,
{
    let mut report = ExecuteReport::default();
    let mut checks = Rechecks::default();
    // The claimed firings, and per firing the messages to publish, tagged with the action.
    let mut claimed: Vec<FiringRecord> = Vec::new();
    let mut outgoing: Vec<(usize, usize, OutgoingMessage)> = Vec::new();

    for record in store.pending_firings(limit).await? {
        if record.status == FiringStatus::Sending
            && record.claimed_at.is_some_and(|at| now - at < LEASE)
        {
            continue; // another executor is on it
        }
        if record.status == FiringStatus::Pending && record.retry_at.is_some_and(|at| now < at) {
            report.waiting += 1;
            continue;
        }
        let d = &record.decision;
        // What was decided is what is carried out, whatever became of the automation since.
        let plan = d.plan.as_deref();
        let customer = store
            .load_customer(&d.tenant_id, &d.customer_id)
            .await?
            .map(|v| v.value);
        let balance = customer
            .as_ref()
            .and_then(|c| c.balance.as_ref())
            .map(|b| b.balance);

        let mut next = record.clone();
        if record.status == FiringStatus::Sending {
            // Its executor stopped: what it had in flight may or may not have gone out.
            report.recovered += 1;
            next.unconfirmed.extend(record.in_flight.iter().copied());
        }
        let mut messages = Vec::new();
        if let Some(plan) = plan {
            let mut firing = Firing {
                record: &record,
                plan,
                customer: customer.as_ref(),
                ledger: None,
                hold: None,
            };
            for (i, action) in plan.actions.iter().enumerate() {
                let delivered = next.deliveries.iter().any(|del| del.action == i);
                // A customer is never messaged twice, nor a command sent twice; finance may be
                // notified twice.
                let maybe_sent = next.unconfirmed.contains(&i)
                    && (action.reaches_the_customer() || action.is_command());
                let cancelled = next.cancelled.iter().any(|c| c.action == i);
                if delivered || maybe_sent || cancelled {
                    continue;
                }
                let hold_args = match checks.check(store, &mut firing, action, now).await? {
                    Verdict::Send(args) => args,
                    Verdict::Cancel(reason) => {
                        next.cancelled.push(CancelledAction {
                            action: i,
                            reason: reason.to_owned(),
                        });
                        report.actions_cancelled += 1;
                        continue;
                    }
                };
                let firing_id = d.key().firing_id();
                let (destination, notice) = match action {
                    Action::Notify { .. } => (
                        Destination::Finance,
                        notice::finance_notice(d, plan, balance),
                    ),
                    Action::Message {
                        template_id,
                        variables,
                    } => (
                        Destination::CustomerMessages,
                        notice::customer_message(d, plan, template_id, variables, balance),
                    ),
                    Action::Offer {
                        offer_id,
                        kind,
                        template_id,
                    } => (
                        Destination::CustomerMessages,
                        notice::offer(d, plan, (offer_id, kind.as_str(), template_id), &firing_id),
                    ),
                    Action::RetryPayment
                    | Action::HoldCancellation
                    | Action::ProceedCancellation => (
                        Destination::Commands,
                        notice::command(d, plan, action.type_name(), &firing_id, &hold_args),
                    ),
                };
                messages.push((i, message(destination, &record, plan, action, notice)));
            }
        }

        if messages.is_empty() {
            // Nothing (more) to publish: the firing is complete or no longer applies.
            next.status = if next.deliveries.is_empty() && next.unconfirmed.is_empty() {
                report.cancelled += 1;
                FiringStatus::Cancelled
            } else {
                report.sent += 1;
                FiringStatus::Sent
            };
            next.in_flight.clear();
            next.claimed_at = None;
            store.replace_firing(&record, &next).await?;
            continue;
        }
        next.status = FiringStatus::Sending;
        next.attempts += 1;
        next.claimed_at = Some(now);
        next.retry_at = None;
        next.in_flight = messages.iter().map(|(i, _)| *i).collect();
        if !store.replace_firing(&record, &next).await? {
            continue; // another executor claimed it first
        }
        let index = claimed.len();
        claimed.push(next);
        outgoing.extend(messages.into_iter().map(|(i, m)| (index, i, m)));
    }

    // Publish by destination, in full batches.
    let mut results: BTreeMap<(usize, usize), Result<String, String>> = BTreeMap::new();
    let mut by_destination: BTreeMap<Destination, Vec<(usize, usize, OutgoingMessage)>> =
        BTreeMap::new();
    for item in outgoing {
        by_destination
            .entry(item.2.destination)
            .or_default()
            .push(item);
    }
    for (_, mut items) in by_destination {
        while !items.is_empty() {
            let chunk: Vec<(usize, usize, OutgoingMessage)> =
                items.drain(..items.len().min(P::MAX_BATCH)).collect();
            let (tags, batch): (Vec<(usize, usize)>, Vec<OutgoingMessage>) = chunk
                .into_iter()
                .enumerate()
                .map(|(n, (f, a, mut m))| {
                    m.id = n.to_string();
                    ((f, a), m)
                })
                .unzip();
            report.publish_calls += 1;
            let outcome = publisher.publish_batch(&batch).await;
            for (n, (f, a)) in tags.iter().enumerate() {
                let result = match &outcome {
                    Ok(per_message) => per_message
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| Err("no result for this message".to_owned())),
                    Err(e) => Err(e.to_string()),
                };
                results.insert((*f, *a), result);
            }
        }
    }

    // Record each claimed firing's outcome.
    for (f, claim) in claimed.iter().enumerate() {
        let mut done = claim.clone();
        let mut error: Option<&str> = None;
        for ((_, a), result) in results.range((f, 0)..(f + 1, 0)) {
            match result {
                Ok(id) => {
                    report.messages += 1;
                    done.deliveries.push(Delivery {
                        action: *a,
                        message_id: id.clone(),
                    });
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        done.in_flight.clear();
        done.claimed_at = None;
        done.status = FiringStatus::Sent;
        if let Some(error) = error {
            done.status = FiringStatus::Failed;
            // Marked failed only once its dead letter is out, so none is failed unseen; if
            // the queue is down too, the firing waits and the next attempt ends here again.
            let given_up = done.attempts >= MAX_ATTEMPTS
                && match failed.send(&done, error).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "failed-firings queue unavailable");
                        false
                    }
                };
            if !given_up {
                done.status = FiringStatus::Pending;
                done.retry_at = Some(now + backoff(done.attempts));
            }
        }
        match done.status {
            FiringStatus::Sent => report.sent += 1,
            FiringStatus::Failed => report.failed += 1,
            _ => report.retrying += 1,
        }
        store.replace_firing(claim, &done).await?;
    }
    Ok(report)
}

fn message(
    destination: Destination,
    record: &FiringRecord,
    plan: &Plan,
    action: &Action,
    notice: Notice,
) -> OutgoingMessage {
    let d = &record.decision;
    // Routing facts only: no customer id, no amounts. A team subscribes to its own work with
    // a filter policy on `owner` (SPEC §8.2).
    let mut attributes = vec![
        ("tenant_id".to_owned(), d.tenant_id.to_string()),
        ("automation_id".to_owned(), d.automation_id.to_string()),
        ("threshold_days".to_owned(), d.threshold_days.to_string()),
        ("step".to_owned(), d.step_name().into_owned()),
    ];
    // Commands name their action `action` (SPEC §8.5), the other topics `action_type`.
    let action_name = if action.is_command() {
        "action"
    } else {
        "action_type"
    };
    attributes.push((action_name.to_owned(), action.type_name().to_owned()));
    if let Some(owner) = &plan.owner {
        attributes.push(("owner".to_owned(), owner.clone()));
    }
    OutgoingMessage {
        destination,
        id: String::new(),
        subject: notice.subject,
        body: notice.body,
        summary: notice.summary,
        attributes,
    }
}

/// Publishes one alert per guardrail hold to the alerts destination.
pub async fn publish_guardrail_alerts<P: ActionPublisher>(
    publisher: &P,
    holds: &[GuardrailHold],
) -> Result<usize, ExecuteError> {
    let messages: Vec<OutgoingMessage> = holds
        .iter()
        .enumerate()
        .map(|(n, h)| OutgoingMessage {
            destination: Destination::Alerts,
            id: n.to_string(),
            subject: format!("RuleKit guardrail held firings of automation {}", h.automation_id),
            summary: format!(
                "Automation {} of tenant {} would have fired for {} of {} past-due customers on {}. \
                 The firings are held: release or discard them.",
                h.automation_id, h.tenant_id, h.firings, h.past_due_customers, h.date
            ),
            body: json!({
                "type": "guardrail.held",
                "tenant_id": h.tenant_id,
                "automation_id": h.automation_id,
                "date": h.date,
                "firings": h.firings,
                "past_due_customers": h.past_due_customers,
            }),
            attributes: vec![
                ("tenant_id".to_owned(), h.tenant_id.to_string()),
                ("automation_id".to_owned(), h.automation_id.to_string()),
                ("alert_type".to_owned(), "guardrail_held".to_owned()),
            ],
        })
        .collect();
    for chunk in messages.chunks(P::MAX_BATCH) {
        publisher.publish_batch(chunk).await?;
    }
    Ok(messages.len())
}
